package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/batch"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/webhook"
	"github.com/gpfed/gpfed/queue"
)

// DeliveryConfig configures a worker's delivery engine. Zero fields take
// the defaults NewEngine documents.
type DeliveryConfig struct {
	// HTTPClient posts webhooks (default webhook.NewClient(WebhookTimeout)).
	HTTPClient *http.Client
	// WebhookTimeout bounds one POST (default 10s).
	WebhookTimeout time.Duration
	// Lease is how long a claim owns its items without a heartbeat
	// (default 10s); the engine renews it every Lease/3 while deliveries
	// are in flight. A POST is never continued past the lease it holds, so
	// an item whose lease ran out has no POST of this worker in flight, and
	// a worker that dies frees its items (and its endpoints' in-flight
	// slots) within one lease.
	Lease time.Duration
	// BatchSize bounds one claim (default 32).
	BatchSize int
	// EndpointCap is the default in-flight cap per recipient endpoint (default 8).
	EndpointCap int
	// Retry is the retry schedule (default DefaultRetryPolicy).
	Retry RetryPolicy
	// NotificationTTL is the maximum age of the sender notifications
	// deliveries create (default 24h).
	NotificationTTL time.Duration
	// Breaker is the per-endpoint circuit breaker (default store.DefaultBreakerPolicy).
	Breaker store.BreakerPolicy
	// MaxInFlight bounds this process's deliveries in flight at once
	// (default 128): the claim loop asks for no more than the room left.
	MaxInFlight int
	// DrainTimeout is how long a stopping engine lets its in-flight
	// deliveries finish before it interrupts them (default 20s); an
	// interrupted delivery is released for another worker.
	DrainTimeout time.Duration
}

// leaseMargin is kept between the moment a claim stops its POSTs (when
// its heartbeats fail) and the end of its lease, for clock drift.
const leaseMargin = 2 * time.Second

// Engine delivers tasks and notifications. Each worker process runs one
// (Run). Its claim loop takes due items from Postgres (store.Claim: the
// per-endpoint caps, open circuits and priority are applied there) as long
// as this process has room, posts each to its webhook or marks it
// delivered to the inbox or feed with no lock, transaction or pooled
// connection held while it waits, and hands each outcome to the completer,
// which records many at a time (store.RecordOutcomes). A recorded outcome
// frees room, so a busy engine keeps itself going; asynq's delivery:claim
// wakes (ProcessTask) set an idle one off, and spread work over workers.
type Engine struct {
	db        *store.DB
	waker     *queue.Waker
	sweeper   *queue.Sweeper
	sender    *webhook.Sender
	cfg       DeliveryConfig
	log       *slog.Logger
	now       func() time.Time
	completer *batch.Group[store.Outcome, struct{}]
	poke      chan struct{}
	inFlight  atomic.Int64
}

// NewEngine builds an engine; waker and sweeper may be nil (tests).
func NewEngine(db *store.DB, waker *queue.Waker, sweeper *queue.Sweeper, cfg DeliveryConfig, log *slog.Logger) (*Engine, error) {
	if db == nil {
		return nil, errors.New("delivery engine: no database")
	}
	cfg.WebhookTimeout = orDuration(cfg.WebhookTimeout, 10*time.Second)
	cfg.Lease = orDuration(cfg.Lease, 10*time.Second)
	if cfg.Lease < 2*leaseMargin {
		return nil, fmt.Errorf("delivery engine: lease %s is shorter than %s", cfg.Lease, 2*leaseMargin)
	}
	cfg.BatchSize = orInt(cfg.BatchSize, 32)
	cfg.EndpointCap = orInt(cfg.EndpointCap, 8)
	if cfg.Retry.Base <= 0 {
		cfg.Retry = DefaultRetryPolicy
	}
	cfg.NotificationTTL = orDuration(cfg.NotificationTTL, 24*time.Hour)
	if cfg.Breaker.FailuresToOpen <= 0 {
		cfg.Breaker = store.DefaultBreakerPolicy
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = webhook.NewClient(cfg.WebhookTimeout)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.MaxInFlight = orInt(cfg.MaxInFlight, 128)
	cfg.DrainTimeout = orDuration(cfg.DrainTimeout, 20*time.Second)
	e := &Engine{db: db, waker: waker, sweeper: sweeper, cfg: cfg, log: log.With("component", "delivery"), now: time.Now,
		sender: &webhook.Sender{Client: cfg.HTTPClient}, poke: make(chan struct{}, 1)}
	e.completer = batch.New(e.record, 256, 2)
	return e, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func orInt(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// ProcessTask is the delivery:claim handler: it sets this process's claim
// loop off and returns at once, so no asynq slot ever waits on a webhook.
func (e *Engine) ProcessTask(context.Context, *asynq.Task) error {
	e.Poke()
	return nil
}

// Poke makes the claim loop look for due work now.
func (e *Engine) Poke() {
	select {
	case e.poke <- struct{}{}:
	default:
	}
}

// Run runs the claim loop and the completer until ctx ends; then it stops
// claiming, lets deliveries in flight finish (up to DrainTimeout, then
// interrupts them), records their outcomes and returns. Stop it after the
// asynq server, whose handlers only poke it.
func (e *Engine) Run(ctx context.Context) {
	cctx, stopCompleter := context.WithCancel(context.WithoutCancel(ctx))
	completed := make(chan struct{})
	go func() { defer close(completed); e.completer.Run(cctx) }()
	e.claimLoop(ctx)
	stopCompleter()
	<-completed
}
