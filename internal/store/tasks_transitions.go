package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AckTask moves a delivered task to acknowledged on behalf of its recipient,
// records the audit event and queues a task.acknowledged notification to the
// sender, all in one transaction. Acknowledging an acknowledged task changes
// nothing (changed=false). A task party who is not the recipient gets
// ErrNotParty; other parties get ErrNotFound; any other state gives
// ErrWrongState together with the current task so callers can say why.
func (db *DB) AckTask(ctx context.Context, id uuid.UUID, caller string) (Task, bool, error) {
	return db.transition(ctx, id, caller, func(ctx context.Context, tx pgx.Tx, t Task) (Task, bool, error) {
		if t.RecipientODS != caller {
			return t, false, ErrNotParty
		}
		switch t.State {
		case TaskAcknowledged:
			return t, false, nil
		case TaskDelivered:
		default:
			return t, false, ErrWrongState
		}
		t, err := setStateTx(ctx, tx, t, caller, "acknowledged", TaskAcknowledged,
			`acknowledged_at = now(), finished_at = COALESCE(finished_at, now())`)
		if err != nil {
			return t, false, err
		}
		taskID := t.ID
		_, err = CreateNotificationTx(ctx, tx, Notification{
			RecipientODS: t.SenderODS, Kind: NotifyTaskAcknowledged, TaskID: &taskID, SubjectODS: t.RecipientODS,
			Data:        map[string]any{"task_id": t.ID.String(), "recipient_ods": t.RecipientODS},
			CoalesceKey: NotifyTaskAcknowledged + ":" + t.ID.String(),
			ExpiresAt:   t.UpdatedAt.Add(defaultNotificationMaxAge),
		})
		if err != nil {
			return t, false, err
		}
		return t, true, nil
	})
}

// CancelTask moves an accepted task to cancelled on behalf of its sender.
// Cancel and delivery are exclusive through the task's queue row: the
// cancel removes it only while no delivery claim holds it (and a claim only
// takes a row that is there), so a cancelled task is never posted and a
// task being posted is not cancelled: that gives ErrDeliveryInFlight, and
// the sender may try again once the attempt has finished. Cancelling a
// cancelled task changes nothing; the recipient gets ErrNotParty; any other
// state gives ErrWrongState with the current task.
func (db *DB) CancelTask(ctx context.Context, id uuid.UUID, caller string) (Task, bool, error) {
	return db.transition(ctx, id, caller, func(ctx context.Context, tx pgx.Tx, t Task) (Task, bool, error) {
		if t.SenderODS != caller {
			return t, false, ErrNotParty
		}
		switch t.State {
		case TaskCancelled:
			return t, false, nil
		case TaskAccepted:
		default:
			return t, false, ErrWrongState
		}
		var inFlight bool
		err := tx.QueryRow(ctx, `WITH d AS (DELETE FROM delivery_queue
				WHERE ref_id = $1 AND (claim_token IS NULL OR due_at <= now()) RETURNING 1)
			SELECT NOT EXISTS (SELECT 1 FROM d) AND EXISTS (SELECT 1 FROM delivery_queue WHERE ref_id = $1)`, id).Scan(&inFlight)
		if err != nil {
			return t, false, fmt.Errorf("dequeue task %s: %w", id, err)
		}
		if inFlight {
			return t, false, ErrDeliveryInFlight
		}
		t, err = setStateTx(ctx, tx, t, caller, "cancelled", TaskCancelled, `finished_at = now()`)
		return t, err == nil, err
	})
}

// ErrDeliveryInFlight is returned when a task cannot be cancelled because a
// delivery attempt holds it. It wraps ErrConflict.
var ErrDeliveryInFlight = fmt.Errorf("%w: a delivery attempt is in progress", ErrConflict)

type transitionFunc func(ctx context.Context, tx pgx.Tx, locked Task) (Task, bool, error)

// transition locks the task row (visible to caller only) and runs fn. On
// ErrWrongState and ErrNotParty the locked task is still returned.
func (db *DB) transition(ctx context.Context, id uuid.UUID, caller string, fn transitionFunc) (Task, bool, error) {
	var out Task
	var changed bool
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		// The queue row first, then the task: the order delivery records
		// in, so the two never deadlock.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM delivery_queue WHERE ref_id = $1 FOR UPDATE`, id); err != nil {
			return fmt.Errorf("lock queue row of task %s: %w", id, err)
		}
		t, err := scanTask(tx.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks
			WHERE id = $1 AND (sender_ods = $2 OR recipient_ods = $2) FOR UPDATE`, id, caller))
		if err != nil {
			return fmt.Errorf("lock task %s: %w", id, err)
		}
		out, changed, err = fn(ctx, tx, t)
		return err
	})
	if err != nil {
		return out, false, err
	}
	return out, changed, nil
}

// setStateTx updates the locked task to state (plus the extra SET clause)
// and appends the audit event.
func setStateTx(ctx context.Context, tx pgx.Tx, t Task, actor, action, state, extraSet string) (Task, error) {
	next, err := scanTask(tx.QueryRow(ctx, `UPDATE tasks SET state = $2, updated_at = now(), `+extraSet+`
		WHERE id = $1 RETURNING `+taskColumns, t.ID, state))
	if err != nil {
		return t, fmt.Errorf("set task %s %s: %w", t.ID, state, err)
	}
	if err := InsertTaskEvent(ctx, tx, t.ID, actor, action, t.State, state, nil); err != nil {
		return t, err
	}
	return next, nil
}
