package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Outbox kinds (the outbox.kind CHECK constraint).
const (
	OutboxTask         = "task"
	OutboxNotification = "notification"
)

// OutboxItem is one outbox row: a task or notification waiting to be queued.
type OutboxItem struct {
	ID    int64
	Kind  string
	RefID uuid.UUID
}

// RelayOutbox claims up to limit due outbox rows (relay_after passed) with FOR UPDATE SKIP LOCKED
// (so any number of relays in any number of processes share the work
// without overlap), hands them to enqueue, and deletes, in the same
// transaction, the rows whose ids enqueue reports as queued. Rows enqueue did
// not report stay for the next round. It returns how many rows were claimed.
func (db *DB) RelayOutbox(ctx context.Context, limit int, enqueue func(ctx context.Context, items []OutboxItem) (queued []int64, err error)) (int, error) {
	var claimed int
	var enqErr error
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, kind, ref_id FROM outbox WHERE relay_after <= now()
			ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return fmt.Errorf("claim outbox: %w", err)
		}
		items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxItem, error) {
			var it OutboxItem
			return it, r.Scan(&it.ID, &it.Kind, &it.RefID)
		})
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		claimed = len(items)
		if claimed == 0 {
			return nil
		}
		var queued []int64
		queued, enqErr = enqueue(ctx, items)
		if len(queued) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, queued); err != nil {
			return fmt.Errorf("delete relayed outbox rows: %w", err)
		}
		return nil
	})
	if err != nil {
		return claimed, fmt.Errorf("relay outbox: %w", err)
	}
	if enqErr != nil {
		return claimed, fmt.Errorf("relay outbox: enqueue: %w", enqErr)
	}
	return claimed, nil
}

// OutboxLen counts rows waiting to be relayed (metrics, readiness, tests).
func (db *DB) OutboxLen(ctx context.Context) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n)
	return n, translate(err)
}

// AttemptResult is what one delivery attempt decided.
type AttemptResult int

// Attempt results. The zero value means nothing was attempted (the item was
// no longer open).
const (
	AttemptDelivered AttemptResult = iota + 1
	AttemptRetry
	AttemptFailed
)

// Attempt is the caller's verdict on one delivery attempt, applied by
// DeliverTask and DeliverNotification in the same transaction that holds
// the row lock.
type Attempt struct {
	Result  AttemptResult
	Channel string // delivered: webhook | inbox (tasks), webhook | feed (notifications)
	Tried   bool   // an HTTP request was made: counts towards attempts
	Reason  string // failed: a code for the sender ("rejected", "expired", "retries_exhausted")
	Error   string // last_error; never patient data or a receiver's response body
	Status  int    // HTTP status of the attempt, 0 if none
	// RetryAfter is the receiver's Retry-After (retry only); not stored.
	RetryAfter time.Duration
}

// DeliveryOptions parameterise the notifications delivery creates.
type DeliveryOptions struct {
	Now             time.Time
	NotificationTTL time.Duration // how long the sender's delivered/failed notification may take to deliver
	// RelayDelay holds the outbox row of the notification a delivery
	// creates back from the relay (DirectEnqueueGrace when the caller
	// enqueues it itself after the commit; 0: the relay moves it at once).
	RelayDelay time.Duration
}

// DirectEnqueueGrace is how long an outbox row whose item the committing
// process enqueues itself waits before the relay takes it over (the process
// crashed between commit and enqueue, or Redis refused). The delivery that
// consumes the item deletes the row, so normally the relay never sees it.
const DirectEnqueueGrace = 5 * time.Second

func (o DeliveryOptions) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

func (o DeliveryOptions) notificationExpiry() time.Time {
	ttl := o.NotificationTTL
	if ttl <= 0 {
		ttl = defaultNotificationMaxAge
	}
	return o.now().Add(ttl)
}

// OutboxChannel is the LISTEN/NOTIFY channel the outbox trigger signals on
// every commit that inserted outbox rows (migrations/0003_delivery.sql).
const OutboxChannel = "gpfed_outbox"

// WaitOutbox LISTENs on OutboxChannel on a dedicated connection and calls
// wake for every notification until ctx ends or the connection fails.
func (db *DB) WaitOutbox(ctx context.Context, wake func()) error {
	return db.Listen(ctx, OutboxChannel, wake)
}

// APIKeysChannel is signalled when API keys are revoked or deleted, or a
// practice's membership changes (migrations/0009_api_key_notify.sql).
const APIKeysChannel = "gpfed_api_keys"

// Listen LISTENs on channel on a dedicated connection and calls wake for
// every notification until ctx ends (nil) or the connection fails (the
// error). wake is also called once the LISTEN is in place, so the caller
// can catch up on anything it missed while it was not listening.
func (db *DB) Listen(ctx context.Context, channel string, wake func()) error {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return translate(fmt.Errorf("listen %s: acquire: %w", channel, err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return translate(fmt.Errorf("listen %s: %w", channel, err))
	}
	defer func() {
		// Never hand a listening connection back to the pool.
		if ctx.Err() != nil || conn.Conn().IsClosed() {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
			return
		}
		_, _ = conn.Exec(context.WithoutCancel(ctx), "UNLISTEN "+pgx.Identifier{channel}.Sanitize())
	}()
	wake()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return translate(fmt.Errorf("wait on %s: %w", channel, err))
		}
		wake()
	}
}
