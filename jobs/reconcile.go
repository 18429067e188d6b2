package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// DeliveryMaintenance keeps the delivery queue honest from the leader: it
// fails tasks and notifications that exceeded their maximum age while no
// delivery claimed them (an endpoint whose circuit stayed open, say), and
// gives any open item without a queue row one (store.RepairQueue, at its
// first run and then at most once per RepairEvery: it reads every task).
// Lost asynq entries need nothing here: the schedule lives in Postgres and
// every worker's sweeper wakes a worker for whatever is due.
type DeliveryMaintenance struct {
	db  *store.DB
	log *slog.Logger
	cfg MaintenanceConfig

	mu         sync.Mutex
	lastRepair time.Time
}

// MaintenanceConfig configures DeliveryMaintenance.
type MaintenanceConfig struct {
	// Batch bounds each expiry statement (default 500).
	Batch int
	// NotificationTTL is the maximum age of the task.failed notifications expiry creates (default 24h).
	NotificationTTL time.Duration
	// RepairEvery spaces the queue repairs (default 1h). A repair reads the
	// whole tasks and notifications tables: what is open has no index of its
	// own beside delivery_queue (migration 0070), and a missing queue row
	// only follows a manual change to the database.
	RepairEvery time.Duration
}

// NewDeliveryMaintenance returns the job with cfg's defaults filled in.
func NewDeliveryMaintenance(db *store.DB, cfg MaintenanceConfig, log *slog.Logger) *DeliveryMaintenance {
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.NotificationTTL <= 0 {
		cfg.NotificationTTL = 24 * time.Hour
	}
	if cfg.RepairEvery <= 0 {
		cfg.RepairEvery = time.Hour
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DeliveryMaintenance{db: db, log: log.With("component", "reconcile"), cfg: cfg}
}

// MaintenanceReport counts what one run did.
type MaintenanceReport struct {
	ExpiredTasks, ExpiredNotifications, Repaired int
}

// RunOnce expires what is past its age, then repairs missing queue rows
// when the last repair is RepairEvery old.
func (m *DeliveryMaintenance) RunOnce(ctx context.Context) (MaintenanceReport, error) {
	var rep MaintenanceReport
	_, err := inBatches(ctx, m.cfg.Batch, func() (int, error) {
		t, n, err := m.db.ExpireDeliveries(ctx, m.cfg.Batch, m.cfg.NotificationTTL)
		rep.ExpiredTasks += t
		rep.ExpiredNotifications += n
		return max(t, n), err
	})
	if err != nil {
		return rep, fmt.Errorf("expire deliveries: %w", err)
	}
	if m.repairDue() {
		if rep.Repaired, err = m.db.RepairQueue(ctx); err != nil {
			return rep, err
		}
	}
	if rep != (MaintenanceReport{}) {
		m.log.Info("delivery queue maintained", "expired_tasks", rep.ExpiredTasks,
			"expired_notifications", rep.ExpiredNotifications, "repaired", rep.Repaired)
	}
	return rep, nil
}

// repairDue reports whether a queue repair is due, and if so counts it as done.
func (m *DeliveryMaintenance) repairDue() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.lastRepair.IsZero() && time.Since(m.lastRepair) < m.cfg.RepairEvery {
		return false
	}
	m.lastRepair = time.Now()
	return true
}
