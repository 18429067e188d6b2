package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Notification kinds. The database checks only their shape; this list is
// the one place that says which exist (docs/API.md describes each).
const (
	NotifyTaskDelivered     = "task.delivered"
	NotifyTaskFailed        = "task.failed"
	NotifyTaskAcknowledged  = "task.acknowledged"
	NotifyTaskOverdue       = "task.overdue"
	NotifySyncFailed        = "sync.failed"
	NotifySyncStale         = "sync.stale"
	NotifyCapacityLow       = "capacity.low"
	NotifyEndpointFailing   = "endpoint.failing"
	NotifyEndpointRecovered = "endpoint.recovered"
	// Bookings (store/bookings_transitions.go): the host is told of bookings
	// and cancellations in its slots, the booking practice of outcomes it
	// did not get in its request.
	NotifyBookingCreated      = "booking.created"
	NotifyBookingConfirmed    = "booking.confirmed"
	NotifyBookingFailed       = "booking.failed"
	NotifyBookingCancelled    = "booking.cancelled"
	NotifyBookingCancelFailed = "booking.cancel_failed"
)

// NotificationKinds lists every kind gpfed creates.
var NotificationKinds = []string{NotifyTaskDelivered, NotifyTaskFailed, NotifyTaskAcknowledged, NotifyTaskOverdue,
	NotifySyncFailed, NotifySyncStale, NotifyCapacityLow, NotifyEndpointFailing, NotifyEndpointRecovered,
	NotifyBookingCreated, NotifyBookingConfirmed, NotifyBookingFailed, NotifyBookingCancelled, NotifyBookingCancelFailed}

// Notification audiences: a practice (RecipientODS set) or the federation
// admins (RecipientODS empty; read on the dashboard and the admin API).
const (
	AudiencePractice = "practice"
	AudienceAdmin    = "admin"
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

// Notification is a notification to a practice or to the federation
// admins; Data never holds patient data.
type Notification struct {
	ID uuid.UUID
	// Audience is AudiencePractice (the default when empty) or AudienceAdmin.
	Audience       string
	RecipientODS   string // "" for the admins
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
	// FeedOnly notifications are not pushed: they are created delivered to
	// the feed (the dashboard for admins). Admin notifications always are.
	FeedOnly bool
}

// CreateNotificationTx inserts a notification in tx and, unless it is
// feed-only, its delivery_queue row, due at once: the delivery engine's
// sweeper finds it, or the caller wakes the engine after the commit. With a
// non-empty CoalesceKey that already exists it does nothing and returns
// created=false. A zero ID is replaced by a fresh one; a zero ExpiresAt
// becomes now + 24h.
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
	if n.Audience == "" {
		n.Audience = AudiencePractice
	}
	if !slices.Contains(NotificationKinds, n.Kind) {
		return false, fmt.Errorf("insert notification: unknown kind %q", n.Kind)
	}
	feed := n.FeedOnly || n.Audience == AudienceAdmin
	var inserted int
	err = tx.QueryRow(ctx, `WITH n AS (INSERT INTO notifications
			(id, audience, recipient_ods, kind, task_id, subject_ods, data, coalesce_key, expires_at,
			 state, channel, delivered_at, finished_at)
		VALUES ($1, $2, NULLIF($3, ''), $4, $5, NULLIF($6, ''), $7, NULLIF($8, ''), $9,
			CASE WHEN $10 THEN 'delivered' ELSE 'pending' END, CASE WHEN $10 THEN 'feed' END,
			CASE WHEN $10 THEN now() END, CASE WHEN $10 THEN now() END)
		ON CONFLICT (coalesce_key) WHERE coalesce_key IS NOT NULL DO NOTHING RETURNING id, recipient_ods),
		q AS (INSERT INTO delivery_queue (ref_id, kind, endpoint) SELECT id, 'notification', recipient_ods FROM n WHERE NOT $10)
		SELECT count(*) FROM n`,
		n.ID, n.Audience, n.RecipientODS, n.Kind, n.TaskID, n.SubjectODS, n.Data, n.CoalesceKey, n.ExpiresAt, feed,
	).Scan(&inserted)
	if err != nil {
		return false, translate(fmt.Errorf("insert notification %s for %s: %w", n.Kind, cmp.Or(n.RecipientODS, "admins"), err))
	}
	return inserted == 1, nil
}

const notificationColumns = `id, COALESCE(recipient_ods, ''), kind, task_id, COALESCE(subject_ods, ''), data,
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

// ListAdminNotifications returns up to limit notifications for the
// federation admins (circuits opening and recovering), newest first,
// starting after after; with unackedOnly just those not yet acknowledged.
func (db *DB) ListAdminNotifications(ctx context.Context, unackedOnly bool, after *PageKey, limit int) ([]Notification, error) {
	var afterAt *time.Time
	var afterID *uuid.UUID
	if after != nil {
		afterAt, afterID = &after.CreatedAt, &after.ID
	}
	q := `SELECT ` + notificationColumns + ` FROM notifications
		WHERE audience = 'admin' AND ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2::uuid))`
	if unackedOnly {
		q += ` AND acknowledged_at IS NULL`
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT $3`
	rows, err := db.Pool.Query(ctx, q, afterAt, afterID, limit)
	if err != nil {
		return nil, translate(fmt.Errorf("list admin notifications: %w", err))
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, translate(fmt.Errorf("scan notification: %w", err))
		}
		n.Audience = AudienceAdmin
		out = append(out, n)
	}
	return out, translate(rows.Err())
}

// AckAdminNotification marks an admin notification acknowledged (the
// first time is kept); anything else gives ErrNotFound.
func (db *DB) AckAdminNotification(ctx context.Context, id uuid.UUID) (Notification, error) {
	n, err := scanNotification(db.Pool.QueryRow(ctx, `UPDATE notifications
		SET acknowledged_at = COALESCE(acknowledged_at, now())
		WHERE id = $1 AND audience = 'admin' RETURNING `+notificationColumns, id))
	if err != nil {
		return Notification{}, translate(fmt.Errorf("ack admin notification %s: %w", id, err))
	}
	n.Audience = AudienceAdmin
	return n, nil
}
