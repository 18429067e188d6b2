package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ExpiredError is a task's last_error once it failed by age.
func ExpiredError(lastErr string) string {
	msg := "not delivered within its maximum age"
	if lastErr != "" {
		msg += " (last error: " + lastErr + ")"
	}
	return msg
}

// ExpireDeliveries fails up to limit open tasks and notifications whose
// expires_at has passed and that no live claim holds (a claimed one is
// failed by the claim that finds it expired), each task with its audit
// event and a task.failed notification to its sender. It returns how many
// of each it failed.
func (db *DB) ExpireDeliveries(ctx context.Context, limit int, ttl time.Duration) (tasks, notes int, err error) {
	rows, err := db.Pool.Query(ctx, `
		(SELECT 'task', t.id, t.recipient_ods, COALESCE(t.last_error, '') FROM tasks t
			JOIN delivery_queue q ON q.ref_id = t.id
			WHERE t.state = 'accepted' AND t.expires_at <= now() AND (q.claim_token IS NULL OR q.due_at <= now())
			LIMIT $1)
		UNION ALL
		(SELECT 'notification', n.id, n.recipient_ods, COALESCE(n.last_error, '') FROM notifications n
			JOIN delivery_queue q ON q.ref_id = n.id
			WHERE n.state = 'pending' AND n.expires_at <= now() AND (q.claim_token IS NULL OR q.due_at <= now())
			LIMIT $1)`, limit)
	if err != nil {
		return 0, 0, translate(fmt.Errorf("find expired deliveries: %w", err))
	}
	outs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Outcome, error) {
		o := Outcome{Result: Failed, Reason: ReasonExpired}
		err := r.Scan(&o.Kind, &o.ID, &o.Endpoint, &o.Error)
		o.Error = ExpiredError(o.Error)
		return o, err
	})
	if err != nil {
		return 0, 0, translate(fmt.Errorf("read expired deliveries: %w", err))
	}
	for _, o := range outs {
		if o.Kind == KindTask {
			tasks++
		} else {
			notes++
		}
	}
	if _, err := db.RecordOutcomes(ctx, outs, RecordOptions{NotificationTTL: ttl}); err != nil {
		return 0, 0, fmt.Errorf("expire deliveries: %w", err)
	}
	return tasks, notes, nil
}

// RepairQueue gives every open task and notification that lacks one a
// delivery_queue row, due at once, and returns how many it wrote. Rows are
// written in the same statement as their items, so this finds something
// only after a manual change to the database; it is cheap insurance that
// nothing accepted can sit undelivered unnoticed.
func (db *DB) RepairQueue(ctx context.Context) (int, error) {
	tag, err := db.Pool.Exec(ctx, `INSERT INTO delivery_queue (ref_id, kind, endpoint, priority)
		SELECT t.id, 'task', t.recipient_ods, CASE t.priority WHEN 'urgent' THEN 0 ELSE 1 END FROM tasks t
		WHERE t.state = 'accepted' AND NOT EXISTS (SELECT 1 FROM delivery_queue q WHERE q.ref_id = t.id)
		UNION ALL
		SELECT n.id, 'notification', n.recipient_ods, 2 FROM notifications n
		WHERE n.state = 'pending' AND n.recipient_ods IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM delivery_queue q WHERE q.ref_id = n.id)
		ON CONFLICT (ref_id) DO NOTHING`)
	if err != nil {
		return 0, translate(fmt.Errorf("repair delivery queue: %w", err))
	}
	return int(tag.RowsAffected()), nil
}

// failUndelivered fails, in tx, the open tasks and notifications addressed
// to the practices codes that no live claim holds, with reason; each task
// gets its audit event and its sender a task.failed notification. A
// delivery in flight at that moment finishes on its own; if it must try
// again, its next claim finds the practice inactive and fails it the same
// way.
func failUndelivered(ctx context.Context, tx pgx.Tx, codes []string, reason, msg string, ttl time.Duration) (int, error) {
	rows, err := tx.Query(ctx, `SELECT q.kind, q.ref_id, q.endpoint FROM delivery_queue q
		WHERE q.endpoint = ANY($1) AND (q.claim_token IS NULL OR q.due_at <= now())
		ORDER BY q.ref_id FOR UPDATE OF q`, codes)
	if err != nil {
		return 0, fmt.Errorf("find undelivered: %w", err)
	}
	outs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Outcome, error) {
		o := Outcome{Result: Failed, Reason: reason, Error: msg}
		return o, r.Scan(&o.Kind, &o.ID, &o.Endpoint)
	})
	if err != nil {
		return 0, fmt.Errorf("read undelivered: %w", err)
	}
	g := groupOutcomes(outs)
	var tasks, notes, sent int
	if len(g.taskFailed) > 0 {
		if err := taskFinalStmt(TaskFailed, g.taskFailed, ttl, &tasks, &sent).run(ctx, tx); err != nil {
			return 0, fmt.Errorf("fail undelivered tasks: %w", err)
		}
	}
	if len(g.noteFinal) > 0 {
		if err := notificationFinalStmt(g.noteFinal, func(r pgx.Row) error { return r.Scan(&notes) }).run(ctx, tx); err != nil {
			return 0, fmt.Errorf("fail undelivered notifications: %w", err)
		}
	}
	return tasks, nil
}

// deactivate ends the membership of the active practices among codes in
// tx: it marks them inactive, revokes their API keys and fails what was
// waiting to be delivered to them (reason recipient_left, senders told).
// It returns the practices it deactivated and the tasks it failed.
func deactivate(ctx context.Context, tx pgx.Tx, codes []string, ttl time.Duration) ([]string, int, error) {
	rows, err := tx.Query(ctx, `UPDATE practices SET active = false, deactivated_at = now(), updated_at = now()
		WHERE active AND ods_code = ANY($1) RETURNING ods_code`, codes)
	if err != nil {
		return nil, 0, fmt.Errorf("deactivate practices: %w", err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(left) == 0 {
		return left, 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = now()
		WHERE ods_code = ANY($1) AND revoked_at IS NULL`, left); err != nil {
		return nil, 0, fmt.Errorf("revoke keys of departed practices: %w", err)
	}
	failed, err := failUndelivered(ctx, tx, left, ReasonRecipientLeft,
		"the recipient practice left the federation before delivery", ttl)
	return left, failed, err
}

// Departure is what a practice leaving the federation changed.
type Departure struct {
	Deactivated []string
	FailedTasks int
}

// DeactivatePractices ends the membership of the given practices (see
// deactivate); practices already inactive are left as they are, unknown
// ones give ErrNotFound.
func (db *DB) DeactivatePractices(ctx context.Context, codes []string) (Departure, error) {
	var d Departure
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		var known int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM practices WHERE ods_code = ANY($1)`, codes).Scan(&known); err != nil {
			return err
		}
		if known != len(codes) {
			return fmt.Errorf("deactivate %v: %w", codes, ErrNotFound)
		}
		var err error
		d.Deactivated, d.FailedTasks, err = deactivate(ctx, tx, codes, 0)
		return err
	})
	return d, err
}

// RedeliverFilter selects failed tasks to send again: by id, or by
// recipient and failure time.
type RedeliverFilter struct {
	IDs         []uuid.UUID
	Recipient   string
	FailedSince time.Time
}

// Redelivery is one failed task a redelivery would (or did) send again.
type Redelivery struct {
	ID           uuid.UUID
	SenderODS    string
	RecipientODS string
	FailedAt     time.Time
	LastError    string
}

// RedeliverTasks finds the failed tasks f selects that can be sent again
// (patient data not yet redacted, recipient still an active member) and,
// unless dryRun, reopens them: state accepted, a fresh maximum age from
// now, a 'redelivered' audit event by actor, and a queue row due at once.
// The task keeps its id, so the receiver sees the same Idempotency-Key;
// the sender is notified of the new outcome (its notification is keyed by
// the redelivery count).
func (db *DB) RedeliverTasks(ctx context.Context, f RedeliverFilter, maxAge time.Duration, actor string, dryRun bool) ([]Redelivery, error) {
	var out []Redelivery
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT t.id, t.sender_ods, t.recipient_ods, t.finished_at, COALESCE(t.last_error, '')
			FROM tasks t JOIN practices p ON p.ods_code = t.recipient_ods AND p.active
			WHERE t.state = 'failed' AND t.redacted_at IS NULL
			  AND (COALESCE(cardinality($1::uuid[]), 0) = 0 OR t.id = ANY($1))
			  AND ($2 = '' OR t.recipient_ods = $2)
			  AND ($3::timestamptz IS NULL OR t.finished_at >= $3)
			ORDER BY t.finished_at, t.id FOR UPDATE OF t`, f.IDs, f.Recipient, timePtr(f.FailedSince))
		if err != nil {
			return fmt.Errorf("select failed tasks: %w", err)
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Redelivery, error) {
			var d Redelivery
			return d, r.Scan(&d.ID, &d.SenderODS, &d.RecipientODS, &d.FailedAt, &d.LastError)
		})
		if err != nil || dryRun || len(out) == 0 {
			return err
		}
		ids := make([]uuid.UUID, len(out))
		for i, d := range out {
			ids[i] = d.ID
		}
		_, err = tx.Exec(ctx, `WITH t AS (
				UPDATE tasks SET state = 'accepted', finished_at = NULL, redeliveries = redeliveries + 1,
					expires_at = now() + $2::interval, updated_at = now()
				WHERE id = ANY($1) AND state = 'failed' RETURNING id, recipient_ods, priority, redeliveries),
			e AS (INSERT INTO task_events (task_id, actor, action, from_state, to_state, detail)
				SELECT id, $3, 'redelivered', 'failed', 'accepted', jsonb_build_object('redelivery', redeliveries) FROM t)
			INSERT INTO delivery_queue (ref_id, kind, endpoint, priority)
			SELECT id, 'task', recipient_ods, CASE priority WHEN 'urgent' THEN 0 ELSE 1 END FROM t
			ON CONFLICT (ref_id) DO UPDATE SET due_at = now(), claim_token = NULL`, ids, maxAge, actor)
		if err != nil {
			return fmt.Errorf("reopen failed tasks: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redeliver tasks: %w", err)
	}
	return out, nil
}

// DepartureImpact is what deactivating practices would change: the tasks
// addressed to them still to be delivered (failed with recipient_left;
// those in flight finish first) and their API keys still valid.
type DepartureImpact struct {
	WaitingTasks, InFlight, Keys int
}

// ImpactOfLeaving counts what DeactivatePractices would do to codes.
func (db *DB) ImpactOfLeaving(ctx context.Context, codes []string) (DepartureImpact, error) {
	var d DepartureImpact
	err := db.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM delivery_queue WHERE kind = 'task' AND endpoint = ANY($1) AND (claim_token IS NULL OR due_at <= now())),
		(SELECT count(*) FROM delivery_queue WHERE endpoint = ANY($1) AND claim_token IS NOT NULL AND due_at > now()),
		(SELECT count(*) FROM api_keys WHERE ods_code = ANY($1) AND revoked_at IS NULL)`, codes).Scan(&d.WaitingTasks, &d.InFlight, &d.Keys)
	if err != nil {
		return d, translate(fmt.Errorf("impact of leaving: %w", err))
	}
	return d, nil
}

// SetDeliveryCap sets a practice's own cap on deliveries in flight to its
// endpoint (nil: the federation default, GPFED_ENDPOINT_MAX_IN_FLIGHT).
func (db *DB) SetDeliveryCap(ctx context.Context, ods string, capacity *int) error {
	tag, err := db.Pool.Exec(ctx, `UPDATE practices SET delivery_max_in_flight = $2, updated_at = now() WHERE ods_code = $1`, ods, capacity)
	if err != nil {
		return translate(fmt.Errorf("set delivery cap of %s: %w", ods, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("practice %s: %w", ods, ErrNotFound)
	}
	return nil
}
