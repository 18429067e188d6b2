package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// Retention keeps the database to what a federation needs: it blanks the
// patient data of tasks that finished longer than Tasks ago
// (store.RedactFinishedTasks) and of bookings that finished longer than
// Bookings ago (store.RedactFinishedBookings), deletes slot change history
// and finished notifications older than History (store.PruneHistory), and
// access records older than Audit (store.PruneAccessLog). The scheduler's
// leader runs it hourly; a zero duration turns that part off.
type Retention struct {
	db  *store.DB
	log *slog.Logger
	cfg RetentionConfig
}

// RetentionConfig configures Retention.
type RetentionConfig struct {
	Tasks    time.Duration // finished tasks keep patient data this long (0: forever)
	Bookings time.Duration // finished bookings keep patient data this long (0: forever)
	History  time.Duration // slot history and finished notifications (0: forever)
	Audit    time.Duration // access records (0: forever)
	Batch    int           // rows per statement (default 500)
	Now      func() time.Time
}

// RetentionReport counts what one run changed.
type RetentionReport struct {
	TasksRedacted, BookingsRedacted, SlotChangesDeleted, NotificationsDeleted, AccessRecordsDeleted int
	CapacityHistoryDeleted                                                                          int // practice fetches, each with its days
}

// NewRetention returns a Retention with cfg's defaults filled in.
func NewRetention(db *store.DB, cfg RetentionConfig, log *slog.Logger) *Retention {
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Retention{db: db, log: log.With("component", "retention"), cfg: cfg}
}

// RunOnce does everything that is due, a batch per statement.
func (r *Retention) RunOnce(ctx context.Context) (RetentionReport, error) {
	var rep RetentionReport
	if r.cfg.Tasks > 0 {
		cutoff := r.cfg.Now().Add(-r.cfg.Tasks)
		n, err := inBatches(ctx, r.cfg.Batch, func() (int, error) { return r.db.RedactFinishedTasks(ctx, cutoff, r.cfg.Batch) })
		rep.TasksRedacted = n
		if err != nil {
			return rep, err
		}
	}
	if r.cfg.Bookings > 0 {
		cutoff := r.cfg.Now().Add(-r.cfg.Bookings)
		n, err := inBatches(ctx, r.cfg.Batch, func() (int, error) { return r.db.RedactFinishedBookings(ctx, cutoff, r.cfg.Batch) })
		rep.BookingsRedacted = n
		if err != nil {
			return rep, err
		}
	}
	if r.cfg.History > 0 {
		cutoff := r.cfg.Now().Add(-r.cfg.History)
		_, err := inBatches(ctx, r.cfg.Batch, func() (int, error) {
			c, n, err := r.db.PruneHistory(ctx, cutoff, r.cfg.Batch)
			rep.SlotChangesDeleted += c
			rep.NotificationsDeleted += n
			return max(c, n), err // done once both kinds run short
		})
		if err != nil {
			return rep, err
		}
		n, err := inBatches(ctx, r.cfg.Batch, func() (int, error) { return r.db.PruneCapacityHistory(ctx, cutoff, r.cfg.Batch) })
		rep.CapacityHistoryDeleted = n
		if err != nil {
			return rep, err
		}
	}
	if r.cfg.Audit > 0 {
		cutoff := r.cfg.Now().Add(-r.cfg.Audit)
		n, err := inBatches(ctx, r.cfg.Batch, func() (int, error) { return r.db.PruneAccessLog(ctx, cutoff, r.cfg.Batch) })
		rep.AccessRecordsDeleted = n
		if err != nil {
			return rep, err
		}
	}
	if rep != (RetentionReport{}) {
		r.log.Info("retention", "tasks_redacted", rep.TasksRedacted, "bookings_redacted", rep.BookingsRedacted,
			"slot_changes_deleted", rep.SlotChangesDeleted, "notifications_deleted", rep.NotificationsDeleted,
			"capacity_history_deleted", rep.CapacityHistoryDeleted, "access_records_deleted", rep.AccessRecordsDeleted)
	}
	return rep, nil
}
