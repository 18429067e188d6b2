package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// Retention keeps the database to what a federation needs: it blanks the
// patient data of tasks that finished longer than Retention ago
// (store.RedactFinishedTasks), and deletes slot change history and
// finished notifications older than History (store.PruneHistory). The
// scheduler's leader runs it hourly; a zero duration turns that part off.
type Retention struct {
	DB        *store.DB
	Log       *slog.Logger
	Retention time.Duration
	History   time.Duration
	Batch     int // rows per statement (default 500)
	Now       func() time.Time
}

// RetentionReport counts what one run changed.
type RetentionReport struct {
	TasksRedacted, SlotChangesDeleted, NotificationsDeleted int
}

// RunOnce does everything that is due, a batch per statement.
func (r *Retention) RunOnce(ctx context.Context) (RetentionReport, error) {
	var rep RetentionReport
	now, batch := time.Now, r.Batch
	if r.Now != nil {
		now = r.Now
	}
	if batch <= 0 {
		batch = 500
	}
	if r.Retention > 0 {
		cutoff := now().Add(-r.Retention)
		for {
			n, err := r.DB.RedactFinishedTasks(ctx, cutoff, batch)
			rep.TasksRedacted += n
			if err != nil {
				return rep, err
			}
			if n < batch || ctx.Err() != nil {
				break
			}
		}
	}
	if r.History > 0 {
		cutoff := now().Add(-r.History)
		for {
			c, n, err := r.DB.PruneHistory(ctx, cutoff, batch)
			rep.SlotChangesDeleted += c
			rep.NotificationsDeleted += n
			if err != nil {
				return rep, err
			}
			if (c < batch && n < batch) || ctx.Err() != nil {
				break
			}
		}
	}
	if rep != (RetentionReport{}) && r.Log != nil {
		r.Log.Info("retention", "component", "scheduler", "tasks_redacted", rep.TasksRedacted,
			"slot_changes_deleted", rep.SlotChangesDeleted, "notifications_deleted", rep.NotificationsDeleted)
	}
	return rep, nil
}
