package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Delivery kinds (delivery_queue.kind).
const (
	KindTask         = "task"
	KindNotification = "notification"
)

// Delivery priorities (delivery_queue.priority): urgent tasks are claimed
// before everything else, routine tasks before notifications.
const (
	PriorityUrgent       = 0
	PriorityNormal       = 1
	PriorityNotification = 2
)

// ActorSystem is the audit actor for changes gpfed makes on its own.
const ActorSystem = "system"

// ClaimedItem is one delivery a claim handed to its caller: the item with
// what its delivery needs (the recipient's channel and membership, the
// content to send). The caller owns it until LeaseEnd, identified by Token;
// it reports the outcome through RecordOutcomes.
type ClaimedItem struct {
	Kind     string
	ID       uuid.UUID
	Endpoint string // the recipient practice
	Token    uuid.UUID
	Priority int
	// Probe: the endpoint's circuit is open and this is its trial delivery.
	Probe bool
	// Active: the recipient is an active member at the moment of the claim.
	Active                    bool
	WebhookURL, WebhookSecret string
	// WebhookSecretPrevious is the replaced secret while a rotation keeps it valid, else "".
	WebhookSecretPrevious string
	// Open: the item still needs delivering (an accepted task, a pending
	// notification). A claim of anything else only removes its queue row.
	Open      bool
	Attempts  int
	LastError string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Task is the task's content (Kind == KindTask); it holds patient data
	// for the recipient only.
	Task *TaskContent
	// Notification is the notification (Kind == KindNotification).
	Notification *Notification
}

// TaskContent is what a recipient's webhook receives of a task.
type TaskContent struct {
	SenderODS, RecipientODS string
	PatientNHSNumber        string
	Type, Priority          string
	Subject, Body           string
	DueDate                 string // YYYY-MM-DD or ""
}

// ClaimOptions bound one claim.
type ClaimOptions struct {
	Limit int           // at most this many items
	Cap   int           // in-flight deliveries per endpoint unless the practice overrides it
	Lease time.Duration // the claim's lease: the item is claimable again after it
	// Finished are the caller's claimed items whose delivery has ended
	// (the receiver answered 2xx, or the inbox took it) and whose outcome
	// is waiting to be recorded: they no longer count against their
	// endpoint's cap, which bounds deliveries in flight, not records in
	// waiting. Another process's such items still count (it cannot know
	// them), so the cap is never exceeded, only sometimes not reached.
	Finished []FinishedItem
}

// FinishedItem is a claimed item (by its claim's token) whose delivery ended.
type FinishedItem struct{ ID, Token uuid.UUID }

// claimLockID serialises claims across processes, so each endpoint's
// in-flight count is exact when its cap is applied. A claim holds it for
// one short statement, never across a network call.
const claimLockID = 7_301_994_301

// distinctEndpoints walks delivery_queue's endpoint index one endpoint at a
// time (a loose index scan), so finding the endpoints with work costs one
// probe per endpoint, not one row per queued item: a backlog of thousands
// at one endpoint does not slow claims for the others.
const distinctEndpoints = `WITH RECURSIVE eps AS (
		(SELECT endpoint FROM delivery_queue ORDER BY endpoint LIMIT 1)
		UNION ALL
		SELECT (SELECT q.endpoint FROM delivery_queue q WHERE q.endpoint > eps.endpoint ORDER BY q.endpoint LIMIT 1)
		FROM eps WHERE eps.endpoint IS NOT NULL)`

// inFlight counts an endpoint's live claims ($ep is the endpoint column)
// but the caller's finished items ($5 ids with their $6 claim tokens: a
// hashed set, probed once per claimed row).
const inFlight = `(SELECT count(*)::int FROM delivery_queue f
		WHERE f.endpoint = $ep AND f.claim_token IS NOT NULL AND f.due_at > statement_timestamp()
			AND (f.ref_id, f.claim_token) NOT IN (SELECT x.id, x.token FROM unnest($5::uuid[], $6::uuid[]) AS x(id, token)))`

// claimSQL picks, per endpoint, as many due items as its free in-flight
// slots allow (an open circuit allows one probe once next_probe_at has
// passed), then the overall first Limit by (priority, due time), and
// stamps them with the claim token and the lease end.
var claimSQL = distinctEndpoints + `,
	room AS (
		SELECT e.endpoint,
			CASE WHEN h.state = 'open' THEN (h.next_probe_at <= statement_timestamp())::int
				ELSE COALESCE(p.delivery_max_in_flight, $2) END
			- ` + strings.ReplaceAll(inFlight, "$ep", "e.endpoint") + ` AS free
		FROM eps e
		LEFT JOIN practices p ON p.ods_code = e.endpoint
		LEFT JOIN endpoint_health h ON h.ods_code = e.endpoint
		WHERE e.endpoint IS NOT NULL),
	pick AS (
		SELECT c.ref_id, c.priority, c.due_at FROM room r CROSS JOIN LATERAL (
			SELECT q.ref_id, q.priority, q.due_at FROM delivery_queue q
			WHERE q.endpoint = r.endpoint AND q.due_at <= statement_timestamp()
			ORDER BY q.priority, q.due_at LIMIT greatest(r.free, 0)) c
		ORDER BY c.priority, c.due_at LIMIT $1),
	c AS (
		UPDATE delivery_queue q SET claim_token = $3, due_at = statement_timestamp() + $4::interval
		WHERE q.ref_id = ANY (ARRAY(SELECT ref_id FROM pick)) AND q.due_at <= statement_timestamp()
		RETURNING q.ref_id)
	SELECT COALESCE(array_agg(ref_id), '{}') FROM c`

// claimedSQL reads what the claim with token $1 took (its items $2), with
// the content to deliver; it runs after the claim's commit, outside the
// claim lock. Items are found by id: no index needs the claim token, so a
// claim changes one index fewer per item.
const claimedSQL = `
	SELECT c.ref_id, c.kind, c.endpoint, c.priority, COALESCE(h.state = 'open', false), COALESCE(p.active, false),
		` + webhookColumns + `,
		COALESCE(t.state = 'accepted', n.state = 'pending', false),
		COALESCE(t.attempts, n.attempts, 0), COALESCE(t.last_error, n.last_error, ''),
		COALESCE(t.created_at, n.created_at, now()), COALESCE(t.expires_at, n.expires_at, now()),
		COALESCE(t.sender_ods, ''), COALESCE(t.recipient_ods, ''), COALESCE(t.patient_nhs_number, ''),
		COALESCE(t.type, ''), COALESCE(t.priority, ''), COALESCE(t.subject, ''), COALESCE(t.body, ''),
		COALESCE(to_char(t.due_date, 'YYYY-MM-DD'), ''),
		COALESCE(n.kind, ''), n.task_id, COALESCE(n.subject_ods, ''), COALESCE(n.data, '{}'), COALESCE(n.recipient_ods, '')
	FROM delivery_queue c
	LEFT JOIN practices p ON p.ods_code = c.endpoint
	LEFT JOIN endpoint_health h ON h.ods_code = c.endpoint
	-- One primary-key lookup per claimed item, however large the tables grow
	-- (OFFSET 0 keeps the planner from flattening these into joins that it
	-- may then run as a scan of the whole table).
	LEFT JOIN LATERAL (SELECT * FROM tasks WHERE c.kind = 'task' AND id = c.ref_id OFFSET 0) t ON true
	LEFT JOIN LATERAL (SELECT * FROM notifications WHERE c.kind = 'notification' AND id = c.ref_id OFFSET 0) n ON true
	WHERE c.ref_id = ANY ($2::uuid[]) AND c.claim_token = $1
	ORDER BY c.priority, c.due_at`

// webhookColumns are the recipient practice p's webhook URL, its secret,
// and the replaced secret while a rotation keeps it valid (else empty).
const webhookColumns = `COALESCE(p.webhook_url, ''), COALESCE(p.webhook_secret, ''),
	CASE WHEN p.webhook_secret_previous_until > now() THEN p.webhook_secret_previous ELSE '' END`

// Claim takes up to opt.Limit due deliveries for the caller, never more
// per endpoint than its free in-flight slots, urgent first, and returns
// them with a fresh claim token. It holds a transaction-scoped advisory lock
// for the one statement it runs (BEGIN, lock, claim and COMMIT are one
// round trip) and nothing after it returns: the caller makes its network
// calls with no lock, transaction or connection held.
//
// A claim commits without waiting for its WAL flush (synchronous_commit
// off): a claim lost in a database crash leaves its items unclaimed, which
// is what an expired lease does anyway (they are delivered again under the
// same Idempotency-Key), so waiting for the disk would buy nothing.
func (db *DB) Claim(ctx context.Context, opt ClaimOptions) ([]ClaimedItem, error) {
	token := uuid.New()
	finishedIDs, finishedTokens := make([]uuid.UUID, len(opt.Finished)), make([]uuid.UUID, len(opt.Finished))
	for i, f := range opt.Finished {
		finishedIDs[i], finishedTokens[i] = f.ID, f.Token
	}
	// One round trip claims (the claim commits, releasing the lock, in it);
	// a second, only when it took something, reads the content by id in a
	// fresh snapshot (a transaction of its own, for its generic plan).
	var ids []uuid.UUID
	b := &pgx.Batch{}
	for _, s := range []stmt{
		{sql: `BEGIN`},
		{sql: `SET LOCAL synchronous_commit = off`},
		{sql: `SELECT pg_advisory_xact_lock($1)`, args: []any{int64(claimLockID)}},
		{sql: claimSQL, args: []any{opt.Limit, opt.Cap, token, opt.Lease, finishedIDs, finishedTokens}, scan: func(r pgx.Row) error { return r.Scan(&ids) },
			generic: true},
		{sql: `COMMIT`},
	} {
		s.queue(b)
	}
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", translate(err))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	items := make([]ClaimedItem, 0, len(ids))
	err := db.pipelineTx(ctx, stmt{sql: claimedSQL, args: []any{token, ids}, generic: true, rows: func(rows pgx.Rows) error {
		for rows.Next() {
			it, err := scanClaimed(rows)
			if err != nil {
				return err
			}
			it.Token = token
			items = append(items, it)
		}
		return rows.Err()
	}})
	if err != nil {
		return nil, fmt.Errorf("read claimed deliveries: %w", err)
	}
	return items, nil
}

func scanClaimed(rows pgx.Rows) (ClaimedItem, error) {
	var it ClaimedItem
	var tc TaskContent
	var n Notification
	err := rows.Scan(&it.ID, &it.Kind, &it.Endpoint, &it.Priority, &it.Probe, &it.Active,
		&it.WebhookURL, &it.WebhookSecret, &it.WebhookSecretPrevious,
		&it.Open, &it.Attempts, &it.LastError, &it.CreatedAt, &it.ExpiresAt,
		&tc.SenderODS, &tc.RecipientODS, &tc.PatientNHSNumber, &tc.Type, &tc.Priority, &tc.Subject, &tc.Body, &tc.DueDate,
		&n.Kind, &n.TaskID, &n.SubjectODS, &n.Data, &n.RecipientODS)
	if err != nil {
		return it, fmt.Errorf("scan claimed delivery: %w", err)
	}
	switch it.Kind {
	case KindTask:
		it.Task = &tc
	case KindNotification:
		n.ID, n.Audience, n.State = it.ID, AudiencePractice, NotificationPending
		n.Attempts, n.CreatedAt, n.ExpiresAt = it.Attempts, it.CreatedAt, it.ExpiresAt
		it.Notification = &n
	}
	return it, nil
}

// nextDueSQL is when the next claim could find something: per endpoint
// with queued items, the probe time of an open circuit, the earliest lease
// end when it has no free slot (its deliveries finishing also wake the
// engine), else the earliest due time of its items.
var nextDueSQL = distinctEndpoints + `
	SELECT EXTRACT(EPOCH FROM min(x.next) - statement_timestamp())::float8 FROM eps e
	LEFT JOIN practices p ON p.ods_code = e.endpoint
	LEFT JOIN endpoint_health h ON h.ods_code = e.endpoint
	CROSS JOIN LATERAL (
		SELECT count(*)::int AS n, min(f.due_at) AS lease_end FROM delivery_queue f
		WHERE f.endpoint = e.endpoint AND f.claim_token IS NOT NULL AND f.due_at > statement_timestamp()) fl
	CROSS JOIN LATERAL (SELECT CASE
		WHEN h.state = 'open' AND fl.n > 0 THEN fl.lease_end
		WHEN h.state = 'open' THEN h.next_probe_at
		WHEN fl.n >= COALESCE(p.delivery_max_in_flight, $1) THEN fl.lease_end
		ELSE LEAST(
			(SELECT min(q.due_at) FROM delivery_queue q WHERE q.endpoint = e.endpoint AND q.priority = 0),
			(SELECT min(q.due_at) FROM delivery_queue q WHERE q.endpoint = e.endpoint AND q.priority = 1),
			(SELECT min(q.due_at) FROM delivery_queue q WHERE q.endpoint = e.endpoint AND q.priority = 2))
		END AS next) x
	WHERE e.endpoint IS NOT NULL`

// NextDue returns how long until a claim could next find work, by the
// database's clock (ok=false: the queue is empty; zero or less: now),
// given the default per-endpoint cap.
func (db *DB) NextDue(ctx context.Context, defaultCap int) (time.Duration, bool, error) {
	var secs *float64
	if err := db.Pool.QueryRow(ctx, nextDueSQL, defaultCap).Scan(&secs); err != nil {
		return 0, false, translate(fmt.Errorf("next due delivery: %w", err))
	}
	if secs == nil {
		return 0, false, nil
	}
	return time.Duration(*secs * float64(time.Second)), true, nil
}

// QueueDepth counts queued deliveries (metrics, tests).
func (db *DB) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM delivery_queue`).Scan(&n)
	return n, translate(err)
}

// ExtendClaims moves the lease of the claim token's live items (ids, as
// the claim returned them) to lease from now (a heartbeat while their
// deliveries are in flight) and returns how many it extended. A lease that
// already ran out is not revived: its items may belong to another claim by
// now. Like a claim, it does not wait
// for its WAL flush.
func (db *DB) ExtendClaims(ctx context.Context, token uuid.UUID, ids []uuid.UUID, lease time.Duration) (int, error) {
	var n int
	err := db.pipelineTx(ctx, stmt{sql: `SET LOCAL synchronous_commit = off`},
		stmt{sql: `WITH u AS (UPDATE delivery_queue SET due_at = statement_timestamp() + $2::interval
			WHERE ref_id = ANY ($3::uuid[]) AND claim_token = $1 AND due_at > statement_timestamp() RETURNING 1)
			SELECT count(*)::int FROM u`,
			args: []any{token, lease, ids}, scan: func(r pgx.Row) error { return r.Scan(&n) }})
	if err != nil {
		return 0, fmt.Errorf("extend claim %s: %w", token, err)
	}
	return n, nil
}
