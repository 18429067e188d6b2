package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/service"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
	"github.com/gpfed/gpfed/worker"
)

func init() {
	register("worker", "run a queue worker (capacity fetches, task and notification delivery, booking settle and cancel)", runWorker)
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
	if err := checkDeliverySecrets(ctx, app, c.DB); err != nil {
		return err
	}
	engine, sweeper, err := newDelivery(app, c.DB, newWaker(app, c.Client))
	if err != nil {
		return err
	}
	mux, err := workerMux(app, c.DB, engine)
	if err != nil {
		return err
	}
	g := service.Group{Log: app.Log}
	defer g.Stop()
	startWorkerServices(ctx, &g, app, engine, sweeper, true)
	if err := startQueueServer(ctx, &g, app, c.Redis, mux, queue.Queues); err != nil {
		return err
	}
	g.Wait(ctx)
	return nil
}

// startWorkerServices starts what the queue server's handlers depend on.
// Services stop in reverse order, after the queue server (started last):
// its handlers hand their outcomes to the completer, so the completer
// stops last and records them.
func startWorkerServices(ctx context.Context, g *service.Group, app *App, engine *worker.Engine, sweeper *queue.Sweeper, metrics bool) {
	g.Start(ctx, "delivery engine", engine.Run)
	g.Start(ctx, "delivery sweeper", sweeper.Run)
	if metrics {
		g.Start(ctx, "metrics", func(ctx context.Context) {
			stop := startMetrics(ctx, app)
			<-ctx.Done()
			stop()
		})
	}
}

// workerMux builds the handler mux: capacity fetches, booking settles and
// cancels and, with engine, delivery claims.
func workerMux(app *App, db *store.DB, engine *worker.Engine) (*asynq.ServeMux, error) {
	gpc, err := newGPConnectClient(app)
	if err != nil {
		return nil, err
	}
	// Settle and cancel jobs queue nothing themselves.
	bookings, err := newBookingService(app, db, nil)
	if err != nil {
		return nil, err
	}
	notifier := newNotifier(app, db)
	return worker.NewMux(worker.Deps{
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
		Delivery: engine,
		Booking:  worker.BookingDeps{Service: bookings},
	}), nil
}

// startQueueServer starts an asynq server on queues and adds it to g; when
// g stops it, it stops taking tasks, lets in-flight ones finish (or hands
// them back after the shutdown timeout) and closes.
func startQueueServer(ctx context.Context, g *service.Group, app *App, redis asynq.RedisConnOpt, mux *asynq.ServeMux, queues map[string]int) error {
	srv := worker.NewServer(redis, app.Cfg.Worker.Concurrency, app.Cfg.Worker.ShutdownTimeout, app.Log, queues)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	app.Log.Info("worker started", "component", "worker", "concurrency", app.Cfg.Worker.Concurrency)
	g.Start(ctx, "queue server", func(sctx context.Context) {
		<-sctx.Done()
		srv.Stop()
		done := make(chan struct{})
		go func() { srv.Shutdown(); close(done) }()
		select {
		case <-done:
		case <-time.After(app.Cfg.Worker.ShutdownTimeout + 5*time.Second):
			app.Log.Warn("worker shutdown timed out", "component", "worker")
		}
		app.Log.Info("worker stopped", "component", "worker")
	})
	return nil
}
