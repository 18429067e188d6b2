package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Notification kinds (the notifications.kind CHECK constraint).
const (
	NotifyTaskDelivered    = "task.delivered"
	NotifyTaskFailed       = "task.failed"
	NotifyTaskAcknowledged = "task.acknowledged"
	NotifyTaskOverdue      = "task.overdue"
	NotifySyncFailed       = "sync.failed"
	NotifySyncStale        = "sync.stale"
	NotifyCapacityLow      = "capacity.low"
)

// Notification states.
const (
	NotificationPending   = "pending"
	NotificationDelivered = "delivered"
	NotificationFailed    = "failed"
)

// defaultNotificationMaxAge bounds delivery attempts of a notification
// created without an ExpiresAt.
const defaultNotificationMaxAge = 24 * time.Hour

// Notification is a notification to a practice; Data never holds patient data.
type Notification struct {
	ID             uuid.UUID
	RecipientODS   string
	Kind           string
	TaskID         *uuid.UUID
	SubjectODS     string
	Data           map[string]any
	CoalesceKey    string
	State, Channel string
	Attempts       int
	LastError      string
	CreatedAt      time.Time
	DeliveredAt    *time.Time
	AcknowledgedAt *time.Time
	ExpiresAt      time.Time
}

// CreateNotificationTx inserts a pending notification and its outbox row in
// tx. With a non-empty CoalesceKey that already exists it does nothing and
// returns created=false. A zero ID is replaced by a fresh one; a zero
// ExpiresAt becomes now + 24h.
func CreateNotificationTx(ctx context.Context, tx pgx.Tx, n Notification) (created bool, err error) {
	if n.ID == uuid.Nil {
		n.ID = uuid.New()
	}
	if n.ExpiresAt.IsZero() {
		n.ExpiresAt = time.Now().Add(defaultNotificationMaxAge)
	}
	if n.Data == nil {
		n.Data = map[string]any{}
	}
	tag, err := tx.Exec(ctx, `INSERT INTO notifications
		(id, recipient_ods, kind, task_id, subject_ods, data, coalesce_key, expires_at)
		VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, NULLIF($7, ''), $8)
		ON CONFLICT (coalesce_key) DO NOTHING`,
		n.ID, n.RecipientODS, n.Kind, n.TaskID, n.SubjectODS, n.Data, n.CoalesceKey, n.ExpiresAt)
	if err != nil {
		return false, translate(fmt.Errorf("insert notification %s for %s: %w", n.Kind, n.RecipientODS, err))
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (kind, ref_id) VALUES ('notification', $1)`, n.ID); err != nil {
		return false, translate(fmt.Errorf("insert outbox for notification %s: %w", n.ID, err))
	}
	return true, nil
}
