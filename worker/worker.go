// Package worker is gpfed's asynq server: it builds the mux, the middleware
// and the handlers (capacity fetch, task and notification delivery, booking
// settle and cancel). Every handler is idempotent because asynq delivers at
// least once.
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
	// Delivery handles delivery:claim; nil leaves deliveries to other workers.
	Delivery *Engine
	Booking  BookingDeps
	Fetch    FetchDeps
}

// NewMux registers every handler behind logging and panic recovery.
func NewMux(d Deps) *asynq.ServeMux {
	if d.Now == nil {
		d.Now = time.Now
	}
	mux := asynq.NewServeMux()
	mux.Use(recoverer(d.Log))
	registerCapacity(mux, d)
	if d.Delivery != nil {
		mux.Handle(queue.TypeDeliveryClaim, d.Delivery)
	}
	registerBooking(mux, d)
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
		// Poll idle queues often: the default 1 s adds up to a second to delivery latency.
		TaskCheckInterval: 50 * time.Millisecond,
		// Capacity fetch retries are due within half a second, not asynq's 5 s.
		DelayedTaskCheckInterval: 500 * time.Millisecond,
		// Capacity fetches and booking settles and cancels retry on their own schedules.
		RetryDelayFunc: retryDelay,
		Logger:         asynqLogger{log.With("component", "asynq")},
		LogLevel:       asynq.WarnLevel,
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
