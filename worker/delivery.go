package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/batch"
	"github.com/gpfed/gpfed/internal/metrics"
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
}

// leaseMargin is kept between the moment a claim stops its POSTs (when
// its heartbeats fail) and the end of its lease, for clock drift.
const leaseMargin = 2 * time.Second

// Engine delivers tasks and notifications. Its asynq handler (ProcessTask,
// for queue.TypeDeliveryClaim) claims a batch of due items from Postgres
// (store.Claim: per-endpoint caps, open circuits and priority are applied
// there), posts each to its webhook or marks it delivered to the inbox or
// feed, with no lock, transaction or pooled connection held while it
// waits, and hands each outcome to the completer, which records many at a
// time (store.RecordOutcomes). Run the completer with Run.
type Engine struct {
	db        *store.DB
	waker     *queue.Waker
	sweeper   *queue.Sweeper
	sender    *webhook.Sender
	cfg       DeliveryConfig
	log       *slog.Logger
	now       func() time.Time
	completer *batch.Group[store.Outcome, struct{}]
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
	e := &Engine{db: db, waker: waker, sweeper: sweeper, cfg: cfg, log: log.With("component", "delivery"), now: time.Now,
		sender: &webhook.Sender{Client: cfg.HTTPClient}}
	e.completer = batch.New(e.record, 256, 1)
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

// ClaimTimeout is the asynq timeout a delivery:claim run needs.
func (e *Engine) ClaimTimeout() time.Duration { return e.cfg.WebhookTimeout + 30*time.Second }

// Run records outcomes until ctx ends, then records what is left. Stop it
// after the asynq server (whose handlers hand it outcomes) has stopped.
func (e *Engine) Run(ctx context.Context) { e.completer.Run(ctx) }

// ProcessTask is the delivery:claim handler: claim, deliver, record.
// Database trouble is logged, not returned: the work stays due in Postgres
// and the sweeper wakes a worker for it again.
func (e *Engine) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	items, err := e.db.Claim(ctx, store.ClaimOptions{Limit: e.cfg.BatchSize, Cap: e.cfg.EndpointCap, Lease: e.cfg.Lease})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("claim failed; the sweeper will retry", "error", err)
		}
		return nil
	}
	if len(items) == 0 {
		return nil
	}
	lctx, stop := e.holdLease(ctx, items[0].Token)
	defer stop()
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.deliver(lctx, it)
		}()
	}
	wg.Wait()
	if len(items) == e.cfg.BatchSize {
		e.waker.Wake(ctx, false) // a full batch: there is probably more
	}
	return nil
}

// holdLease renews the claim's lease every Lease/3 until stop is called,
// and returns a context that ends leaseMargin before the lease it last
// secured runs out: POSTs stop when the lease can no longer be vouched for.
func (e *Engine) holdLease(ctx context.Context, token uuid.UUID) (context.Context, func()) {
	lctx, cancel := context.WithCancel(ctx)
	expire := time.AfterFunc(e.cfg.Lease-leaseMargin, cancel)
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(e.cfg.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-lctx.Done():
				return
			case <-tick.C:
			}
			sent := time.Now()
			n, err := e.db.ExtendClaims(context.WithoutCancel(lctx), token, e.cfg.Lease)
			if err == nil && n > 0 {
				expire.Reset(time.Until(sent.Add(e.cfg.Lease - leaseMargin)))
			} else if err != nil {
				e.log.Warn("could not renew a delivery lease", "error", err)
			}
		}
	}()
	return lctx, func() { close(done); expire.Stop(); cancel() }
}

// deliver makes one attempt and waits until its outcome is recorded.
func (e *Engine) deliver(ctx context.Context, it store.ClaimedItem) {
	o := e.attempt(ctx, it)
	e.observe(it, o)
	if _, err := e.completer.Do(context.WithoutCancel(ctx), o); err != nil {
		// Unrecorded: the claim's lease runs out and the item is tried
		// again, with the same Idempotency-Key.
		e.log.Error("delivery outcome not recorded", "kind", it.Kind, "id", it.ID.String(), "error", err)
	}
}

// attempt decides and, where it must, makes the delivery of one item.
func (e *Engine) attempt(ctx context.Context, it store.ClaimedItem) store.Outcome {
	o := store.Outcome{Kind: it.Kind, ID: it.ID, Endpoint: it.Endpoint, Token: it.Token, Probe: it.Probe}
	now := e.now()
	switch {
	case !it.Open:
		o.Result = store.Dropped
	case !now.Before(it.ExpiresAt):
		o.Result, o.Reason, o.Error = store.Failed, store.ReasonExpired, store.ExpiredError(it.LastError)
	case !it.Active:
		o.Result, o.Reason, o.Error = store.Failed, store.ReasonRecipientLeft,
			"the recipient practice left the federation before delivery"
	case it.WebhookURL == "":
		o.Result, o.Channel = store.Delivered, "inbox"
		if it.Kind == store.KindNotification {
			o.Channel = "feed"
		}
	default:
		e.post(ctx, it, &o)
	}
	return o
}

// post sends the item to its webhook and fills in o from the answer.
func (e *Engine) post(ctx context.Context, it store.ClaimedItem, o *store.Outcome) {
	event, body, err := eventBody(it)
	if err != nil {
		o.Result, o.Error, o.RetryAt = store.Retry, "encode event failed", e.now().Add(e.cfg.Retry.Base)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, e.cfg.WebhookTimeout)
	defer cancel()
	start := time.Now()
	res := e.sender.Send(pctx, it.WebhookURL, signingSecrets(it.WebhookSecret, it.WebhookSecretPrevious), event, it.ID.String(), body)
	metrics.WebhookRequests.WithLabelValues(event, strconv.Itoa(res.Status)).Observe(time.Since(start).Seconds())
	o.Tried, o.Status, o.Channel = true, res.Status, "webhook"
	if res.Err != nil {
		o.Error = res.Err.Error()
	}
	switch {
	case res.Outcome == webhook.Delivered:
		o.Result, o.At = store.Delivered, start.Add(res.Duration)
	case res.Outcome == webhook.Permanent:
		o.Result, o.Reason = store.Failed, store.ReasonRejected
	case ctx.Err() != nil && res.Status == 0:
		// Shutting down mid-POST: the answer is unknown. Release the claim
		// (another worker re-sends under the same Idempotency-Key) rather
		// than count a failure the receiver did not cause.
		o.Result, o.Tried = store.Released, false
	default:
		o.Result = store.Retry
		o.RetryAt = e.now().Add(e.cfg.Retry.Delay(it.Attempts, res.RetryAfter, it.ExpiresAt, e.now()))
	}
}

// eventBody is the webhook event for an item: the task with its clinical
// content for the recipient, or the notification (ids and codes only).
func eventBody(it store.ClaimedItem) (string, []byte, error) {
	if it.Kind == store.KindTask {
		t := it.Task
		b, err := json.Marshal(webhook.TaskEvent{
			Event: webhook.EventTask, ID: it.ID, SenderODS: t.SenderODS, RecipientODS: t.RecipientODS,
			Type: t.Type, Priority: t.Priority, Subject: t.Subject, Body: t.Body,
			PatientNHSNumber: t.PatientNHSNumber, DueDate: t.DueDate, CreatedAt: it.CreatedAt.UTC(),
		})
		return webhook.EventTask, b, err
	}
	n := it.Notification
	data := n.Data
	if data == nil {
		data = map[string]any{}
	}
	b, err := json.Marshal(webhook.NotificationEvent{
		Event: webhook.EventNotification, ID: it.ID, Kind: n.Kind, RecipientODS: n.RecipientODS,
		TaskID: n.TaskID, SubjectODS: n.SubjectODS, Data: data, CreatedAt: it.CreatedAt.UTC(),
	})
	return webhook.EventNotification, b, err
}

// signingSecrets is what a delivery signs with: the practice's secret, and
// the previous one while a rotation keeps it valid.
func signingSecrets(current, previous string) []string {
	if previous == "" || previous == current {
		return []string{current}
	}
	return []string{current, previous}
}

// observe logs the attempt (ids and codes, never content) and records
// task outcome metrics.
func (e *Engine) observe(it store.ClaimedItem, o store.Outcome) {
	log := e.log.With("kind", it.Kind, "id", it.ID.String(), "recipient_ods", it.Endpoint)
	switch o.Result {
	case store.Delivered:
		log.Debug("delivered", "channel", o.Channel, "status", o.Status)
	case store.Failed:
		log.Warn("delivery failed permanently", "reason", o.Reason, "status", o.Status, "error", o.Error)
	case store.Retry:
		log.Info("delivery attempt failed; will retry", "status", o.Status, "error", o.Error,
			"retry_at", o.RetryAt.UTC().Format(time.RFC3339Nano))
	}
	metrics.DeliveryOutcomes.WithLabelValues(it.Kind, resultLabel(o.Result)).Inc()
	if it.Kind != store.KindTask || (o.Result != store.Delivered && o.Result != store.Failed) {
		return
	}
	channel := o.Channel
	if channel == "" {
		channel = "webhook"
	}
	outcome := "delivered"
	end := o.At
	if o.Result == store.Failed {
		outcome = "failed"
	}
	if end.IsZero() {
		end = e.now()
	}
	attempts := it.Attempts
	if o.Tried {
		attempts++
	}
	metrics.TaskDeliveryDuration.WithLabelValues(channel, outcome).Observe(end.Sub(it.CreatedAt).Seconds())
	metrics.TaskDeliveryAttempts.WithLabelValues(channel, outcome).Observe(float64(attempts))
}

func resultLabel(r store.Result) string {
	switch r {
	case store.Delivered:
		return "delivered"
	case store.Retry:
		return "retry"
	case store.Failed:
		return "failed"
	case store.Released:
		return "released"
	}
	return "dropped"
}
