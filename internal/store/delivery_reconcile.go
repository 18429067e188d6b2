package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// OpenDelivery is an accepted task or pending notification that has no
// outbox row, so it should have an entry in the queue.
type OpenDelivery struct {
	Kind      string // OutboxTask | OutboxNotification
	ID        uuid.UUID
	CreatedAt time.Time
}

// UnqueuedDeliveries lists open, unexpired tasks and notifications created
// before before that have no outbox row, oldest first, after the keyset
// position (createdAfter, idAfter) (zero values: from the start).
func (db *DB) UnqueuedDeliveries(ctx context.Context, before, now time.Time, createdAfter time.Time, idAfter uuid.UUID, limit int) ([]OpenDelivery, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT kind, id, created_at FROM (
			SELECT 'task' AS kind, t.id, t.created_at FROM tasks t
			WHERE t.state = 'accepted' AND t.created_at < $1 AND t.expires_at > $2
			  AND (t.created_at, t.id) > ($3, $4)
			  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.ref_id = t.id AND o.kind = 'task')
			UNION ALL
			SELECT 'notification', n.id, n.created_at FROM notifications n
			WHERE n.state = 'pending' AND n.created_at < $1 AND n.expires_at > $2
			  AND (n.created_at, n.id) > ($3, $4)
			  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.ref_id = n.id AND o.kind = 'notification')
		) open ORDER BY created_at, id LIMIT $5`, before, now, createdAfter, idAfter, limit)
	if err != nil {
		return nil, translate(fmt.Errorf("list unqueued deliveries: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpenDelivery, error) {
		var d OpenDelivery
		return d, r.Scan(&d.Kind, &d.ID, &d.CreatedAt)
	})
	if err != nil {
		return nil, translate(fmt.Errorf("list unqueued deliveries: %w", err))
	}
	return out, nil
}

// RequeueDelivery writes an outbox row for an open task or notification
// unless one is already waiting; it reports whether it wrote one.
func (db *DB) RequeueDelivery(ctx context.Context, kind string, id uuid.UUID) (bool, error) {
	tag, err := db.Pool.Exec(ctx, `INSERT INTO outbox (kind, ref_id)
		SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE ref_id = $2 AND kind = $1)`, kind, id)
	if err != nil {
		return false, translate(fmt.Errorf("requeue %s %s: %w", kind, id, err))
	}
	return tag.RowsAffected() == 1, nil
}

// ExpireTasks fails up to limit accepted tasks whose expires_at has passed,
// each with its audit event and a task.failed notification to the sender.
// Tasks locked by an in-flight delivery are skipped (the delivery decides).
func (db *DB) ExpireTasks(ctx context.Context, opt DeliveryOptions, limit int) (int, error) {
	var n int
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, sender_ods, recipient_ods, attempts, COALESCE(last_error, '')
			FROM tasks WHERE state = 'accepted' AND expires_at <= $1
			ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`, opt.now(), limit)
		if err != nil {
			return fmt.Errorf("select expired tasks: %w", err)
		}
		type expired struct {
			t       DeliveryTask
			lastErr string
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (expired, error) {
			var e expired
			return e, r.Scan(&e.t.ID, &e.t.SenderODS, &e.t.RecipientODS, &e.t.Attempts, &e.lastErr)
		})
		if err != nil {
			return fmt.Errorf("read expired tasks: %w", err)
		}
		for _, e := range list {
			e.t.State = stAccepted
			if err := failStmt(&e.t, 0, ExpiredAttempt(e.lastErr), opt).run(ctx, tx); err != nil {
				return fmt.Errorf("expire task %s: %w", e.t.ID, err)
			}
		}
		n = len(list)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expire tasks: %w", err)
	}
	return n, nil
}

// ExpiredAttempt is the verdict for an item that exceeded its maximum age.
func ExpiredAttempt(lastErr string) Attempt {
	msg := "not delivered within its maximum age"
	if lastErr != "" {
		msg += " (last error: " + lastErr + ")"
	}
	return Attempt{Result: AttemptFailed, Reason: "expired", Error: msg}
}

// ExpireNotifications fails pending notifications past expires_at, skipping
// those an in-flight delivery holds.
func (db *DB) ExpireNotifications(ctx context.Context, now time.Time) (int, error) {
	tag, err := db.Pool.Exec(ctx, `UPDATE notifications SET state = 'failed', finished_at = $1,
			last_error = 'not delivered within its maximum age' || COALESCE(' (last error: ' || last_error || ')', '')
		WHERE id IN (SELECT id FROM notifications WHERE state = 'pending' AND expires_at <= $1
			FOR UPDATE SKIP LOCKED)`, now)
	if err != nil {
		return 0, translate(fmt.Errorf("expire notifications: %w", err))
	}
	return int(tag.RowsAffected()), nil
}
