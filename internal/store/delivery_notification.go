package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// DeliveryNotification is a notification with its recipient's webhook channel.
type DeliveryNotification struct {
	Notification
	WebhookURL, WebhookSecret string
	// WebhookSecretPrevious is the replaced secret while a rotation keeps it valid, else "".
	WebhookSecretPrevious string
}

// DeliverNotification locks the notification row, calls try while holding
// the lock (which serialises duplicate asynq deliveries), and applies the
// verdict in the same transaction. A notification that is no longer pending
// is returned with the zero Attempt and try is not called.
func (db *DB) DeliverNotification(ctx context.Context, id uuid.UUID, opt DeliveryOptions, try func(ctx context.Context, n DeliveryNotification) Attempt) (DeliveryNotification, Attempt, error) {
	var n DeliveryNotification
	var a Attempt
	lock := stmt{sql: `SELECT n.id, n.recipient_ods, n.kind, n.task_id, COALESCE(n.subject_ods, ''), n.data,
			COALESCE(n.coalesce_key, ''), n.state, n.attempts, n.created_at, n.expires_at,
			` + webhookColumns + `
		FROM notifications n JOIN practices p ON p.ods_code = n.recipient_ods
		WHERE n.id = $1 FOR UPDATE OF n`, args: []any{id}, scan: func(row pgx.Row) error {
		if err := row.Scan(&n.ID, &n.RecipientODS, &n.Kind, &n.TaskID, &n.SubjectODS, &n.Data, &n.CoalesceKey, &n.State,
			&n.Attempts, &n.CreatedAt, &n.ExpiresAt, &n.WebhookURL, &n.WebhookSecret, &n.WebhookSecretPrevious); err != nil {
			return fmt.Errorf("lock notification: %w", err)
		}
		return nil
	}}
	err := db.lockedTx(ctx, lock, func() (*stmt, error) {
		if n.State != NotificationPending {
			return dropOutbox(OutboxNotification, id), nil
		}
		a = try(ctx, n)
		return notificationVerdict(&n, a, opt)
	})
	if err != nil {
		return n, a, fmt.Errorf("deliver notification %s: %w", id, err)
	}
	return n, a, nil
}

// notificationVerdict is the statement that applies a to the locked,
// pending notification.
func notificationVerdict(n *DeliveryNotification, a Attempt, opt DeliveryOptions) (*stmt, error) {
	tried := 0
	if a.Tried {
		tried = 1
	}
	var q string
	var args []any
	switch a.Result {
	case AttemptDelivered:
		q = `UPDATE notifications SET state = 'delivered', channel = $4, attempts = attempts + $2,
			last_error = NULL, delivered_at = $3, finished_at = $3 WHERE id = $1 AND state = 'pending'`
		args = []any{n.ID, tried, opt.now(), a.Channel}
		n.State = NotificationDelivered
	case AttemptRetry:
		q = `UPDATE notifications SET attempts = attempts + $2, last_error = $3 WHERE id = $1 AND state = 'pending'`
		args = []any{n.ID, tried, a.Error}
	case AttemptFailed:
		q = `UPDATE notifications SET state = 'failed', attempts = attempts + $2, last_error = $4, finished_at = $3
			WHERE id = $1 AND state = 'pending'`
		args = []any{n.ID, tried, opt.now(), a.Error}
		n.State = NotificationFailed
	default:
		return nil, fmt.Errorf("unknown attempt result %d", a.Result)
	}
	n.Attempts += tried
	// The queue entry this attempt came from exists, so the outbox row has
	// done its job: drop it in the same statement.
	return &stmt{sql: `WITH o AS (DELETE FROM outbox WHERE ref_id = $1 AND kind = 'notification') ` + q, args: args}, nil
}
