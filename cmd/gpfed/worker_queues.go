package main

import (
	"context"
	"errors"
	"sync"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/queue"
)

// serveWorkerQueues runs the worker's two asynq servers until ctx ends:
// task and notification delivery at GPFED_WORKER_CONCURRENCY (each delivery
// holds a database connection across its POST), and capacity fetches at
// GPFED_SYNC_CONCURRENCY (a fetch holds no connection while it waits on a
// provider, so many more can be in progress; the GP Connect client's
// adaptive limit and byte budget bound the real work).
func serveWorkerQueues(ctx context.Context, app *App, redis asynq.RedisConnOpt, mux *asynq.ServeMux) error {
	delivery := map[string]int{}
	for name, weight := range queue.Queues {
		if name != queue.QueueCapacity {
			delivery[name] = weight
		}
	}
	// One server failing to start stops the other: a worker serves all its queues or none.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	serve := func(i int, queues map[string]int, concurrency int) {
		defer wg.Done()
		if errs[i] = serveQueue(ctx, app, redis, mux, queues, concurrency); errs[i] != nil {
			cancel()
		}
	}
	wg.Add(2)
	go serve(0, delivery, app.Cfg.Worker.Concurrency)
	go serve(1, map[string]int{queue.QueueCapacity: 1}, app.Cfg.Sync.Concurrency)
	wg.Wait()
	return errors.Join(errs...)
}
