// Package worker is gpfed's asynq server: it builds the mux, the middleware
// and the handlers (capacity fetch, task and notification delivery). Every
// handler is idempotent because asynq delivers at least once.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
)

// Deps is what the handlers need. Each handler group has its own sub-struct.
type Deps struct {
	DB       *store.DB
	Log      *slog.Logger
	Now      func() time.Time
	Capacity CapacityDeps
	Fetch    FetchDeps
	Delivery DeliveryDeps
}

// NewMux registers every handler behind logging and panic recovery.
func NewMux(d Deps) *asynq.ServeMux {
	if d.Now == nil {
		d.Now = time.Now
	}
	mux := asynq.NewServeMux()
	mux.Use(recoverer(d.Log))
	registerCapacity(mux, d)
	registerDelivery(mux, d)
	return mux
}

// NewServer builds the asynq server; the caller runs it with Start/Shutdown.
func NewServer(redis asynq.RedisConnOpt, concurrency int, shutdown time.Duration, log *slog.Logger, queues map[string]int) *asynq.Server {
	if queues == nil {
		queues = queue.Queues
	}
	return asynq.NewServer(redis, asynq.Config{
		Concurrency:     concurrency,
		Queues:          queues,
		ShutdownTimeout: shutdown,
		// Delivery retries follow our own schedule (exponential with jitter, capped,
		// honouring Retry-After and never past an item's expiry); capacity fetches theirs.
		RetryDelayFunc: retryDelay,
		// Poll idle queues often: the default 1 s adds up to a second to delivery latency.
		TaskCheckInterval: 50 * time.Millisecond,
		Logger:            asynqLogger{log.With("component", "asynq")},
		LogLevel:          asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			id, _ := asynq.GetTaskID(ctx)
			log.Warn("task failed", "component", "worker", "type", t.Type(), "task_id", id, "error", err)
		}),
	})
}

func recoverer(log *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) (err error) {
			defer func() {
				if v := recover(); v != nil {
					log.Error("handler panic", "component", "worker", "type", t.Type(), "panic", v)
					err = fmt.Errorf("panic in %s handler: %v", t.Type(), v)
				}
			}()
			return next.ProcessTask(ctx, t)
		})
	}
}

// asynqLogger adapts slog to asynq's logger interface.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...)) }
