package jobs

import (
	"cmp"
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
// durable delivery queue as everything else. The scheduler's leader runs
// RunOnce; workers call SyncFailures and LowCapacity when a sync run ends,
// possibly from several handlers at once: a Notifier is never written
// after NewNotifier, so that is safe.
type Notifier struct {
	db  *store.DB
	log *slog.Logger
	cfg NotifierConfig
}

// NotifierConfig configures a Notifier; zero fields take the defaults.
type NotifierConfig struct {
	// Location fixes "today" for due dates and the once-a-day keys (default UTC).
	Location *time.Location
	// StaleAfter: a practice without a successful sync for this long is stale (default 36h).
	StaleAfter time.Duration
	// LowCapacityDays is N in "free capacity for the next N days" (default 7).
	LowCapacityDays int
	// NotificationTTL is the maximum age of the notifications it creates (default 24h).
	NotificationTTL time.Duration
	Batch           int // overdue tasks per transaction (default 500)
	Now             func() time.Time
}

// NewNotifier returns a Notifier with cfg's defaults filled in.
func NewNotifier(db *store.DB, cfg NotifierConfig, log *slog.Logger) *Notifier {
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	cfg.StaleAfter = cmp.Or(max(cfg.StaleAfter, 0), 36*time.Hour)
	cfg.LowCapacityDays = cmp.Or(max(cfg.LowCapacityDays, 0), 7)
	cfg.NotificationTTL = cmp.Or(max(cfg.NotificationTTL, 0), 24*time.Hour)
	cfg.Batch = cmp.Or(max(cfg.Batch, 0), 500)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{db: db, log: log.With("component", "notify"), cfg: cfg}
}

// NotifyReport counts the notifications one run created.
type NotifyReport struct {
	Overdue, SyncFailed, SyncStale, CapacityLow int
}

// today is the local calendar date as YYYY-MM-DD.
func (n *Notifier) today() string { return n.cfg.Now().In(n.cfg.Location).Format(time.DateOnly) }

// RunOnce runs every check; one failing check does not stop the others.
func (n *Notifier) RunOnce(ctx context.Context) (NotifyReport, error) {
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
		n.log.Info("notifications created", "overdue", rep.Overdue,
			"sync_failed", rep.SyncFailed, "sync_stale", rep.SyncStale, "capacity_low", rep.CapacityLow)
	}
	return rep, errors.Join(errs...)
}

// Overdue notifies senders of tasks whose due date has passed without an ack.
func (n *Notifier) Overdue(ctx context.Context) (int, error) {
	return inBatches(ctx, n.cfg.Batch, func() (int, error) {
		return n.db.NotifyOverdueTasks(ctx, n.today(), n.cfg.NotificationTTL, n.cfg.Batch)
	})
}

// SyncFailures notifies practices whose latest capacity fetch failed.
func (n *Notifier) SyncFailures(ctx context.Context) (int, error) {
	return n.db.NotifySyncFailures(ctx, n.cfg.NotificationTTL)
}

// Stale notifies practices without a successful sync for StaleAfter.
func (n *Notifier) Stale(ctx context.Context) (int, error) {
	return n.db.NotifyStaleSync(ctx, n.cfg.Now(), n.cfg.StaleAfter, n.today(), n.cfg.NotificationTTL)
}

// LowCapacity notifies practices whose free minutes over the next
// LowCapacityDays days are below their threshold.
func (n *Notifier) LowCapacity(ctx context.Context) (int, error) {
	return n.db.NotifyLowCapacity(ctx, n.today(), n.cfg.LowCapacityDays, n.cfg.NotificationTTL)
}
