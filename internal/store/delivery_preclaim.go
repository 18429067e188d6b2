package store

import (
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// preClaimSetting tells a record's queueing statement whether the
// statement before it got the claim lock (a transaction-local setting:
// pipelined statements cannot pass values to each other).
const preClaimSetting = "gpfed.preclaim"

// queueNotificationsSQL queues the notifications $1 that the record's
// earlier statements made (ids of notifications not made find nothing),
// each due at once, and, when the statement before it got the claim lock,
// claims up to $3 of them under token $4 for lease $5, within their
// endpoints' free in-flight slots (per-practice cap, else $2; an open
// circuit or an inactive practice has none). It returns the claimed ones
// as a claim's content read does.
//
// The lock is taken in a statement of its own so that this one's snapshot,
// taken after it, sees every claim committed before: in-flight counts are
// then exact, as a claim's are.
const queueNotificationsSQL = `WITH k0 AS (
		SELECT n.id, n.recipient_ods, row_number() OVER (PARTITION BY n.recipient_ods ORDER BY n.id) AS rank
		FROM notifications n WHERE n.id = ANY ($1::uuid[])),
	room AS (
		SELECT e.endpoint, CASE WHEN h.state = 'open' OR NOT COALESCE(p.active, false) THEN 0
				ELSE COALESCE(p.delivery_max_in_flight, $2) END
			- (SELECT count(*)::int FROM delivery_queue f
				WHERE f.endpoint = e.endpoint AND f.claim_token IS NOT NULL AND f.due_at > statement_timestamp()) AS free
		FROM (SELECT DISTINCT recipient_ods AS endpoint FROM k0) e
		LEFT JOIN practices p ON p.ods_code = e.endpoint
		LEFT JOIN endpoint_health h ON h.ods_code = e.endpoint
		WHERE COALESCE(current_setting('` + preClaimSetting + `', true), '') = 'true'),
	k1 AS (
		SELECT k0.id, k0.recipient_ods, COALESCE(k0.rank <= r.free, false) AS ok
		FROM k0 LEFT JOIN room r ON r.endpoint = k0.recipient_ods),
	k AS (
		SELECT id, recipient_ods, ok AND count(*) FILTER (WHERE ok) OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) <= $3 AS claim
		FROM k1),
	c AS (
		INSERT INTO delivery_queue (ref_id, kind, endpoint, claim_token, due_at)
		SELECT id, 'notification', recipient_ods, CASE WHEN claim THEN $4::uuid END,
			CASE WHEN claim THEN statement_timestamp() + $5::interval ELSE now() END
		FROM k
		RETURNING ref_id, kind, endpoint, priority, due_at, claim_token)
	SELECT ` + claimedColumns + `
	FROM c
	LEFT JOIN practices p ON p.ods_code = c.endpoint
	LEFT JOIN endpoint_health h ON h.ods_code = c.endpoint
	LEFT JOIN tasks t ON false
	LEFT JOIN notifications n ON n.id = c.ref_id
	WHERE c.claim_token IS NOT NULL
	ORDER BY c.priority, c.due_at`

// queueNotificationsStmts queue the record's notifications noteIDs and,
// as pc allows, pre-claim some of them into *claimed: the try of the claim
// lock (only when pc.Limit > 0), then the queueing statement. They must be
// the last statements before COMMIT, which releases the lock.
func queueNotificationsStmts(noteIDs []uuid.UUID, pc PreClaim, claimed *[]ClaimedItem) []stmt {
	var out []stmt
	if pc.Limit > 0 {
		out = append(out, stmt{what: "try the claim lock",
			sql:  `SELECT set_config('` + preClaimSetting + `', pg_try_advisory_xact_lock($1)::text, true)`,
			args: []any{int64(claimLockID)}})
	}
	token := uuid.New()
	return append(out, stmt{sql: queueNotificationsSQL, args: []any{noteIDs, pc.Cap, max(pc.Limit, 0), token, pc.Lease},
		generic: true, rows: func(rows pgx.Rows) error {
			for rows.Next() {
				it, err := scanClaimed(rows)
				if err != nil {
					return err
				}
				it.Token = token
				*claimed = append(*claimed, it)
			}
			return rows.Err()
		}})
}

// newIDs returns n fresh ids.
func newIDs(n int) []uuid.UUID {
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
	}
	return ids
}
