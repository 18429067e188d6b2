package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// InsertTaskEvent appends to the audit trail inside tx. fromState and
// toState may be "" (stored as NULL); detail may be nil. detail must never
// hold patient data.
func InsertTaskEvent(ctx context.Context, tx pgx.Tx, taskID uuid.UUID, actor, action, fromState, toState string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO task_events (task_id, actor, action, from_state, to_state, detail)
		VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6)`,
		taskID, actor, action, fromState, toState, detail)
	if err != nil {
		return translate(fmt.Errorf("insert task event %s for %s: %w", action, taskID, err))
	}
	return nil
}
