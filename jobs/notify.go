package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// Notifier creates the notifications no single event triggers: overdue
// tasks, failed and stale capacity syncs, and low free capacity. Each kind
// carries a coalesce key (task.overdue:<task>, sync.failed:<ODS>:<run>,
// sync.stale:<ODS>:<date>, capacity.low:<ODS>:<date>), so running it as often
// as wanted creates each notification once; they then travel the same
// durable outbox path as everything else. Leader-only by convention.
type Notifier struct {
	DB  *store.DB
	Log *slog.Logger
	// Location fixes "today" for due dates and the once-a-day keys (Europe/London).
	Location *time.Location
	// StaleAfter: a practice without a successful sync for this long is stale.
	StaleAfter time.Duration
	// LowCapacityDays is N in "free capacity for the next N days".
	LowCapacityDays int
	// NotificationTTL is the maximum age of the notifications it creates.
	NotificationTTL time.Duration
	Batch           int // overdue tasks per transaction (default 500)
	Now             func() time.Time
}

// NotifyReport counts the notifications one run created.
type NotifyReport struct {
	Overdue, SyncFailed, SyncStale, CapacityLow int
}

func (n *Notifier) defaults() {
	if n.Location == nil {
		n.Location = time.UTC
	}
	if n.StaleAfter <= 0 {
		n.StaleAfter = 36 * time.Hour
	}
	if n.LowCapacityDays <= 0 {
		n.LowCapacityDays = 7
	}
	if n.Batch <= 0 {
		n.Batch = 500
	}
	if n.Now == nil {
		n.Now = time.Now
	}
	if n.Log == nil {
		n.Log = slog.New(slog.DiscardHandler)
	}
}

// today is the local calendar date as YYYY-MM-DD.
func (n *Notifier) today() string { return n.Now().In(n.Location).Format(time.DateOnly) }

// RunOnce runs every check; one failing check does not stop the others.
func (n *Notifier) RunOnce(ctx context.Context) (NotifyReport, error) {
	n.defaults()
	var rep NotifyReport
	var errs []error
	for _, step := range []struct {
		name string
		run  func(context.Context) (int, error)
		into *int
	}{
		{"overdue", n.Overdue, &rep.Overdue},
		{"sync_failed", n.SyncFailures, &rep.SyncFailed},
		{"sync_stale", n.Stale, &rep.SyncStale},
		{"capacity_low", n.LowCapacity, &rep.CapacityLow},
	} {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		c, err := step.run(ctx)
		*step.into = c
		if err != nil {
			errs = append(errs, fmt.Errorf("notify %s: %w", step.name, err))
		}
	}
	if rep != (NotifyReport{}) {
		n.Log.Info("notifications created", "component", "notify", "overdue", rep.Overdue,
			"sync_failed", rep.SyncFailed, "sync_stale", rep.SyncStale, "capacity_low", rep.CapacityLow)
	}
	return rep, errors.Join(errs...)
}

// Overdue notifies senders of tasks whose due date has passed without an ack.
func (n *Notifier) Overdue(ctx context.Context) (int, error) {
	n.defaults()
	return inBatches(ctx, n.Batch, func() (int, error) {
		return n.DB.NotifyOverdueTasks(ctx, n.today(), n.NotificationTTL, n.Batch)
	})
}

// SyncFailures notifies practices whose latest capacity fetch failed.
func (n *Notifier) SyncFailures(ctx context.Context) (int, error) {
	n.defaults()
	return n.DB.NotifySyncFailures(ctx, n.NotificationTTL)
}

// Stale notifies practices without a successful sync for StaleAfter.
func (n *Notifier) Stale(ctx context.Context) (int, error) {
	n.defaults()
	return n.DB.NotifyStaleSync(ctx, n.Now(), n.StaleAfter, n.today(), n.NotificationTTL)
}

// LowCapacity notifies practices whose free minutes over the next
// LowCapacityDays days are below their threshold.
func (n *Notifier) LowCapacity(ctx context.Context) (int, error) {
	n.defaults()
	return n.DB.NotifyLowCapacity(ctx, n.today(), n.LowCapacityDays, n.NotificationTTL)
}
