package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/webhook"
	"github.com/gpfed/gpfed/queue"
)

// DeliveryDeps is what the task and notification delivery handlers need.
type DeliveryDeps struct {
	// HTTPClient posts webhooks; it must carry a timeout and enforce the
	// target policy (webhook.NewClient, webhook.NewClientFor).
	HTTPClient *http.Client
	// Secrets opens sealed webhook secrets before signing (the keyring of
	// GPFED_SECRET_KEY); nil signs with stored values as they are.
	Secrets webhook.SecretOpener
	// WebhookTimeout bounds one POST (default 10s); the whole attempt,
	// including the row lock it holds, is bounded a few seconds above it.
	WebhookTimeout time.Duration
	// NotificationTTL is the maximum age of the delivered/failed
	// notifications delivery creates for senders (default 24h).
	NotificationTTL time.Duration
	// Enqueuer, when set, queues the sender's delivered/failed notification
	// right after the delivery commits, instead of waiting for the outbox
	// relay (which still takes over after store.DirectEnqueueGrace if this
	// enqueue never happens). TaskTimeout is asynq's per-attempt timeout for it.
	Enqueuer    *asynq.Client
	TaskTimeout time.Duration
	// FastPath, when set with Enqueuer, makes the first attempt of those
	// notifications in this process instead (see FastPath); the caller
	// closes it when it shuts the worker down.
	FastPath *FastPath
}

type delivery struct {
	db      *store.DB
	log     *slog.Logger
	now     func() time.Time
	sender  *webhook.Sender
	timeout time.Duration
	ttl     time.Duration
	enq     *asynq.Client
	taskTO  time.Duration
	fast    *FastPath
}

func registerDelivery(mux *asynq.ServeMux, d Deps) {
	dd := d.Delivery
	if dd.WebhookTimeout <= 0 {
		dd.WebhookTimeout = 10 * time.Second
	}
	if dd.HTTPClient == nil {
		dd.HTTPClient = webhook.NewClient(dd.WebhookTimeout)
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &delivery{db: d.DB, log: log.With("component", "delivery"), now: d.Now,
		sender:  &webhook.Sender{Client: dd.HTTPClient, Now: d.Now, Secrets: dd.Secrets, Log: log.With("component", "webhook")},
		timeout: dd.WebhookTimeout, ttl: dd.NotificationTTL,
		enq: dd.Enqueuer, taskTO: dd.TaskTimeout, fast: dd.FastPath}
	mux.HandleFunc(queue.TypeTaskDeliver, h.deliverTask)
	mux.HandleFunc(queue.TypeNotificationDeliver, h.deliverNotification)
}

// attemptContext bounds one attempt: the POST's own timeout plus room for
// the database work, well inside asynq's lease and the task's Timeout.
func (h *delivery) attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, h.timeout+5*time.Second)
}

func (h *delivery) options() store.DeliveryOptions {
	o := store.DeliveryOptions{Now: h.now(), NotificationTTL: h.ttl}
	if h.enq != nil {
		o.RelayDelay = store.DirectEnqueueGrace
	}
	return o
}

// dispatchNotification sends a notification the delivery just committed on
// its way: the fast path when it has room, else the queue.
func (h *delivery) dispatchNotification(ctx context.Context, log *slog.Logger, id uuid.UUID) {
	if id == uuid.Nil || h.enq == nil {
		return // without an enqueuer the outbox relay sends it
	}
	if h.fast.Go(func(fctx context.Context) { h.notifyNow(fctx, log, id) }) {
		metrics.NotificationDispatch.WithLabelValues("fast_path").Inc()
		return
	}
	metrics.NotificationDispatch.WithLabelValues("queue").Inc()
	h.enqueueNotification(ctx, log, id, 0)
}

// notifyNow is the fast path's attempt; whatever does not end the
// notification goes to the queue, after the retry schedule's first delay
// when the receiver asked for a retry.
func (h *delivery) notifyNow(ctx context.Context, log *slog.Logger, id uuid.UUID) {
	err := h.notify(ctx, id, false)
	if err == nil || errors.Is(err, asynq.SkipRetry) {
		return
	}
	var delay time.Duration
	var re *RetryError
	if errors.As(err, &re) {
		delay = DefaultRetryPolicy.deliveryDelay(0, err)
	}
	metrics.NotificationDispatch.WithLabelValues("fast_path_to_queue").Inc()
	h.enqueueNotification(ctx, log, id, delay)
}

// enqueueNotification queues a notification the delivery just committed,
// to run after delay (h.enq is set: dispatchNotification checks). Failure
// is not an error: its outbox row makes the relay take over.
func (h *delivery) enqueueNotification(ctx context.Context, log *slog.Logger, id uuid.UUID, delay time.Duration) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	var opts []asynq.Option
	if delay > 0 {
		opts = append(opts, asynq.ProcessIn(delay))
	}
	if err := queue.Enqueue(ctx, h.enq, store.OutboxNotification, id, h.taskTO, opts...); err != nil {
		log.Debug("direct enqueue failed; the outbox relay will take over", "notification_id", id.String(), "error", err)
	}
}

func (h *delivery) deliverTask(ctx context.Context, t *asynq.Task) error {
	var p queue.TaskDeliver
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("task:deliver payload: %v: %w", err, asynq.SkipRetry)
	}
	ctx, cancel := h.attemptContext(ctx)
	defer cancel()
	last := lastRetry(ctx)
	task, a, err := h.db.DeliverTask(ctx, p.TaskID, h.options(), func(ctx context.Context, dt store.DeliveryTask) store.Attempt {
		return h.tryTask(ctx, dt, last)
	})
	log := h.log.With("task_id", p.TaskID.String())
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Warn("task to deliver does not exist")
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	case err != nil:
		return err // database trouble: try again
	}
	observeOutcome(task, a, h.now())
	h.dispatchNotification(ctx, log, task.Notification)
	return h.conclude(log.With("recipient_ods", task.RecipientODS, "state", task.State), a, task.ExpiresAt)
}

// send posts one webhook and records its latency by event and status.
func (h *delivery) send(ctx context.Context, url string, secrets []string, event, id string, body []byte) webhook.Result {
	start := time.Now()
	res := h.sender.Send(ctx, url, secrets, event, id, body)
	metrics.WebhookRequests.WithLabelValues(event, strconv.Itoa(res.Status)).Observe(time.Since(start).Seconds())
	return res
}

// signingSecrets is what a delivery signs with: the practice's secret, and
// the previous one while a rotation keeps it valid.
func signingSecrets(current, previous string) []string {
	if previous == "" || previous == current {
		return []string{current}
	}
	return []string{current, previous}
}

// observeOutcome records acceptance-to-outcome latency and attempts once a
// task reaches its final delivery outcome.
func observeOutcome(t store.DeliveryTask, a store.Attempt, now time.Time) {
	var outcome string
	switch a.Result {
	case store.AttemptDelivered:
		outcome = "delivered"
	case store.AttemptFailed:
		outcome = "failed"
	default:
		return
	}
	channel := a.Channel
	if channel == "" {
		channel = "webhook"
	}
	metrics.TaskDeliveryDuration.WithLabelValues(channel, outcome).Observe(now.Sub(t.CreatedAt).Seconds())
	metrics.TaskDeliveryAttempts.WithLabelValues(channel, outcome).Observe(float64(t.Attempts))
}

// tryTask makes one delivery attempt for a locked, accepted task.
func (h *delivery) tryTask(ctx context.Context, t store.DeliveryTask, last bool) store.Attempt {
	if !h.now().Before(t.ExpiresAt) {
		return store.ExpiredAttempt(t.LastError)
	}
	if t.WebhookURL == "" {
		return store.Attempt{Result: store.AttemptDelivered, Channel: "inbox"}
	}
	body, err := json.Marshal(webhook.TaskEvent{
		Event: webhook.EventTask, ID: t.ID, SenderODS: t.SenderODS, RecipientODS: t.RecipientODS,
		Type: t.Type, Priority: t.Priority, Subject: t.Subject, Body: t.Body,
		PatientNHSNumber: t.PatientNHSNumber, DueDate: t.DueDate, CreatedAt: t.CreatedAt.UTC(),
	})
	if err != nil {
		return store.Attempt{Result: store.AttemptRetry, Error: "encode task event failed"}
	}
	res := h.send(ctx, t.WebhookURL, signingSecrets(t.WebhookSecret, t.WebhookSecretPrevious), webhook.EventTask, t.ID.String(), body)
	return verdict(res, "webhook", last)
}

// verdict turns a webhook result into the attempt to record.
func verdict(res webhook.Result, channel string, last bool) store.Attempt {
	a := store.Attempt{Tried: true, Status: res.Status, Channel: channel}
	if res.Err != nil {
		a.Error = res.Err.Error()
	}
	switch {
	case res.Outcome == webhook.Delivered:
		a.Result = store.AttemptDelivered
	case res.Outcome == webhook.Permanent:
		a.Result, a.Reason = store.AttemptFailed, "rejected"
	case last:
		a.Result, a.Reason = store.AttemptFailed, "retries_exhausted"
	default:
		a.Result = store.AttemptRetry
		a.RetryAfter = res.RetryAfter
	}
	return a
}

// conclude logs the attempt and tells asynq what to do next.
func (h *delivery) conclude(log *slog.Logger, a store.Attempt, expires time.Time) error {
	switch a.Result {
	case 0:
		log.Debug("nothing to deliver")
		return nil
	case store.AttemptDelivered:
		log.Info("delivered", "channel", a.Channel, "status", a.Status)
		return nil
	case store.AttemptFailed:
		log.Warn("delivery failed permanently", "reason", a.Reason, "status", a.Status, "error", a.Error)
		return fmt.Errorf("delivery failed (%s): %s: %w", a.Reason, a.Error, asynq.SkipRetry)
	}
	log.Info("delivery attempt failed; will retry", "status", a.Status, "error", a.Error)
	return &RetryError{Msg: a.Error, After: a.RetryAfter, Expires: expires}
}

// lastRetry reports whether asynq will not retry this attempt again.
func lastRetry(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	maxRetry, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= maxRetry
}
