package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// Retention blanks the patient data of tasks that finished longer than
// Retention ago (store.RedactFinishedTasks). The scheduler's leader runs it
// hourly; Retention 0 turns it off.
type Retention struct {
	DB        *store.DB
	Log       *slog.Logger
	Retention time.Duration
	Batch     int // tasks per statement (default 500)
	Now       func() time.Time
}

// RunOnce redacts every task past retention, a batch per statement, and
// returns how many it redacted.
func (r *Retention) RunOnce(ctx context.Context) (int, error) {
	if r.Retention <= 0 {
		return 0, nil
	}
	now, batch := time.Now, r.Batch
	if r.Now != nil {
		now = r.Now
	}
	if batch <= 0 {
		batch = 500
	}
	cutoff := now().Add(-r.Retention)
	total := 0
	for {
		n, err := r.DB.RedactFinishedTasks(ctx, cutoff, batch)
		total += n
		if err != nil {
			return total, err
		}
		if n < batch || ctx.Err() != nil {
			break
		}
	}
	if total > 0 && r.Log != nil {
		r.Log.Info("retention: redacted finished tasks", "component", "scheduler", "tasks", total,
			"finished_before", cutoff.UTC().Format(time.RFC3339))
	}
	return total, nil
}
