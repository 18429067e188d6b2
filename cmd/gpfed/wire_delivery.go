package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/webhook"
	"github.com/gpfed/gpfed/jobs"
	"github.com/gpfed/gpfed/queue"
	"github.com/gpfed/gpfed/worker"
)

// Wiring for task and notification delivery: the outbox relay (run by
// serve and worker; any number may run), the worker's delivery deps, and the
// scheduler's leader-only reconciliation and notification jobs.

// notifySchedule is how often the leader looks for overdue tasks, failed or
// stale syncs and low capacity (each notification is coalesced, so the
// frequency only bounds how late one can be).
const notifySchedule = "@every 5m"

// retentionSchedule is how often the leader blanks the patient data of
// tasks past GPFED_TASK_RETENTION (so a task keeps it at most an hour
// longer than the setting says).
const retentionSchedule = "@every 1h"

// deliveryTaskTimeout is asynq's per-attempt timeout for delivery entries:
// the webhook timeout plus room for the database work.
func deliveryTaskTimeout(app *App) time.Duration {
	return app.Cfg.Tasks.WebhookTimeout + 20*time.Second
}

// startRelay starts the outbox relay in the background; the returned func
// stops it and waits for it to finish.
func startRelay(ctx context.Context, app *App, db *store.DB, client *asynq.Client) func() {
	ctx, cancel := context.WithCancel(ctx)
	r := &queue.Relay{DB: db, Client: client, Log: app.Log, Interval: time.Second, TaskTimeout: deliveryTaskTimeout(app)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.Run(ctx) }()
	return func() { cancel(); wg.Wait() }
}

// deliveryDeps builds the worker's delivery handler dependencies.
func deliveryDeps(app *App, client *asynq.Client, fast *worker.FastPath) worker.DeliveryDeps {
	return worker.DeliveryDeps{
		HTTPClient:      webhook.NewClient(app.Cfg.Tasks.WebhookTimeout),
		WebhookTimeout:  app.Cfg.Tasks.WebhookTimeout,
		NotificationTTL: app.Cfg.Tasks.MaxAge,
		Enqueuer:        client,
		TaskTimeout:     deliveryTaskTimeout(app),
		FastPath:        fast,
	}
}

// scheduleDeliveryJobs adds leader-only delivery jobs (reconciliation,
// overdue and capacity notifications) to the scheduler's cron. A run still
// going when the next is due is skipped rather than overlapped.
func scheduleDeliveryJobs(ctx context.Context, c *cron.Cron, leader *jobs.Leader, app *App, db *store.DB, client *asynq.Client, inspector *asynq.Inspector) error {
	log := app.Log.With("component", "scheduler")
	loc, err := time.LoadLocation(app.Cfg.Sync.TimeZone)
	if err != nil {
		return fmt.Errorf("GPFED_SYNC_TIMEZONE: %w", err)
	}
	redis, err := queue.RedisOpt(app.Cfg.Redis.URL)
	if err != nil {
		return err
	}
	rec := &jobs.DeliveryReconciler{DB: db, Inspector: inspector, Redis: redis, TaskTimeout: deliveryTaskTimeout(app),
		Log: app.Log, NotificationTTL: app.Cfg.Tasks.MaxAge, Grace: app.Cfg.Tasks.ReconcileGrace}
	notifier := &jobs.Notifier{DB: db, Log: app.Log, Location: loc, StaleAfter: app.Cfg.Sync.StaleAfter,
		LowCapacityDays: app.Cfg.Tasks.LowCapacityDays, NotificationTTL: app.Cfg.Tasks.MaxAge}
	single := cron.NewChain(cron.SkipIfStillRunning(cron.DiscardLogger))
	add := func(spec, name string, run func() error) error {
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
	if err := add(app.Cfg.Tasks.ReconcileSchedule, "delivery reconciliation", func() error {
		_, err := rec.RunOnce(ctx)
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
	retention := &jobs.Retention{DB: db, Log: app.Log, Retention: app.Cfg.Tasks.Retention,
		History: app.Cfg.Tasks.HistoryRetention}
	return add(retentionSchedule, "task retention", func() error {
		_, err := retention.RunOnce(ctx)
		return err
	})
}
