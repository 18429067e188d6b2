package store

import (
	"context"
	"fmt"
	"time"
)

// RedactFinishedTasks blanks the patient data of up to limit tasks that
// finished (acknowledged, failed or cancelled) before cutoff: NHS number,
// subject and body, plus the idempotency key and request hash. Each gets
// redacted_at and a 'redacted' audit event by 'system' in the same
// statement; rows another transaction holds are left for the next call. It
// returns how many it redacted. Delivered tasks still waiting for their
// acknowledgement are open work and are never redacted.
func (db *DB) RedactFinishedTasks(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `WITH r AS (
			SELECT id FROM tasks
			WHERE redacted_at IS NULL AND state IN ('acknowledged', 'failed', 'cancelled') AND finished_at < $1
			ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED),
		u AS (
			UPDATE tasks t SET patient_nhs_number = NULL, subject = '', body = '', idempotency_key = NULL,
				request_hash = NULL, redacted_at = now(), updated_at = now()
			FROM r WHERE t.id = r.id RETURNING t.id, t.state),
		e AS (
			INSERT INTO task_events (task_id, actor, action, from_state, to_state, detail)
			SELECT id, 'system', 'redacted', state, state, jsonb_build_object('fields', 'patient_nhs_number, subject, body')
			FROM u)
		SELECT count(*) FROM u`, cutoff, limit).Scan(&n)
	if err != nil {
		return 0, translate(fmt.Errorf("redact finished tasks: %w", err))
	}
	return n, nil
}

// PruneHistory deletes up to limit slot change records made before cutoff,
// and up to limit finished (delivered or failed) notifications that
// finished before cutoff, and returns how many of each it deleted.
// Pending notifications, tasks and their audit trails are never touched.
func (db *DB) PruneHistory(ctx context.Context, cutoff time.Time, limit int) (changes, notifications int, err error) {
	err = db.Pool.QueryRow(ctx, `WITH c AS (
			DELETE FROM slot_changes WHERE id IN (
				SELECT id FROM slot_changes WHERE changed_at < $1 ORDER BY changed_at LIMIT $2)
			RETURNING 1),
		n AS (
			DELETE FROM notifications WHERE id IN (
				SELECT id FROM notifications WHERE created_at < $1 AND state <> 'pending' AND finished_at < $1 LIMIT $2)
			RETURNING 1)
		SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM n)`, cutoff, limit).Scan(&changes, &notifications)
	if err != nil {
		return 0, 0, translate(fmt.Errorf("prune history: %w", err))
	}
	return changes, notifications, nil
}
