package worker

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/webhook"
)

// deliver makes one attempt and waits until its outcome is recorded.
func (e *Engine) deliver(ctx context.Context, it store.ClaimedItem) {
	o := e.attempt(ctx, it)
	e.observe(it, o)
	g := e.completer
	if o.Result == store.Retry {
		g = e.failures
	}
	// A delivered item frees its endpoint's slot for this process's next
	// claims at once; a failed attempt keeps it until its record (and the
	// circuit breaker's verdict) commits, so a failing endpoint is not
	// tried faster than its outcomes are counted.
	if o.Result == store.Delivered {
		e.markFinished(it, true)
		defer e.markFinished(it, false)
		e.Poke()
	}
	if _, err := g.Do(context.WithoutCancel(ctx), o); err != nil {
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
	res := e.sender.Send(pctx, it.WebhookURL, signingSecrets(it.WebhookSecret, it.WebhookSecretPrevious), event, it.ID.String(), body)
	metrics.WebhookRequests.WithLabelValues(event, strconv.Itoa(res.Status)).Observe(res.Duration.Seconds())
	o.Tried, o.Status, o.Channel = true, res.Status, "webhook"
	if res.Err != nil {
		o.Error = res.Err.Error()
	}
	switch {
	case res.Outcome == webhook.Delivered:
		o.Result, o.At = store.Delivered, res.At
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
		b, err := webhook.TaskEvent{
			Event: webhook.EventTask, ID: it.ID, SenderODS: t.SenderODS, RecipientODS: t.RecipientODS,
			Type: t.Type, Priority: t.Priority, Subject: t.Subject, Body: t.Body,
			PatientNHSNumber: t.PatientNHSNumber, DueDate: t.DueDate, CreatedAt: it.CreatedAt.UTC(),
		}.AppendJSON(make([]byte, 0, 512+len(t.Subject)+len(t.Body)))
		return webhook.EventTask, b, err
	}
	n := it.Notification
	data := n.Data
	if data == nil {
		data = map[string]any{}
	}
	b, err := webhook.NotificationEvent{
		Event: webhook.EventNotification, ID: it.ID, Kind: n.Kind, RecipientODS: n.RecipientODS,
		TaskID: n.TaskID, SubjectODS: n.SubjectODS, Data: data, CreatedAt: it.CreatedAt.UTC(),
	}.AppendJSON(make([]byte, 0, 384))
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
	switch o.Result {
	case store.Delivered:
		if e.log.Enabled(context.Background(), slog.LevelDebug) {
			e.log.Debug("delivered", "kind", it.Kind, "id", it.ID.String(), "recipient_ods", it.Endpoint,
				"channel", o.Channel, "status", o.Status)
		}
	case store.Failed:
		e.log.Warn("delivery failed permanently", "kind", it.Kind, "id", it.ID.String(), "recipient_ods", it.Endpoint,
			"reason", o.Reason, "status", o.Status, "error", o.Error)
	case store.Retry:
		e.log.Info("delivery attempt failed; will retry", "kind", it.Kind, "id", it.ID.String(), "recipient_ods", it.Endpoint,
			"status", o.Status, "error", o.Error, "retry_at", o.RetryAt.UTC().Format(time.RFC3339Nano))
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
