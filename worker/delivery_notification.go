package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/webhook"
	"github.com/gpfed/gpfed/queue"
)

func (h *delivery) deliverNotification(ctx context.Context, t *asynq.Task) error {
	var p queue.NotificationDeliver
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return fmt.Errorf("notification:deliver payload: %v: %w", err, asynq.SkipRetry)
	}
	return h.notify(ctx, p.NotificationID, lastRetry(ctx))
}

// notify makes one delivery attempt for notification id; last says no
// retry follows. The queue handler and the fast path share it.
func (h *delivery) notify(ctx context.Context, id uuid.UUID, last bool) error {
	ctx, cancel := h.attemptContext(ctx)
	defer cancel()
	n, a, err := h.db.DeliverNotification(ctx, id, h.options(), func(ctx context.Context, n store.DeliveryNotification) store.Attempt {
		return h.tryNotification(ctx, n, last)
	})
	log := h.log.With("notification_id", id.String())
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Warn("notification to deliver does not exist")
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	case err != nil:
		return err
	}
	return h.conclude(log.With("recipient_ods", n.RecipientODS, "kind", n.Kind, "state", n.State), a, n.ExpiresAt)
}

// tryNotification delivers by webhook when the practice has one, else the
// notification is simply available in the practice's feed.
func (h *delivery) tryNotification(ctx context.Context, n store.DeliveryNotification, last bool) store.Attempt {
	if !h.now().Before(n.ExpiresAt) {
		return store.ExpiredAttempt("")
	}
	if n.WebhookURL == "" {
		return store.Attempt{Result: store.AttemptDelivered, Channel: "feed"}
	}
	data := n.Data
	if data == nil {
		data = map[string]any{}
	}
	body, err := json.Marshal(webhook.NotificationEvent{
		Event: webhook.EventNotification, ID: n.ID, Kind: n.Kind, RecipientODS: n.RecipientODS,
		TaskID: n.TaskID, SubjectODS: n.SubjectODS, Data: data, CreatedAt: n.CreatedAt.UTC(),
	})
	if err != nil {
		return store.Attempt{Result: store.AttemptRetry, Error: "encode notification event failed"}
	}
	res := h.send(ctx, n.WebhookURL, signingSecrets(n.WebhookSecret, n.WebhookSecretPrevious), webhook.EventNotification, n.ID.String(), body)
	return verdict(res, "webhook", last)
}
