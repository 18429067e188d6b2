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
	tuneFetchGC(app)
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
	g := service.Group{Log: app.Log}
	defer g.Stop()
	mux, err := workerMux(ctx, &g, app, c.DB, engine)
	if err != nil {
		return err
	}
	startWorkerServices(ctx, &g, app, engine, sweeper, true)
	if err := startWorkerQueues(ctx, &g, app, c.Redis, mux); err != nil {
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
// cancels and, with engine, delivery claims. It starts in g what the
// handlers depend on (the snapshot saver), so start the queue server after.
func workerMux(ctx context.Context, g *service.Group, app *App, db *store.DB, engine *worker.Engine) (*asynq.ServeMux, error) {
	gpc, err := newGPConnectClient(app)
	if err != nil {
		return nil, err
	}
	fetch, err := fetchDeps(app)
	if err != nil {
		return nil, err
	}
	fetch.Saver = worker.NewSnapshotSaver(db, app.Log)
	processSaver.Store(fetch.Saver)
	g.Start(ctx, "snapshot saver", fetch.Saver.Run)
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
		Fetch:    fetch,
	}), nil
}

// startWorkerQueues starts the worker's two asynq servers: deliveries and
// bookings at GPFED_WORKER_CONCURRENCY, and capacity fetches at
// GPFED_SYNC_CONCURRENCY (a fetch holds no connection while it waits on a
// provider, so many more can be in progress; the GP Connect client's
// adaptive limit and byte budget bound the real work). Either failing to
// start fails the worker: it serves all its queues or none.
func startWorkerQueues(ctx context.Context, g *service.Group, app *App, redis asynq.RedisConnOpt, mux *asynq.ServeMux) error {
	others := map[string]int{}
	for name, weight := range queue.Queues {
		if name != queue.QueueCapacity {
			others[name] = weight
		}
	}
	if err := startQueueServer(ctx, g, app, redis, mux, "delivery", others, app.Cfg.Worker.Concurrency); err != nil {
		return err
	}
	return startQueueServer(ctx, g, app, redis, mux, "capacity", map[string]int{queue.QueueCapacity: 1}, app.Cfg.Sync.Concurrency)
}

// startQueueServer starts an asynq server on queues and adds it to g; when
// g stops it, it stops taking tasks, lets in-flight ones finish (or hands
// them back after the shutdown timeout) and closes.
func startQueueServer(ctx context.Context, g *service.Group, app *App, redis asynq.RedisConnOpt, mux *asynq.ServeMux,
	name string, queues map[string]int, concurrency int) error {
	srv := worker.NewServer(redis, concurrency, app.Cfg.Worker.ShutdownTimeout, app.Log, queues)
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start %s queue server: %w", name, err)
	}
	log := app.Log.With("component", "worker", "queues", name)
	log.Info("worker started", "concurrency", concurrency)
	g.Start(ctx, name+" queue server", func(sctx context.Context) {
		<-sctx.Done()
		srv.Stop()
		done := make(chan struct{})
		go func() { srv.Shutdown(); close(done) }()
		select {
		case <-done:
		case <-time.After(app.Cfg.Worker.ShutdownTimeout + 5*time.Second):
			log.Warn("worker shutdown timed out")
		}
		log.Info("worker stopped")
	})
	return nil
}
