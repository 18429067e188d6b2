package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/jobs"
	"github.com/gpfed/gpfed/worker"
)

func init() {
	register("worker", "run a queue worker (capacity fetches, task and notification delivery)", runWorker)
}

func runWorker(ctx context.Context, app *App, args []string) error {
	if len(args) > 0 {
		return usagef("worker takes no arguments (concurrency: GPFED_WORKER_CONCURRENCY)")
	}
	c, err := connect(ctx, app)
	if err != nil {
		return err
	}
	defer c.Close()
	db, redis, client := c.DB, c.Redis, c.Client
	mux, waitFast, err := workerMuxEnqueuing(ctx, app, db, client)
	if err != nil {
		return err
	}
	defer waitFast()
	stopRelay := startRelay(ctx, app, db, client)
	defer stopRelay()
	defer startMetrics(ctx, app)()
	return serveWorkerQueues(ctx, app, redis, mux)
}

// workerMux builds the handler mux with every handler group wired; the
// notifications a delivery creates go through the outbox relay.
func workerMux(app *App, db *store.DB) (*asynq.ServeMux, error) {
	mux, _, err := workerMuxEnqueuing(context.Background(), app, db, nil)
	return mux, err
}

// workerMuxEnqueuing is workerMux whose deliveries send the notifications
// they create on their way themselves, through the fast path and client
// (nil client: the relay does). When ctx ends the fast path stops taking
// work; the returned func waits for it to drain (within the shutdown
// timeout) and must run before the database closes.
func workerMuxEnqueuing(ctx context.Context, app *App, db *store.DB, client *asynq.Client) (*asynq.ServeMux, func(), error) {
	gpc, err := newGPConnectClient(app)
	if err != nil {
		return nil, nil, err
	}
	fetch, err := fetchDeps(app)
	if err != nil {
		return nil, nil, err
	}
	var fast *worker.FastPath
	drained := make(chan struct{})
	if client != nil {
		fast = worker.NewFastPath(app.Cfg.Worker.Concurrency)
		go func() { <-ctx.Done(); fast.Close(app.Cfg.Worker.ShutdownTimeout); close(drained) }()
	} else {
		close(drained)
	}
	loc, _ := time.LoadLocation(app.Cfg.Sync.TimeZone)
	notifier := &jobs.Notifier{DB: db, Log: app.Log, Location: loc, StaleAfter: app.Cfg.Sync.StaleAfter,
		LowCapacityDays: app.Cfg.Tasks.LowCapacityDays, NotificationTTL: app.Cfg.Tasks.MaxAge}
	mux := worker.NewMux(worker.Deps{
		DB:  db,
		Log: app.Log,
		Capacity: worker.CapacityDeps{GPC: gpc, OnRunFinished: func(ctx context.Context, _ store.SyncRun) {
			// Tell practices about failed syncs and low capacity as soon as a run ends,
			// not at the scheduler's next check (notifications coalesce, so both are safe).
			ctx = context.WithoutCancel(ctx)
			if _, err := notifier.SyncFailures(ctx); err != nil {
				app.Log.Error("sync failure notifications", "component", "worker", "error", err)
			}
			if _, err := notifier.LowCapacity(ctx); err != nil {
				app.Log.Error("low capacity notifications", "component", "worker", "error", err)
			}
		}},
		Delivery: deliveryDeps(app, client, fast),
		Fetch:    fetch,
	})
	return mux, func() { <-drained }, nil
}

// serveQueue runs an asynq server until ctx ends, then shuts it down in
// order: stop taking tasks, let in-flight ones finish (or hand them back
// after the shutdown timeout), close.
func serveQueue(ctx context.Context, app *App, redis asynq.RedisConnOpt, mux *asynq.ServeMux, queues map[string]int, concurrency int) error {
	srv := worker.NewServer(redis, concurrency, app.Cfg.Worker.ShutdownTimeout, app.Log, queues)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	app.Log.Info("worker started", "component", "worker", "concurrency", concurrency)
	<-ctx.Done()
	srv.Stop()
	done := make(chan struct{})
	go func() { srv.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(app.Cfg.Worker.ShutdownTimeout + 5*time.Second):
		app.Log.Warn("worker shutdown timed out", "component", "worker")
	}
	app.Log.Info("worker stopped", "component", "worker")
	return nil
}
