package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/webhook"
	"github.com/gpfed/gpfed/jobs"
	"github.com/gpfed/gpfed/queue"
	"github.com/gpfed/gpfed/worker"
)

// Wiring for task and notification delivery: the waker every process that
// commits deliveries uses, the worker's engine and sweeper, and the
// scheduler's leader-only maintenance and notification jobs.

// notifySchedule is how often the leader looks for overdue tasks, failed or
// stale syncs and low capacity (each notification is coalesced, so the
// frequency only bounds how late one can be).
const notifySchedule = "@every 5m"

// retentionSchedule is how often the leader blanks the patient data of
// tasks past GPFED_TASK_RETENTION (so a task keeps it at most an hour
// longer than the setting says).
const retentionSchedule = "@every 1h"

// deliveryConfig is the engine's configuration from the environment.
func deliveryConfig(app *App) worker.DeliveryConfig {
	d := app.Cfg.Delivery
	return worker.DeliveryConfig{
		HTTPClient:      webhook.NewClientFor(app.Cfg.Tasks.WebhookTimeout, webhookPolicy(app)),
		Secrets:         keyring(app),
		WebhookTimeout:  app.Cfg.Tasks.WebhookTimeout,
		BatchSize:       d.Batch,
		MaxInFlight:     d.MaxInFlight,
		DrainTimeout:    app.Cfg.Worker.ShutdownTimeout,
		EndpointCap:     d.EndpointMaxInFlight,
		Retry:           worker.RetryPolicy{Base: d.RetryBase, Max: d.RetryMax},
		NotificationTTL: app.Cfg.Tasks.MaxAge,
		Breaker: store.BreakerPolicy{FailuresToOpen: d.FailuresToOpen, ProbeMin: d.ProbeMin, ProbeMax: d.ProbeMax,
			NotifyEvery: time.Hour},
	}
}

// claimTimeout is asynq's timeout for one claim-and-deliver run: the
// engine's lease (the webhook timeout plus 20s) plus room to record.
func claimTimeout(app *App) time.Duration { return app.Cfg.Tasks.WebhookTimeout + 30*time.Second }

// newWaker builds the waker every committing process shares.
func newWaker(app *App, client *asynq.Client) *queue.Waker {
	return queue.NewWaker(client, claimTimeout(app), app.Log)
}

// newDelivery builds a worker's sweeper and engine around waker.
func newDelivery(app *App, db *store.DB, waker *queue.Waker) (*worker.Engine, *queue.Sweeper, error) {
	host, _ := os.Hostname()
	sweeper := queue.NewSweeper(db, waker, queue.SweeperConfig{EndpointCap: app.Cfg.Delivery.EndpointMaxInFlight,
		Name: fmt.Sprintf("%s-%d", host, os.Getpid())}, app.Log)
	engine, err := worker.NewEngine(db, waker, sweeper, deliveryConfig(app), app.Log)
	if err != nil {
		return nil, nil, err
	}
	return engine, sweeper, nil
}

// newNotifier builds the notifier for sync and capacity notifications.
func newNotifier(app *App, db *store.DB) *jobs.Notifier {
	loc, _ := time.LoadLocation(app.Cfg.Sync.TimeZone)
	return jobs.NewNotifier(db, jobs.NotifierConfig{Location: loc, StaleAfter: app.Cfg.Sync.StaleAfter,
		LowCapacityDays: app.Cfg.Tasks.LowCapacityDays, NotificationTTL: app.Cfg.Tasks.MaxAge}, app.Log)
}

// scheduleDeliveryJobs adds leader-only delivery jobs (queue maintenance,
// overdue and capacity notifications, retention) to the scheduler's cron.
// A run still going when the next is due is skipped rather than overlapped.
func scheduleDeliveryJobs(ctx context.Context, c *cron.Cron, leader *jobs.Leader, app *App, db *store.DB) error {
	log := app.Log.With("component", "scheduler")
	maint := jobs.NewDeliveryMaintenance(db, jobs.MaintenanceConfig{NotificationTTL: app.Cfg.Tasks.MaxAge}, app.Log)
	notifier := newNotifier(app, db)
	retention := jobs.NewRetention(db, jobs.RetentionConfig{Tasks: app.Cfg.Tasks.Retention, Bookings: app.Cfg.Booking.Retention,
		History: app.Cfg.Tasks.HistoryRetention, Audit: app.Cfg.Security.AuditRetention}, app.Log)
	add := func(spec, name string, run func() error) error {
		return addLeaderJob(ctx, c, leader, log, spec, name, run)
	}
	if err := add(app.Cfg.Tasks.ReconcileSchedule, "delivery queue maintenance", func() error {
		_, err := maint.RunOnce(ctx)
		return err
	}); err != nil {
		return fmt.Errorf("GPFED_RECONCILE_SCHEDULE: %w", err)
	}
	if err := add(notifySchedule, "notification checks", func() error {
		_, err := notifier.RunOnce(ctx)
		return err
	}); err != nil {
		return err
	}
	return add(retentionSchedule, "retention", func() error {
		_, err := retention.RunOnce(ctx)
		return err
	})
}

// addLeaderJob schedules run on spec, run only by the scheduler that holds
// the leader lock. A run still going when the next is due is skipped
// rather than overlapped; failures are logged under name.
func addLeaderJob(ctx context.Context, c *cron.Cron, leader *jobs.Leader, log *slog.Logger, spec, name string, run func() error) error {
	single := cron.NewChain(cron.SkipIfStillRunning(cron.DiscardLogger))
	_, err := c.AddJob(spec, single.Then(cron.FuncJob(func() {
		if !leader.IsLeader() {
			return
		}
		if err := run(); err != nil && ctx.Err() == nil {
			log.Error(name+" failed", "error", err)
		}
	})))
	if err != nil {
		return fmt.Errorf("schedule %s %q: %w", name, spec, err)
	}
	return nil
}
