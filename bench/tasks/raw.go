package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
)

const rawQueue = "bench_raw"

// benchRaw measures asynq alone on the benchmark's Redis: a no-op handler
// at the worker's concurrency. It reports two rates and returns the
// concurrent one (enqueue and process together, like the end-to-end path):
// draining a pre-filled queue, and enqueueing with the posters' parallelism
// while the server processes.
func benchRaw(ctx context.Context, e *env, p params) (float64, error) {
	redis := asynq.RedisClientOpt{Addr: e.redis.Addr()}
	client := asynq.NewClient(redis)
	defer client.Close()

	start := time.Now()
	if err := enqueueNoops(ctx, client, p.rawN, p.posters); err != nil {
		return 0, err
	}
	enqueueRate := float64(p.rawN) / time.Since(start).Seconds()
	drain, err := processNoops(redis, p.concurrency, p.rawN, nil)
	if err != nil {
		return 0, err
	}
	drainRate := float64(p.rawN) / drain.Seconds()

	before := e.usage(ctx)
	both, err := processNoops(redis, p.concurrency, p.rawN, func() error {
		return enqueueNoops(ctx, client, p.rawN, p.posters)
	})
	if err != nil {
		return 0, err
	}
	bothRate := float64(p.rawN) / both.Seconds()
	fmt.Printf("\n[1] raw asynq no-op, concurrency %d, %d tasks (load %s)\n", p.concurrency, p.rawN, loadAvg())
	fmt.Printf("    enqueue only (%d goroutines): %8.0f tasks/s\n", p.posters, enqueueRate)
	fmt.Printf("    drain a full queue:           %8.0f tasks/s\n", drainRate)
	fmt.Printf("    enqueue + process together:   %8.0f tasks/s  <- reference\n", bothRate)
	reportCost(before, e.usage(ctx), p.rawN)
	return bothRate, nil
}

func enqueueNoops(ctx context.Context, c *asynq.Client, n, parallel int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := c.EnqueueContext(ctx, asynq.NewTask("bench:noop", nil), asynq.Queue(rawQueue)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// processNoops runs a server until n no-op tasks are processed; feed, when
// set, runs concurrently once the server is up. It returns the time from
// the server (or feed) start to the n-th task.
func processNoops(redis asynq.RedisConnOpt, concurrency, n int, feed func() error) (time.Duration, error) {
	var done atomic.Int64
	finished := make(chan struct{})
	srv := asynq.NewServer(redis, asynq.Config{Concurrency: concurrency, Queues: map[string]int{rawQueue: 1},
		LogLevel: asynq.ErrorLevel, Logger: quietLogger{}})
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench:noop", func(context.Context, *asynq.Task) error {
		if done.Add(1) == int64(n) {
			close(finished)
		}
		return nil
	})
	start := time.Now()
	if err := srv.Start(mux); err != nil {
		return 0, fmt.Errorf("start raw asynq server: %w", err)
	}
	defer srv.Shutdown()
	if feed != nil {
		if err := feed(); err != nil {
			return 0, err
		}
	}
	select {
	case <-finished:
		return time.Since(start), nil
	case <-time.After(5 * time.Minute):
		return 0, fmt.Errorf("raw asynq: %d of %d processed after 5 minutes", done.Load(), n)
	}
}

type quietLogger struct{}

func (quietLogger) Debug(...any) {}
func (quietLogger) Info(...any)  {}
func (quietLogger) Warn(...any)  {}
func (quietLogger) Error(a ...any) {
	slog.Error(fmt.Sprint(a...), "component", "bench")
}
func (quietLogger) Fatal(a ...any) { slog.Error(fmt.Sprint(a...), "component", "bench") }
