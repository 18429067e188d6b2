package main

import (
	"context"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/jobs"
	"github.com/gpfed/gpfed/worker"
)

// Wiring for task and notification delivery (issue 3). Placeholders until
// delivery lands: the outbox relay, the worker's delivery deps, and the
// leader-only reconciliation jobs.

// startRelay starts the outbox relay in the background; the returned func stops it.
func startRelay(ctx context.Context, app *App, db *store.DB, client *asynq.Client) func() {
	return func() {}
}

// deliveryDeps builds the worker's delivery handler dependencies.
func deliveryDeps(app *App, db *store.DB) worker.DeliveryDeps { return worker.DeliveryDeps{} }

// scheduleDeliveryJobs adds leader-only delivery jobs (reconciliation,
// overdue and capacity notifications) to the scheduler's cron.
func scheduleDeliveryJobs(ctx context.Context, c *cron.Cron, leader *jobs.Leader, app *App, db *store.DB, client *asynq.Client, inspector *asynq.Inspector) error {
	return nil
}
