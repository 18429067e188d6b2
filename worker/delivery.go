package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
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
	// HTTPClient posts webhooks; it must enforce the target policy
	// (default webhook.NewClient(WebhookTimeout): https, public addresses).
	HTTPClient *http.Client
	// Secrets opens sealed webhook secrets before signing (the keyring of
	// GPFED_SECRET_KEY); nil signs with stored values as they are.
	Secrets webhook.SecretOpener
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
	db      *store.DB
	waker   *queue.Waker
	sweeper *queue.Sweeper
	sender  *webhook.Sender
	cfg     DeliveryConfig
	log     *slog.Logger
	now     func() time.Time
	// completer records outcomes in groups; failures, which may run the
	// circuit breaker, go through a completer of their own so that a
	// failing endpoint never slows the recording of healthy deliveries.
	completer, failures *batch.Group[store.Outcome, struct{}]
	poke                chan struct{}
	inFlight            atomic.Int64
	// finished holds this process's items whose delivery ended and whose
	// outcome waits for the completer: claims leave them out of their
	// endpoints' in-flight counts (store.ClaimOptions.Finished).
	finishedMu sync.Mutex
	finished   map[store.FinishedItem]struct{}
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
		sender: &webhook.Sender{Client: cfg.HTTPClient, Secrets: cfg.Secrets, Log: log.With("component", "webhook")},
		poke:   make(chan struct{}, 1), finished: map[store.FinishedItem]struct{}{}}
	e.completer = batch.New(e.record, 256, 2)
	e.failures = batch.New(e.record, 256, 1)
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
	var completed sync.WaitGroup
	for _, g := range []*batch.Group[store.Outcome, struct{}]{e.completer, e.failures} {
		completed.Add(1)
		go func() { defer completed.Done(); g.Run(cctx) }()
	}
	e.claimLoop(ctx)
	stopCompleter()
	completed.Wait()
}

// markFinished records (done) or forgets (!done) that an item's delivery
// ended and only its outcome's record is outstanding.
func (e *Engine) markFinished(it store.ClaimedItem, done bool) {
	k := store.FinishedItem{ID: it.ID, Token: it.Token}
	e.finishedMu.Lock()
	defer e.finishedMu.Unlock()
	if done {
		e.finished[k] = struct{}{}
	} else {
		delete(e.finished, k)
	}
}

// finishedItems lists the items whose records are outstanding.
func (e *Engine) finishedItems() []store.FinishedItem {
	e.finishedMu.Lock()
	defer e.finishedMu.Unlock()
	out := make([]store.FinishedItem, 0, len(e.finished))
	for k := range e.finished {
		out = append(out, k)
	}
	return out
}
