package main

import (
	"context"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"github.com/gpfed/gpfed/internal/booking"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/jobs"
	"github.com/gpfed/gpfed/queue"
)

// Wiring for booking: the service serve and worker share, and the
// scheduler's leader-only booking reconciliation and retention.

// newBookingService builds the booking service on its own GP Connect
// client. A nil client leaves follow-up work to the reconciler.
func newBookingService(app *App, db *store.DB, client *asynq.Client) (*booking.Service, error) {
	gpc, err := newGPConnectClient(app)
	if err != nil {
		return nil, err
	}
	var q booking.Queue
	if client != nil {
		q = queue.BookingEnqueuer{Client: client}
	}
	return booking.New(booking.Config{DB: db, GPC: gpc, Queue: q, OrgType: app.Cfg.GPConnect.OrgType,
		RequestTimeout: app.Cfg.Booking.Timeout, MaxAge: app.Cfg.Booking.MaxAge, Log: app.Log})
}

// scheduleBookingJobs adds booking reconciliation (leader only, on
// GPFED_RECONCILE_SCHEDULE) to the scheduler's cron. Finished bookings'
// retention (GPFED_BOOKING_RETENTION) runs with the other retention work.
func scheduleBookingJobs(ctx context.Context, c *cron.Cron, leader *jobs.Leader, app *App, db *store.DB, client *asynq.Client, inspector *asynq.Inspector) error {
	rec := &jobs.BookingReconciler{DB: db, Inspector: inspector, Queue: queue.BookingEnqueuer{Client: client},
		Log: app.Log, Grace: app.Cfg.Booking.ReconcileGrace, Interrupted: 2*app.Cfg.Booking.Timeout + app.Cfg.Booking.ReconcileGrace}
	return addLeaderJob(ctx, c, leader, app.Log.With("component", "scheduler"), app.Cfg.Tasks.ReconcileSchedule,
		"booking reconciliation", func() error { _, err := rec.RunOnce(ctx); return err })
}
