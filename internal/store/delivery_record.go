package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Result is what one delivery attempt decided for its item.
type Result int

// Results of an attempt.
const (
	// Delivered: the receiver answered 2xx, or the item reached an inbox or feed.
	Delivered Result = iota + 1
	// Retry: try again at RetryAt.
	Retry
	// Failed: permanently (rejected, expired, recipient left).
	Failed
	// Released: the attempt was interrupted (shutdown) with no answer; the
	// item is claimable again at once and the attempt is not counted.
	Released
	// Dropped: the item no longer needed delivering; only its queue row goes.
	Dropped
)

// Failure reasons a sender sees in task.failed.
const (
	ReasonRejected      = "rejected"
	ReasonExpired       = "expired"
	ReasonRecipientLeft = "recipient_left"
)

// Outcome is the recorded result of one claimed delivery (or of an
// unclaimed one failed by expiry or a practice leaving).
type Outcome struct {
	Kind     string
	ID       uuid.UUID
	Endpoint string
	// Token is the claim the outcome belongs to. An outcome whose claim is
	// no longer the item's (its lease expired and another worker claimed
	// it) changes nothing. uuid.Nil records an unclaimed item, and only
	// while no live claim holds it.
	Token  uuid.UUID
	Result Result
	// At is when the receiver answered 2xx; zero means the commit time
	// (delivery to an inbox or feed is the commit).
	At      time.Time
	Channel string // delivered: webhook | inbox (tasks), webhook | feed (notifications)
	Tried   bool   // a request was made: counts as an attempt and for the circuit breaker
	Status  int    // HTTP status, 0 if none
	Reason  string // failed: ReasonRejected, ReasonExpired, ReasonRecipientLeft
	Error   string // last_error: never patient data or a receiver's response body
	RetryAt time.Time
	Probe   bool // the attempt was the endpoint's circuit probe
}

// RecordOptions parameterise what recording creates.
type RecordOptions struct {
	// NotificationTTL is how long the sender's delivered/failed notification may take to deliver.
	NotificationTTL time.Duration
	Breaker         BreakerPolicy
}

// RecordReport says what a RecordOutcomes call changed.
type RecordReport struct {
	Applied       int // outcomes whose claim was still theirs
	Notifications int // sender notifications created (each due at once)
	Transitions   []EndpointTransition
}

// RecordOutcomes applies a batch of outcomes in one transaction sent as one
// round trip: each finished item loses its queue row, its task or
// notification takes its new state, delivered and failed tasks get their
// audit event and their sender's notification (queued, due at once),
// retries get their next due time. Endpoints that only succeeded are reset
// in the same round trip; endpoints with failures go through the circuit
// breaker afterwards, in a short transaction of their own.
//
// Like a claim, a record commits without waiting for its WAL flush
// (synchronous_commit off). A record lost in a database crash leaves its
// items claimed until the lease runs out; they are then delivered again
// under the same Idempotency-Key, which is what the contract already
// allows after a crash, and their events and sender notifications are
// made then. Nothing accepted depends on it: intake commits synchronously,
// and any later synchronous commit (an acknowledgement, a cancel) flushes
// the WAL up to itself, records before it included.
func (db *DB) RecordOutcomes(ctx context.Context, outs []Outcome, opt RecordOptions) (RecordReport, error) {
	if len(outs) == 0 {
		return RecordReport{}, nil
	}
	if opt.NotificationTTL <= 0 {
		opt.NotificationTTL = defaultNotificationMaxAge
	}
	stmts := []stmt{{sql: `SET LOCAL synchronous_commit = off`}}
	rep := RecordReport{}
	add := func(s stmt, ok bool) {
		if ok {
			stmts = append(stmts, s)
		}
	}
	g := groupOutcomes(outs)
	count := func(n *int) func(pgx.Row) error {
		return func(r pgx.Row) error { return r.Scan(n) }
	}
	var delivered, failed, retried, noteFinal, noteRetry, dropped, notesD, notesF int
	add(taskFinalStmt(TaskDelivered, g.taskDelivered, opt.NotificationTTL, &delivered, &notesD), len(g.taskDelivered) > 0)
	add(taskFinalStmt(TaskFailed, g.taskFailed, opt.NotificationTTL, &failed, &notesF), len(g.taskFailed) > 0)
	add(retryStmt("tasks", "accepted", g.taskRetry, count(&retried)), len(g.taskRetry) > 0)
	add(notificationFinalStmt(g.noteFinal, count(&noteFinal)), len(g.noteFinal) > 0)
	add(retryStmt("notifications", "pending", g.noteRetry, count(&noteRetry)), len(g.noteRetry) > 0)
	add(dropStmt(g.dropped, count(&dropped)), len(g.dropped) > 0)
	healthy, failing := summariseEndpoints(outs)
	var recovered []EndpointHealth
	add(endpointsSucceededStmt(healthy, &recovered), len(healthy) > 0)
	var err error
	if len(failing) == 0 {
		err = db.pipelineTx(ctx, stmts...)
	} else {
		// Failures and the breaker's verdict commit together, so no claim
		// sees a failed item due again before its endpoint's circuit opens.
		err = db.InTx(ctx, func(tx pgx.Tx) error {
			if err := sendBatch(ctx, tx, stmts); err != nil {
				return err
			}
			var err error
			rep.Transitions, err = applyBreaker(ctx, tx, failing, opt.Breaker)
			return err
		})
	}
	if err != nil {
		return RecordReport{}, fmt.Errorf("record %d delivery outcomes: %w", len(outs), err)
	}
	rep.Applied = delivered + failed + retried + noteFinal + noteRetry + dropped
	rep.Notifications = notesD + notesF
	if len(recovered) > 0 {
		tr, err := db.notifyRecovered(ctx, recovered, opt.Breaker)
		rep.Transitions = append(rep.Transitions, tr...)
		if err != nil {
			return rep, fmt.Errorf("record endpoint recovery: %w", err)
		}
	}
	return rep, nil
}

// sendBatch runs stmts in tx as one pipelined round trip.
func sendBatch(ctx context.Context, tx pgx.Tx, stmts []stmt) error {
	if len(stmts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, s := range stmts {
		s.queue(b)
	}
	return tx.SendBatch(ctx, b).Close()
}

// outcomeGroups splits a batch by the statement that records it.
type outcomeGroups struct {
	taskDelivered, taskFailed, taskRetry []Outcome
	noteFinal, noteRetry, dropped        []Outcome
}

func groupOutcomes(outs []Outcome) outcomeGroups {
	var g outcomeGroups
	for _, o := range outs {
		task := o.Kind == KindTask
		switch {
		case o.Result == Dropped:
			g.dropped = append(g.dropped, o)
		case task && o.Result == Delivered:
			g.taskDelivered = append(g.taskDelivered, o)
		case task && o.Result == Failed:
			g.taskFailed = append(g.taskFailed, o)
		case task:
			g.taskRetry = append(g.taskRetry, o)
		case o.Result == Delivered || o.Result == Failed:
			g.noteFinal = append(g.noteFinal, o)
		default:
			g.noteRetry = append(g.noteRetry, o)
		}
	}
	return g
}

// outcomeArrays are the columns of a batch of outcomes, for unnest.
type outcomeArrays struct {
	ids, tokens  []uuid.UUID
	claimed      []bool
	at, retryAt  []*time.Time
	channel      []string
	tried        []int
	status       []int
	reason, errs []string
}

func arrays(outs []Outcome) outcomeArrays {
	var a outcomeArrays
	for _, o := range outs {
		a.ids = append(a.ids, o.ID)
		a.tokens = append(a.tokens, o.Token)
		a.claimed = append(a.claimed, o.Token != uuid.Nil)
		a.at = append(a.at, timePtr(o.At))
		a.retryAt = append(a.retryAt, timePtr(o.RetryAt))
		a.channel = append(a.channel, o.Channel)
		tried := 0
		if o.Tried {
			tried = 1
		}
		a.tried = append(a.tried, tried)
		a.status = append(a.status, o.Status)
		a.reason = append(a.reason, o.Reason)
		a.errs = append(a.errs, o.Error)
	}
	return a
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// outcomeInput is the unnest of a batch's arrays ($1..$10).
const outcomeInput = `o AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bool[], $4::timestamptz[],
		$5::timestamptz[], $6::text[], $7::int[], $8::int[], $9::text[], $10::text[])
		AS o(id, token, claimed, at, retry_at, channel, tried, status, reason, err))`

func (a outcomeArrays) args() []any {
	return []any{a.ids, a.tokens, a.claimed, a.at, a.retryAt, a.channel, a.tried, a.status, a.reason, a.errs}
}

// ownsRow: the queue row q still belongs to the outcome's claim, or, for an
// unclaimed outcome, no live claim holds it. Every statement also names the
// batch's ids ($1) on the table it changes (q.ref_id, t.id, n.id =
// ANY($1)), so the planner goes by primary key whatever its statistics say:
// joined through the unnest alone, a stale estimate of how few rows are
// open can make it scan every open task or queue row once per record, and
// that is exactly when a practice is down and its backlog grows.
const ownsRow = `q.ref_id = ANY($1::uuid[]) AND ((o.claimed AND q.claim_token = o.token)
	OR (NOT o.claimed AND (q.claim_token IS NULL OR q.due_at <= statement_timestamp())))`

// taskFinalUpdates move owned, accepted tasks to delivered or failed and
// return what the audit event and the sender's notification need.
var taskFinalUpdates = map[string]string{
	TaskDelivered: `UPDATE tasks t SET state = 'delivered', channel = o.channel, attempts = t.attempts + o.tried,
			last_error = NULL, delivered_at = COALESCE(o.at, now()), updated_at = COALESCE(o.at, now())
		FROM o JOIN d ON d.ref_id = o.id WHERE t.id = ANY($1::uuid[]) AND t.id = o.id AND t.state = 'accepted'
		RETURNING t.id, t.sender_ods, t.recipient_ods, t.attempts, t.redeliveries, t.delivered_at AS at,
			o.channel, o.status, ''::text AS reason, ''::text AS err`,
	TaskFailed: `UPDATE tasks t SET state = 'failed', attempts = t.attempts + o.tried, last_error = o.err,
			finished_at = now(), updated_at = now()
		FROM o JOIN d ON d.ref_id = o.id WHERE t.id = ANY($1::uuid[]) AND t.id = o.id AND t.state = 'accepted'
		RETURNING t.id, t.sender_ods, t.recipient_ods, t.attempts, t.redeliveries, now() AS at,
			''::text AS channel, o.status, o.reason, o.err`,
}

// taskFinalStmt records delivered or failed tasks with their audit events
// and their senders' notifications (queued, due at once; none for a sender
// that has left), in one statement.
func taskFinalStmt(state string, outs []Outcome, ttl time.Duration, updated, notified *int) stmt {
	kind := NotifyTaskDelivered
	if state == TaskFailed {
		kind = NotifyTaskFailed
	}
	a := arrays(outs)
	return stmt{sql: `WITH ` + outcomeInput + `,
		d AS (DELETE FROM delivery_queue q USING o WHERE q.ref_id = o.id AND ` + ownsRow + ` RETURNING q.ref_id),
		u AS (` + taskFinalUpdates[state] + `),
		x AS (SELECT u.*, jsonb_strip_nulls(jsonb_build_object('channel', NULLIF(u.channel, ''), 'attempts', u.attempts,
				'status', NULLIF(u.status, 0), 'reason', NULLIF(u.reason, ''), 'error', NULLIF(u.err, ''))) AS detail FROM u),
		e AS (INSERT INTO task_events (task_id, at, actor, action, from_state, to_state, detail)
			SELECT id, at, 'system', $11::text, 'accepted', $11::text, detail FROM x),
		n AS (INSERT INTO notifications (id, recipient_ods, kind, task_id, subject_ods, data, coalesce_key, expires_at)
			SELECT gen_random_uuid(), x.sender_ods, $12::text, x.id, x.recipient_ods,
				jsonb_build_object('task_id', x.id, 'recipient_ods', x.recipient_ods) || x.detail,
				$12::text || ':' || x.id || CASE WHEN x.redeliveries > 0 THEN ':r' || x.redeliveries ELSE '' END,
				now() + $13::interval
			FROM x JOIN practices s ON s.ods_code = x.sender_ods AND s.active
			ON CONFLICT (coalesce_key) WHERE coalesce_key IS NOT NULL DO NOTHING RETURNING id, recipient_ods),
		nq AS (INSERT INTO delivery_queue (ref_id, kind, endpoint) SELECT id, 'notification', recipient_ods FROM n)
		SELECT (SELECT count(*) FROM u)::int, (SELECT count(*) FROM n)::int`,
		args: append(a.args(), state, kind, ttl),
		scan: func(r pgx.Row) error { return r.Scan(updated, notified) }, generic: true}
}

// retryStmt schedules owned items' next attempts (or, for a released
// claim, makes them claimable at once) and counts the attempt on the item.
func retryStmt(table, openState string, outs []Outcome, scan func(pgx.Row) error) stmt {
	a := arrays(outs)
	return stmt{sql: `WITH ` + outcomeInput + `,
		d AS (UPDATE delivery_queue q SET claim_token = NULL, due_at = COALESCE(o.retry_at, now())
			FROM o WHERE q.ref_id = o.id AND ` + ownsRow + ` RETURNING q.ref_id),
		u AS (UPDATE ` + table + ` t SET attempts = t.attempts + o.tried,
				last_error = COALESCE(NULLIF(o.err, ''), t.last_error)` + updatedAt(table) + `
			FROM o JOIN d ON d.ref_id = o.id WHERE t.id = ANY($1::uuid[]) AND t.id = o.id AND t.state = '` + openState + `' RETURNING t.id)
		SELECT count(*)::int FROM d`,
		args: a.args(), scan: scan, generic: true}
}

func updatedAt(table string) string {
	if table == "tasks" {
		return ", updated_at = now()"
	}
	return ""
}

// notificationFinalStmt records delivered and failed notifications.
func notificationFinalStmt(outs []Outcome, scan func(pgx.Row) error) stmt {
	a := arrays(outs)
	failed := make([]bool, len(outs))
	for i, o := range outs {
		failed[i] = o.Result == Failed
	}
	return stmt{sql: `WITH ` + outcomeInput + `, f AS (SELECT * FROM unnest($1::uuid[], $11::bool[]) AS f(id, failed)),
		d AS (DELETE FROM delivery_queue q USING o WHERE q.ref_id = o.id AND ` + ownsRow + ` RETURNING q.ref_id),
		u AS (UPDATE notifications n SET
				state = CASE WHEN f.failed THEN 'failed' ELSE 'delivered' END,
				channel = CASE WHEN f.failed THEN n.channel ELSE o.channel END,
				attempts = n.attempts + o.tried,
				last_error = CASE WHEN f.failed THEN o.err END,
				delivered_at = CASE WHEN f.failed THEN NULL ELSE COALESCE(o.at, now()) END,
				finished_at = COALESCE(o.at, now())
			FROM o JOIN d ON d.ref_id = o.id JOIN f ON f.id = o.id
			WHERE n.id = ANY($1::uuid[]) AND n.id = o.id AND n.state = 'pending' RETURNING n.id)
		SELECT count(*)::int FROM u`,
		args: append(a.args(), failed), scan: scan, generic: true}
}

// dropStmt removes owned queue rows of items that needed nothing more.
func dropStmt(outs []Outcome, scan func(pgx.Row) error) stmt {
	a := arrays(outs)
	return stmt{sql: `WITH ` + outcomeInput + `,
		d AS (DELETE FROM delivery_queue q USING o WHERE q.ref_id = o.id AND ` + ownsRow + ` RETURNING q.ref_id)
		SELECT count(*)::int FROM d`, args: a.args(), scan: scan, generic: true}
}
