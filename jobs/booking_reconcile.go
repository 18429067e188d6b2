package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/booking"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
)

// BookingReconciler puts back booking work whose queue entry was lost
// (Redis flushed or restarted): Postgres says which bookings are open, the
// queue only carries them. It also finishes booking requests that died
// mid-way (the API process was killed between claiming a slot and recording
// the practice's answer). The scheduler's leader runs it.
type BookingReconciler struct {
	DB        *store.DB
	Inspector *asynq.Inspector // nil: every open booking is enqueued (TaskIDs keep them single)
	Queue     booking.Queue
	Log       *slog.Logger
	// Grace leaves bookings changed this recently to the process that
	// changed them (it enqueues right after its commit). Default 30s.
	Grace time.Duration
	// Interrupted is how long a booking may stay pending before it counts
	// as interrupted: longer than any booking request takes. Default 5m.
	Interrupted time.Duration
	Batch       int // bookings per run (default 500)
	Now         func() time.Time
}

// BookingReconcileReport counts what a run did.
type BookingReconcileReport struct{ Requeued, Interrupted int }

// RunOnce requeues open bookings without a live queue entry and settles
// interrupted ones.
func (r *BookingReconciler) RunOnce(ctx context.Context) (BookingReconcileReport, error) {
	var rep BookingReconcileReport
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	log := cmp.Or(r.Log, slog.New(slog.DiscardHandler))
	batch := cmp.Or(r.Batch, 500)
	ids, err := r.DB.InterruptedBookings(ctx, now.Add(-cmp.Or(r.Interrupted, 5*time.Minute)), batch)
	if err != nil {
		return rep, err
	}
	for _, id := range ids {
		if err := r.Queue.EnqueueSettle(ctx, id); err != nil {
			return rep, err
		}
		rep.Interrupted++
	}
	open, err := r.DB.OpenBookings(ctx, now.Add(-cmp.Or(r.Grace, 30*time.Second)), batch)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, o := range open {
		ok, err := r.requeue(ctx, o)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			rep.Requeued++
		}
		if ctx.Err() != nil {
			break
		}
	}
	if rep != (BookingReconcileReport{}) {
		log.Warn("booking reconciliation", "component", "scheduler", "requeued", rep.Requeued, "interrupted", rep.Interrupted)
	}
	return rep, errors.Join(errs...)
}

// requeue enqueues an open booking's work when its queue entry is missing
// or dead.
func (r *BookingReconciler) requeue(ctx context.Context, o store.OpenBooking) (bool, error) {
	id := queue.BookingSettleID(o.ID)
	enqueue := func() error { return r.Queue.EnqueueSettle(ctx, o.ID) }
	if o.State == store.BookingCancelRequested {
		id = queue.BookingCancelID(o.ID, o.CancelSeq)
		enqueue = func() error { return r.Queue.EnqueueCancel(ctx, o.ID, o.CancelSeq) }
	}
	if r.Inspector != nil {
		info, err := r.Inspector.GetTaskInfo(queue.QueueBookings, id)
		switch {
		case err == nil && info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted:
			return false, nil // queued, scheduled, retrying or running
		case err == nil:
			if err := r.Inspector.DeleteTask(queue.QueueBookings, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				return false, fmt.Errorf("delete dead task %s: %w", id, err)
			}
		case !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound):
			return false, fmt.Errorf("inspect %s: %w", id, err)
		}
	}
	if err := enqueue(); err != nil {
		return false, err
	}
	return true, nil
}
