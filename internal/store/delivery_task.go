package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Delivery's view of task states (spelled out here so delivery does not
// depend on the order in which the API's constants land).
const (
	stAccepted  = "accepted"
	stDelivered = "delivered"
	stFailed    = "failed"
)

// ActorSystem is the audit actor for changes gpfed makes on its own.
const ActorSystem = "system"

// DeliveryTask is a task with what its delivery needs: the clinical content
// (for the recipient only) and the recipient's webhook channel.
type DeliveryTask struct {
	ID                        uuid.UUID
	SenderODS, RecipientODS   string
	PatientNHSNumber          string
	Type, Priority            string
	Subject, Body             string
	DueDate                   string // YYYY-MM-DD or ""
	State                     string
	Attempts                  int
	LastError                 string
	CreatedAt, ExpiresAt      time.Time
	WebhookURL, WebhookSecret string
	// WebhookSecretPrevious is the replaced secret while a rotation keeps it valid, else "".
	WebhookSecretPrevious string
	// Notification is the sender's delivered/failed notification this
	// delivery created (uuid.Nil if none), for the caller to enqueue.
	Notification uuid.UUID
}

// DeliverTask locks the task row (SELECT ... FOR UPDATE), calls try while
// holding the lock, and applies its verdict in the same transaction.
//
// Holding the lock across the (bounded) webhook POST is what makes delivery
// and cancellation exclusive: the API's cancel also locks the row and only
// cancels an 'accepted' task, so either the cancel commits first (and try is
// never called: the task is no longer accepted) or the delivery commits
// first (and the cancel then sees 'delivered' and refuses). A cancelled task
// is never posted, and a delivered task is never cancelled. The same lock
// serialises duplicate asynq deliveries of one task.
//
// If the task is not 'accepted', try is not called and the zero Attempt is
// returned with the task's current state.
func (db *DB) DeliverTask(ctx context.Context, id uuid.UUID, opt DeliveryOptions, try func(ctx context.Context, t DeliveryTask) Attempt) (DeliveryTask, Attempt, error) {
	var t DeliveryTask
	var a Attempt
	err := db.lockedTx(ctx, lockDeliveryTask(id, &t), func() (*stmt, error) {
		if t.State != stAccepted {
			return dropOutbox(OutboxTask, id), nil // nothing left to deliver
		}
		a = try(ctx, t)
		return taskVerdict(&t, a, opt)
	})
	if err != nil {
		return t, a, fmt.Errorf("deliver task %s: %w", id, err)
	}
	return t, a, nil
}

// dropOutbox deletes the outbox row of an item whose queue entry is being
// (or has been) processed.
func dropOutbox(kind string, id uuid.UUID) *stmt {
	return &stmt{sql: `DELETE FROM outbox WHERE ref_id = $1 AND kind = $2`, args: []any{id, kind}}
}

// webhookColumns are the recipient practice p's webhook URL, its secret,
// and the replaced secret while a rotation keeps it valid (else empty):
// what both delivery lock queries select.
const webhookColumns = `COALESCE(p.webhook_url, ''), COALESCE(p.webhook_secret, ''),
	CASE WHEN p.webhook_secret_previous_until > now() THEN p.webhook_secret_previous ELSE '' END`

func lockDeliveryTask(id uuid.UUID, t *DeliveryTask) stmt {
	return stmt{sql: `SELECT t.id, t.sender_ods, t.recipient_ods, COALESCE(t.patient_nhs_number, ''), t.type, t.priority,
			t.subject, t.body, t.due_date, t.state, t.attempts, COALESCE(t.last_error, ''), t.created_at, t.expires_at,
			` + webhookColumns + `
		FROM tasks t JOIN practices p ON p.ods_code = t.recipient_ods
		WHERE t.id = $1 FOR UPDATE OF t`, args: []any{id}, scan: func(row pgx.Row) error {
		var due *time.Time
		err := row.Scan(&t.ID, &t.SenderODS, &t.RecipientODS, &t.PatientNHSNumber, &t.Type, &t.Priority,
			&t.Subject, &t.Body, &due, &t.State, &t.Attempts, &t.LastError, &t.CreatedAt, &t.ExpiresAt,
			&t.WebhookURL, &t.WebhookSecret, &t.WebhookSecretPrevious)
		if err != nil {
			return fmt.Errorf("lock task: %w", err)
		}
		if due != nil {
			t.DueDate = due.Format(time.DateOnly)
		}
		return nil
	}}
}

// taskVerdict is the statement that applies a to the locked, accepted task.
func taskVerdict(t *DeliveryTask, a Attempt, opt DeliveryOptions) (*stmt, error) {
	tried := 0
	if a.Tried {
		tried = 1
	}
	t.Attempts += tried
	switch a.Result {
	case AttemptDelivered:
		t.State = stDelivered
		s := outcomeStmt(t, tried, a.Channel, map[string]any{"channel": a.Channel, "attempts": t.Attempts}, opt)
		return &s, nil
	case AttemptRetry:
		// The queue entry now exists (this attempt came from it), so the
		// outbox row has done its job.
		return &stmt{sql: `WITH o AS (DELETE FROM outbox WHERE ref_id = $1 AND kind = 'task')
			UPDATE tasks SET attempts = attempts + $2, last_error = $3, updated_at = $4
			WHERE id = $1 AND state = 'accepted'`, args: []any{t.ID, tried, a.Error, opt.now()}}, nil
	case AttemptFailed:
		s := failStmt(t, tried, a, opt)
		return &s, nil
	}
	return nil, fmt.Errorf("unknown attempt result %d", a.Result)
}

// failStmt moves an accepted task to failed, audits it and tells the sender.
func failStmt(t *DeliveryTask, tried int, a Attempt, opt DeliveryOptions) stmt {
	t.State = stFailed
	detail := map[string]any{"reason": a.Reason, "error": a.Error, "attempts": t.Attempts}
	if a.Status != 0 {
		detail["status"] = a.Status
	}
	return outcomeStmt(t, tried, a.Error, detail, opt)
}

// outcomeUpdates set an accepted task delivered ($4: the channel) or failed
// ($4: the last error); outcomeTail audits it, creates the sender's
// notification with its outbox row and drops the task's own outbox row, in
// the same statement (one round trip).
var outcomeUpdates = map[string]string{
	stDelivered: `UPDATE tasks SET state = 'delivered', channel = $4, attempts = attempts + $2,
		last_error = NULL, delivered_at = $3, updated_at = $3 WHERE id = $1 AND state = 'accepted' RETURNING id`,
	stFailed: `UPDATE tasks SET state = 'failed', attempts = attempts + $2, last_error = $4,
		finished_at = $3, updated_at = $3 WHERE id = $1 AND state = 'accepted' RETURNING id`,
}

const outcomeTail = `,
	e AS (INSERT INTO task_events (task_id, actor, action, from_state, to_state, detail)
		SELECT id, 'system', $5::text, 'accepted', $5::text, $6::jsonb FROM u),
	n AS (INSERT INTO notifications (id, recipient_ods, kind, task_id, subject_ods, data, coalesce_key, expires_at)
		SELECT $7::uuid, $8::text, $9::text, id, $10::text, $11::jsonb, $12::text, $13::timestamptz FROM u
		ON CONFLICT (coalesce_key) DO NOTHING RETURNING id),
	o AS (INSERT INTO outbox (kind, ref_id, relay_after) SELECT 'notification', id, now() + $14::interval FROM n),
	d AS (DELETE FROM outbox WHERE ref_id = $1 AND kind = 'task')
	SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM n)`

// outcomeStmt moves the task to t.State (delivered or failed) with its
// audit event and the sender's notification, and sets t.Notification when
// that notification is new (coalesced repeats create nothing).
func outcomeStmt(t *DeliveryTask, tried int, channelOrError string, detail map[string]any, opt DeliveryOptions) stmt {
	kind := NotifyTaskDelivered
	if t.State == stFailed {
		kind = NotifyTaskFailed
	}
	data := map[string]any{"task_id": t.ID.String(), "recipient_ods": t.RecipientODS}
	for k, v := range detail {
		data[k] = v
	}
	noteID := uuid.New()
	return stmt{sql: `WITH u AS (` + outcomeUpdates[t.State] + `)` + outcomeTail,
		args: []any{t.ID, tried, opt.now(), channelOrError, t.State, detail,
			noteID, t.SenderODS, kind, t.RecipientODS, data, kind + ":" + t.ID.String(), opt.notificationExpiry(),
			opt.RelayDelay},
		scan: func(row pgx.Row) error {
			var updated, created int
			if err := row.Scan(&updated, &created); err != nil {
				return fmt.Errorf("record task %s %s: %w", t.ID, t.State, err)
			}
			if updated == 0 {
				return fmt.Errorf("record task %s %s: %w", t.ID, t.State, ErrWrongState)
			}
			if created == 1 {
				t.Notification = noteID
			}
			return nil
		}}
}
