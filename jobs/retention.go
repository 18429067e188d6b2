package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// Retention keeps the database to what a federation needs: it blanks the
// patient data of tasks that finished longer than Retention ago
// (store.RedactFinishedTasks) and of bookings that finished longer than
// Bookings ago (store.RedactFinishedBookings), and deletes slot change
// history and finished notifications older than History
// (store.PruneHistory). The scheduler's leader runs it hourly; a zero
// duration turns that part off.
type Retention struct {
	DB        *store.DB
	Log       *slog.Logger
	Retention time.Duration
	Bookings  time.Duration
	History   time.Duration
	Batch     int // rows per statement (default 500)
	Now       func() time.Time
}

// RetentionReport counts what one run changed.
type RetentionReport struct {
	TasksRedacted, BookingsRedacted, SlotChangesDeleted, NotificationsDeleted int
}

func (r *Retention) defaults() {
	if r.Batch <= 0 {
		r.Batch = 500
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
}

// RunOnce does everything that is due, a batch per statement.
func (r *Retention) RunOnce(ctx context.Context) (RetentionReport, error) {
	r.defaults()
	var rep RetentionReport
	if r.Retention > 0 {
		cutoff := r.Now().Add(-r.Retention)
		n, err := inBatches(ctx, r.Batch, func() (int, error) { return r.DB.RedactFinishedTasks(ctx, cutoff, r.Batch) })
		rep.TasksRedacted = n
		if err != nil {
			return rep, err
		}
	}
	if r.Bookings > 0 {
		cutoff := r.Now().Add(-r.Bookings)
		n, err := inBatches(ctx, r.Batch, func() (int, error) { return r.DB.RedactFinishedBookings(ctx, cutoff, r.Batch) })
		rep.BookingsRedacted = n
		if err != nil {
			return rep, err
		}
	}
	if r.History > 0 {
		cutoff := r.Now().Add(-r.History)
		_, err := inBatches(ctx, r.Batch, func() (int, error) {
			c, n, err := r.DB.PruneHistory(ctx, cutoff, r.Batch)
			rep.SlotChangesDeleted += c
			rep.NotificationsDeleted += n
			return max(c, n), err // done once both kinds run short
		})
		if err != nil {
			return rep, err
		}
	}
	if rep != (RetentionReport{}) {
		r.Log.Info("retention", "component", "scheduler", "tasks_redacted", rep.TasksRedacted,
			"bookings_redacted", rep.BookingsRedacted,
			"slot_changes_deleted", rep.SlotChangesDeleted, "notifications_deleted", rep.NotificationsDeleted)
	}
	return rep, nil
}
