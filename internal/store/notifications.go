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

const notificationColumns = `id, recipient_ods, kind, task_id, COALESCE(subject_ods, ''), data,
	COALESCE(coalesce_key, ''), state, COALESCE(channel, ''), attempts, COALESCE(last_error, ''),
	created_at, delivered_at, acknowledged_at, expires_at`

func scanNotification(row pgx.Row) (Notification, error) {
	var n Notification
	err := row.Scan(&n.ID, &n.RecipientODS, &n.Kind, &n.TaskID, &n.SubjectODS, &n.Data, &n.CoalesceKey,
		&n.State, &n.Channel, &n.Attempts, &n.LastError, &n.CreatedAt, &n.DeliveredAt, &n.AcknowledgedAt, &n.ExpiresAt)
	return n, err
}

// ListNotifications returns up to limit of recipient's notifications, newest
// first (created_at, then id), starting after after; with unackedOnly just
// those not yet acknowledged.
func (db *DB) ListNotifications(ctx context.Context, recipient string, unackedOnly bool, after *PageKey, limit int) ([]Notification, error) {
	var afterAt *time.Time
	var afterID *uuid.UUID
	if after != nil {
		afterAt, afterID = &after.CreatedAt, &after.ID
	}
	q := `SELECT ` + notificationColumns + ` FROM notifications
		WHERE recipient_ods = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))`
	if unackedOnly {
		q += ` AND acknowledged_at IS NULL`
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT $4`
	rows, err := db.Pool.Query(ctx, q, recipient, afterAt, afterID, limit)
	if err != nil {
		return nil, translate(fmt.Errorf("list notifications of %s: %w", recipient, err))
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, translate(fmt.Errorf("scan notification: %w", err))
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(fmt.Errorf("list notifications of %s: %w", recipient, err))
	}
	return out, nil
}

// AckNotification marks recipient's notification acknowledged (the first
// acknowledgement time is kept, so repeating it is harmless). Anyone else's
// notification id gives ErrNotFound.
func (db *DB) AckNotification(ctx context.Context, id uuid.UUID, recipient string) (Notification, error) {
	n, err := scanNotification(db.Pool.QueryRow(ctx, `UPDATE notifications
		SET acknowledged_at = COALESCE(acknowledged_at, now())
		WHERE id = $1 AND recipient_ods = $2 RETURNING `+notificationColumns, id, recipient))
	if err != nil {
		return Notification{}, translate(fmt.Errorf("ack notification %s: %w", id, err))
	}
	return n, nil
}
