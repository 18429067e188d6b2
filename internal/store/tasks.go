package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Task states (the tasks.state CHECK constraint).
const (
	TaskAccepted     = "accepted"
	TaskDelivered    = "delivered"
	TaskAcknowledged = "acknowledged"
	TaskFailed       = "failed"
	TaskCancelled    = "cancelled"
)

var (
	// ErrIdempotencyMismatch is returned when an idempotency key is reused
	// with a different request. It wraps ErrConflict.
	ErrIdempotencyMismatch = fmt.Errorf("%w: idempotency key reused with a different request", ErrConflict)
	// ErrRecipientNotMember is returned when the recipient practice is
	// unknown or no longer an active member of the federation.
	ErrRecipientNotMember = errors.New("recipient is not an active federation member")
	// ErrWrongState is returned when a transition is not allowed from the
	// task's current state. It wraps ErrConflict.
	ErrWrongState = fmt.Errorf("%w: transition not allowed from the current state", ErrConflict)
	// ErrNotParty is returned when the caller can see a task but is not the
	// party allowed to perform the action (sender acking, recipient cancelling).
	ErrNotParty = errors.New("caller is not the party allowed to do this")
)

// Task is a task sent from one practice to another. PatientNHSNumber and
// Body are patient data: they go to the sender and recipient only, never to
// logs, metrics or queue payloads.
type Task struct {
	ID               uuid.UUID
	SenderODS        string
	RecipientODS     string
	PatientNHSNumber string
	Type, Priority   string
	Subject, Body    string
	DueDate          string // YYYY-MM-DD or ""
	State, Channel   string
	Attempts         int
	LastError        string
	IdempotencyKey   string
	RequestHash      []byte
	CreatedAt        time.Time
	UpdatedAt        time.Time
	DeliveredAt      *time.Time
	AcknowledgedAt   *time.Time
	FinishedAt       *time.Time
	ExpiresAt        time.Time
	// RedactedAt is when retention blanked the patient data (NHS number,
	// subject, body); nil while the task keeps it.
	RedactedAt *time.Time
	// Events is the audit trail, where a method says it fills it in.
	Events []TaskEvent
}

// TaskEvent is one row of a task's append-only audit trail.
type TaskEvent struct {
	ID        int64
	At        time.Time
	Actor     string
	Action    string
	FromState string
	ToState   string
	Detail    map[string]any
}

// PageKey is the position after which the next page of a newest-first list
// starts.
type PageKey struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

const taskColumns = `id, sender_ods, recipient_ods, COALESCE(patient_nhs_number, ''), type, priority, subject, body,
	COALESCE(to_char(due_date, 'YYYY-MM-DD'), ''), state, COALESCE(channel, ''), attempts, COALESCE(last_error, ''),
	COALESCE(idempotency_key, ''), request_hash, created_at, updated_at, delivered_at, acknowledged_at,
	finished_at, expires_at, redacted_at`

// taskFields are the scan targets for taskColumns, in order.
func taskFields(t *Task) []any {
	return []any{&t.ID, &t.SenderODS, &t.RecipientODS, &t.PatientNHSNumber, &t.Type, &t.Priority,
		&t.Subject, &t.Body, &t.DueDate, &t.State, &t.Channel, &t.Attempts, &t.LastError,
		&t.IdempotencyKey, &t.RequestHash, &t.CreatedAt, &t.UpdatedAt, &t.DeliveredAt, &t.AcknowledgedAt,
		&t.FinishedAt, &t.ExpiresAt, &t.RedactedAt}
}

func scanTask(row pgx.Row) (Task, error) {
	var t Task
	err := row.Scan(taskFields(&t)...)
	return t, err
}

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

// TaskResult is the outcome of accepting one task of a batch: the task
// (new, or the earlier one an idempotency key replays) and whether it was
// created, or why it was not (ErrRecipientNotMember, ErrIdempotencyMismatch,
// or the database's error for that task).
type TaskResult struct {
	Task    Task
	Created bool
	Err     error
}

// CreateTask accepts one task; see CreateTasks.
func (db *DB) CreateTask(ctx context.Context, t Task) (Task, bool, error) {
	res, err := db.CreateTasks(ctx, []Task{t})
	if err != nil {
		return Task{}, false, err
	}
	return res[0].Task, res[0].Created, res[0].Err
}

// TaskIntake is a task to accept with the access record of the API request
// that asks for it (nil: none to write). The record is written in the
// commit that creates the task, and only if it does: the request then
// waits for one commit, not two, and a task is never stored without its
// trace. The caller sets the record as it will answer (status, the task's
// id among the resource ids); a task that is not created leaves the
// request's record to its caller.
type TaskIntake struct {
	Task   Task
	Access *AccessRecord
}

// CreateTasks accepts a batch of tasks; see AcceptTasks.
func (db *DB) CreateTasks(ctx context.Context, ts []Task) ([]TaskResult, error) {
	in := make([]TaskIntake, len(ts))
	for i, t := range ts {
		in[i].Task = t
	}
	return db.AcceptTasks(ctx, in)
}

// AcceptTasks accepts a batch of tasks in one statement, so one round trip
// and one commit (group commit: the API gathers concurrent requests): each
// task in state accepted, its "accepted" audit event (actor: the sender),
// its delivery_queue row, due at once, and its access record when it has
// one, only if the recipient is an active member. Every field but the
// generated ones must be set by the caller. A new task comes back with
// Events holding its accepted event.
//
// A task whose sender already used its IdempotencyKey stores nothing: it
// comes back as the existing task with Created false when RequestHash
// matches, else with ErrIdempotencyMismatch. Concurrent requests with the
// same key are serialised by the unique (sender_ods, idempotency_key)
// index. If the batch statement fails for a reason other than the database
// being unavailable, each task is tried alone, so one bad task fails alone.
// The error return is for the batch as a whole (database unavailable).
func (db *DB) AcceptTasks(ctx context.Context, in []TaskIntake) ([]TaskResult, error) {
	created, err := db.insertTasks(ctx, in)
	if err != nil && len(in) > 1 && !errors.Is(translate(err), ErrUnavailable) {
		return db.acceptEach(ctx, in), nil
	}
	if err != nil {
		return nil, translate(fmt.Errorf("create tasks: %w", err))
	}
	out := make([]TaskResult, len(in))
	for i, x := range in {
		if c, ok := created[x.Task.ID]; ok {
			out[i] = TaskResult{Task: c, Created: true}
			continue
		}
		prev, err := db.explainNotInserted(ctx, x.Task)
		if err != nil {
			err = fmt.Errorf("create task: %w", err)
		}
		out[i] = TaskResult{Task: prev, Err: err}
	}
	return out, nil
}

// acceptEach accepts the tasks one statement each, after a batch failed.
func (db *DB) acceptEach(ctx context.Context, in []TaskIntake) []TaskResult {
	out := make([]TaskResult, len(in))
	for i, x := range in {
		res, err := db.AcceptTasks(ctx, in[i:i+1])
		if err != nil {
			out[i] = TaskResult{Task: x.Task, Err: err}
			continue
		}
		out[i] = res[0]
	}
	return out
}

// taskAccess is an access record written with the task it names.
type taskAccess struct {
	AccessRecord
	TaskID uuid.UUID `json:"task_id"`
}

// insertTasks writes the batch's new tasks, their events, their queue rows
// and their access records in one statement and returns the tasks it
// created by id.
func (db *DB) insertTasks(ctx context.Context, in []TaskIntake) (map[uuid.UUID]Task, error) {
	n := len(in)
	ids := make([]uuid.UUID, n)
	senders, recipients, nhs, types, prios := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	subjects, bodies, dues, keys := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	hashes := make([][]byte, n)
	expires := make([]time.Time, n)
	access := []taskAccess{} // "[]", not null, when none
	now := time.Now()
	for i, x := range in {
		t := x.Task
		ids[i], senders[i], recipients[i], nhs[i], types[i], prios[i] = t.ID, t.SenderODS, t.RecipientODS, t.PatientNHSNumber, t.Type, t.Priority
		subjects[i], bodies[i], dues[i], keys[i], hashes[i], expires[i] = t.Subject, t.Body, t.DueDate, t.IdempotencyKey, t.RequestHash, t.ExpiresAt
		if x.Access != nil {
			access = append(access, taskAccess{AccessRecord: accessRow(*x.Access, now), TaskID: t.ID})
		}
	}
	accessJSON, err := json.Marshal(access)
	if err != nil {
		return nil, fmt.Errorf("create tasks: access records: %w", err)
	}
	rows, err := db.Pool.Query(ctx, `WITH i AS (
			SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
				$8::text[], $9::text[], $10::text[], $11::bytea[], $12::timestamptz[]) WITH ORDINALITY
				AS i(id, sender, recipient, nhs, type, priority, subject, body, due, key, hash, expires, ord)),
		t AS (
			INSERT INTO tasks (id, sender_ods, recipient_ods, patient_nhs_number, type, priority,
				subject, body, due_date, idempotency_key, request_hash, expires_at)
			SELECT i.id, i.sender, i.recipient, i.nhs, i.type, i.priority, i.subject, i.body,
				NULLIF(i.due, '')::date, NULLIF(i.key, ''), i.hash, i.expires
			FROM i WHERE EXISTS (SELECT 1 FROM practices WHERE ods_code = i.recipient AND active)
			ORDER BY i.ord -- of two requests with one key, the earlier wins
			ON CONFLICT (sender_ods, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
			RETURNING *),
		e AS (
			INSERT INTO task_events (task_id, actor, action, to_state)
			SELECT id, sender_ods, 'accepted', 'accepted' FROM t
			RETURNING task_id, id AS event_id, at AS event_at),
		q AS (INSERT INTO delivery_queue (ref_id, kind, endpoint, priority)
			SELECT id, 'task', recipient_ods, CASE priority WHEN 'urgent' THEN 0 ELSE 1 END FROM t),
		a AS (`+accessInsert("$13", "task_id uuid")+`
			WHERE r.task_id IN (SELECT id FROM t) ORDER BY r.ordinality)
		SELECT `+taskColumns+`, e.event_id, e.event_at FROM t JOIN e ON e.task_id = t.id`,
		ids, senders, recipients, nhs, types, prios, subjects, bodies, dues, keys, hashes, expires, accessJSON)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[uuid.UUID]Task, n)
	for rows.Next() {
		var t Task
		ev := TaskEvent{Action: "accepted", ToState: TaskAccepted, Detail: map[string]any{}}
		if err := rows.Scan(append(taskFields(&t), &ev.ID, &ev.At)...); err != nil {
			return nil, err
		}
		ev.Actor = t.SenderODS
		t.Events = []TaskEvent{ev}
		out[t.ID] = t
	}
	return out, rows.Err()
}

// explainNotInserted finds why insertTask wrote nothing: the recipient is
// not an active member, or the key replays an earlier request (the earlier
// task if the request is the same, ErrIdempotencyMismatch if not).
func (db *DB) explainNotInserted(ctx context.Context, t Task) (Task, error) {
	var active bool
	err := db.Pool.QueryRow(ctx, `SELECT active FROM practices WHERE ods_code = $1`, t.RecipientODS).Scan(&active)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !active) {
		return Task{}, ErrRecipientNotMember
	}
	if err != nil {
		return Task{}, translate(fmt.Errorf("look up recipient: %w", err))
	}
	prev, err := db.FindTaskByIdempotencyKey(ctx, t.SenderODS, t.IdempotencyKey)
	if err != nil {
		return Task{}, fmt.Errorf("load task for idempotency key: %w", err)
	}
	if string(prev.RequestHash) != string(t.RequestHash) {
		return Task{}, ErrIdempotencyMismatch
	}
	return prev, nil
}

// FindTaskByIdempotencyKey returns the sender's task created with key.
func (db *DB) FindTaskByIdempotencyKey(ctx context.Context, sender, key string) (Task, error) {
	t, err := scanTask(db.Pool.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks
		WHERE sender_ods = $1 AND idempotency_key = $2`, sender, key))
	if err != nil {
		return Task{}, translate(fmt.Errorf("find task by idempotency key: %w", err))
	}
	return t, nil
}

// GetTaskFor returns a task and its audit trail (oldest first) when party is
// its sender or recipient; anyone else gets ErrNotFound.
func (db *DB) GetTaskFor(ctx context.Context, id uuid.UUID, party string) (Task, []TaskEvent, error) {
	t, err := scanTask(db.Pool.QueryRow(ctx, `SELECT `+taskColumns+` FROM tasks
		WHERE id = $1 AND (sender_ods = $2 OR recipient_ods = $2)`, id, party))
	if err != nil {
		return Task{}, nil, translate(fmt.Errorf("get task %s: %w", id, err))
	}
	events, err := db.TaskEvents(ctx, id)
	if err != nil {
		return Task{}, nil, err
	}
	return t, events, nil
}

// TaskEvents returns the audit trail of a task, oldest first.
func (db *DB) TaskEvents(ctx context.Context, id uuid.UUID) ([]TaskEvent, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, at, actor, action, COALESCE(from_state, ''), COALESCE(to_state, ''), detail
		FROM task_events WHERE task_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, translate(fmt.Errorf("list events of task %s: %w", id, err))
	}
	defer rows.Close()
	events := []TaskEvent{}
	for rows.Next() {
		var e TaskEvent
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.FromState, &e.ToState, &e.Detail); err != nil {
			return nil, translate(fmt.Errorf("scan event of task %s: %w", id, err))
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(fmt.Errorf("list events of task %s: %w", id, err))
	}
	return events, nil
}

// taskList is one newest-first list of tasks: the column naming the practice
// whose list it is, and the column of the practice at the other end. Only the
// values below exist, so no column name in a list query comes from a request.
type taskList struct{ name, owner, other string }

var (
	inboxList = taskList{name: "inbox", owner: "recipient_ods", other: "sender_ods"}
	sentList  = taskList{name: "sent tasks", owner: "sender_ods", other: "recipient_ods"}
)

// ListInbox returns up to limit tasks addressed to recipient whose state is
// one of states, newest first (created_at, then id), starting after after.
func (db *DB) ListInbox(ctx context.Context, recipient string, states []string, after *PageKey, limit int) ([]Task, error) {
	return db.listTasks(ctx, inboxList, recipient, states, "", after, limit)
}

// ListSent returns up to limit tasks sent by sender whose state is one of
// states, newest first (created_at, then id), starting after after. A
// non-empty recipient keeps only the tasks sent to that practice.
func (db *DB) ListSent(ctx context.Context, sender string, states []string, recipient string, after *PageKey, limit int) ([]Task, error) {
	return db.listTasks(ctx, sentList, sender, states, recipient, after, limit)
}

// listTasks pages through l for the practice ods (served by the index on
// the owner column, created_at and id); other, when not empty, keeps only
// the tasks whose other party is that practice.
func (db *DB) listTasks(ctx context.Context, l taskList, ods string, states []string, other string, after *PageKey, limit int) ([]Task, error) {
	var afterAt *time.Time
	var afterID *uuid.UUID
	if after != nil {
		afterAt, afterID = &after.CreatedAt, &after.ID
	}
	args := []any{ods, states, afterAt, afterID, limit}
	filter := ""
	if other != "" {
		args = append(args, other)
		filter = ` AND ` + l.other + ` = $6`
	}
	rows, err := db.Pool.Query(ctx, `SELECT `+taskColumns+` FROM tasks
		WHERE `+l.owner+` = $1 AND state = ANY($2)`+filter+`
		  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
		ORDER BY created_at DESC, id DESC LIMIT $5`, args...)
	if err != nil {
		return nil, translate(fmt.Errorf("list %s of %s: %w", l.name, ods, err))
	}
	defer rows.Close()
	tasks := []Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, translate(fmt.Errorf("scan %s task: %w", l.name, err))
		}
		tasks = append(tasks, t)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(fmt.Errorf("list %s of %s: %w", l.name, ods, err))
	}
	return tasks, nil
}
