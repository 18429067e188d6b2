package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
)

// DeliveryReconciler repairs the queue from Postgres, the source of truth.
// Redis keeps nothing across a restart, so an accepted task or pending
// notification whose outbox row was relayed may have lost its queue entry;
// the reconciler finds those (older than Grace, no outbox row, no live asynq
// entry under its TaskID) and enqueues them again, and fails whatever
// exceeded its maximum age. The TaskID keeps every item single however
// often it is re-enqueued. Leader-only: the scheduler guards RunOnce with
// Leader.IsLeader.
//
// It enqueues through a fresh asynq client per run, not a long-lived one:
// an asynq client registers a queue in Redis's queue set only on its first
// enqueue to it, so after a flush a long-lived client's entries are
// invisible to the Inspector (ErrQueueNotFound) although workers process
// them. A fresh client re-registers the queue; an entry that was there all
// along then answers ErrTaskIDConflict and counts as alive. When Redis
// refuses, the item gets an outbox row instead and the relay retries it.
type DeliveryReconciler struct {
	DB        *store.DB
	Inspector *asynq.Inspector
	Redis     asynq.RedisConnOpt
	// TaskTimeout is asynq's per-attempt timeout for re-enqueued entries.
	TaskTimeout time.Duration
	Log         *slog.Logger
	// Grace leaves freshly relayed items alone (default 30s).
	Grace time.Duration
	// Batch bounds each query (default 500).
	Batch int
	// NotificationTTL is the maximum age of task.failed notifications it creates.
	NotificationTTL time.Duration
	Now             func() time.Time
}

// ReconcileReport counts what one run did.
type ReconcileReport struct {
	Checked, Requeued, ExpiredTasks, ExpiredNotifications int
}

func (r *DeliveryReconciler) defaults() {
	if r.Grace <= 0 {
		r.Grace = 30 * time.Second
	}
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

// RunOnce expires overdue deliveries, then re-enqueues lost ones.
func (r *DeliveryReconciler) RunOnce(ctx context.Context) (ReconcileReport, error) {
	r.defaults()
	var rep ReconcileReport
	var err error
	if rep.ExpiredTasks, rep.ExpiredNotifications, err = r.expire(ctx); err != nil {
		return rep, err
	}
	if err := r.requeueLost(ctx, &rep); err != nil {
		return rep, err
	}
	if rep.Requeued+rep.ExpiredTasks+rep.ExpiredNotifications > 0 {
		r.Log.Info("delivery reconciled", "component", "reconcile", "checked", rep.Checked, "requeued", rep.Requeued,
			"expired_tasks", rep.ExpiredTasks, "expired_notifications", rep.ExpiredNotifications)
	}
	return rep, nil
}

func (r *DeliveryReconciler) expire(ctx context.Context) (tasks, notes int, err error) {
	opt := store.DeliveryOptions{Now: r.Now(), NotificationTTL: r.NotificationTTL}
	tasks, err = inBatches(ctx, r.Batch, func() (int, error) { return r.DB.ExpireTasks(ctx, opt, r.Batch) })
	if err != nil {
		return tasks, 0, fmt.Errorf("reconcile: %w", err)
	}
	notes, err = r.DB.ExpireNotifications(ctx, opt.Now)
	if err != nil {
		return tasks, notes, fmt.Errorf("reconcile: %w", err)
	}
	return tasks, notes, nil
}

func (r *DeliveryReconciler) requeueLost(ctx context.Context, rep *ReconcileReport) error {
	client := asynq.NewClient(r.Redis)
	defer client.Close()
	now := r.Now()
	var afterAt time.Time
	var afterID uuid.UUID
	for {
		open, err := r.DB.UnqueuedDeliveries(ctx, now.Add(-r.Grace), now, afterAt, afterID, r.Batch)
		if err != nil {
			return fmt.Errorf("reconcile: %w", err)
		}
		for _, d := range open {
			if err := ctx.Err(); err != nil {
				return err
			}
			rep.Checked++
			lost, err := r.lost(d)
			if err != nil {
				return fmt.Errorf("reconcile: %w", err)
			}
			if !lost {
				continue
			}
			requeued, err := r.requeue(ctx, client, d)
			if err != nil {
				return fmt.Errorf("reconcile: %w", err)
			}
			if requeued {
				rep.Requeued++
			}
		}
		if len(open) < r.Batch {
			return nil
		}
		afterAt, afterID = open[len(open)-1].CreatedAt, open[len(open)-1].ID
	}
}

// lost reports whether d has no live queue entry. A finished (completed or
// archived) entry for an item that is still open is deleted so that the
// TaskID is free for the new entry.
func (r *DeliveryReconciler) lost(d store.OpenDelivery) (bool, error) {
	qname, id := queue.DeliveryQueue(d.Kind), queue.DeliveryTaskID(d.Kind, d.ID)
	info, err := r.Inspector.GetTaskInfo(qname, id)
	switch {
	case errors.Is(err, asynq.ErrQueueNotFound), errors.Is(err, asynq.ErrTaskNotFound):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("inspect %s: %w", id, err)
	}
	if info.State != asynq.TaskStateCompleted && info.State != asynq.TaskStateArchived {
		return false, nil
	}
	if err := r.Inspector.DeleteTask(qname, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return false, fmt.Errorf("delete finished entry %s: %w", id, err)
	}
	return true, nil
}

// requeue enqueues d again. It reports false when the entry turned out to
// be there after all (TaskID conflict). If Redis refuses, d gets an outbox
// row so the relay keeps trying.
func (r *DeliveryReconciler) requeue(ctx context.Context, c *asynq.Client, d store.OpenDelivery) (bool, error) {
	t, err := queue.NewDeliveryTask(d.Kind, d.ID, r.TaskTimeout)
	if err != nil {
		return false, err
	}
	_, err = c.EnqueueContext(ctx, t)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return false, nil
	}
	r.Log.Warn("re-enqueue failed; leaving it to the relay", "component", "reconcile", "kind", d.Kind,
		"id", d.ID.String(), "error", err)
	if _, err := r.DB.RequeueDelivery(ctx, d.Kind, d.ID); err != nil {
		return false, err
	}
	return true, nil
}
