package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Actor roles of access records (a failed authentication has no key).
const (
	ActorPractice  = RolePractice
	ActorAdmin     = RoleAdmin
	ActorAnonymous = "anonymous"
)

// AccessRecord is one row of the access audit: who did what to which
// resources, when, from where, and how it ended. It never holds patient
// data: resource ids only.
type AccessRecord struct {
	ID           int64     `json:"id"`
	At           time.Time `json:"at"`
	ActorRole    string    `json:"actor_role"` // practice | admin | anonymous
	ODSCode      string    `json:"ods_code"`   // the acting practice ("" for admins and failures)
	APIKeyID     uuid.UUID `json:"api_key_id"` // uuid.Nil when authentication failed
	KeyPrefix    string    `json:"key_prefix"` // the public prefix of the key used or presented
	Action       string    `json:"action"`     // domain.verb, e.g. task.read, task.list_inbox, auth.failed
	Method       string    `json:"method"`
	Route        string    `json:"route"` // the route pattern, e.g. GET /v1/tasks/{id}
	ResourceIDs  []string  `json:"resource_ids"`
	Status       int       `json:"status"`
	Reason       string    `json:"reason"`        // why a request was refused (auth failures, rate limit), else ""
	RemoteAddr   string    `json:"remote_addr"`   // the peer's IP address
	ForwardedFor string    `json:"forwarded_for"` // X-Forwarded-For as sent (client-controlled; kept for proxies)
}

// RecordAccess appends one access record. At defaults to now.
func (db *DB) RecordAccess(ctx context.Context, r AccessRecord) error {
	return db.RecordAccesses(ctx, []AccessRecord{r})
}

// RecordAccesses appends records in one statement and one commit (the API
// gathers concurrent requests' records into such groups). At defaults to
// now.
func (db *DB) RecordAccesses(ctx context.Context, rs []AccessRecord) error {
	if len(rs) == 0 {
		return nil
	}
	rows := make([]AccessRecord, len(rs))
	now := time.Now()
	for i, r := range rs {
		rows[i] = accessRow(r, now)
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("record access %s: %w", rs[0].Action, err)
	}
	if _, err = db.Pool.Exec(ctx, accessInsert("$1", "")+` ORDER BY r.ordinality`, b); err != nil {
		return translate(fmt.Errorf("record access %s (%d records): %w", rs[0].Action, len(rs), err))
	}
	return nil
}

// accessRow is r as stored: At defaulted to now, every text bounded to its
// column.
func accessRow(r AccessRecord, now time.Time) AccessRecord {
	if r.At.IsZero() {
		r.At = now
	}
	r.KeyPrefix, r.Method, r.Route = clip(r.KeyPrefix, 16), clip(r.Method, 10), clip(r.Route, 200)
	r.Reason, r.RemoteAddr, r.ForwardedFor = clip(r.Reason, 100), clip(r.RemoteAddr, 64), clip(r.ForwardedFor, 200)
	return r
}

// accessInsert inserts the access records given as a JSON array in
// parameter param (accessRow's, with extra columns when extra names them,
// e.g. "task_id uuid"), read as r with r.ordinality; the caller may add a
// WHERE and ORDER BY r.ordinality.
func accessInsert(param, extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return `INSERT INTO access_log (at, actor_role, ods_code, api_key_id, key_prefix, action,
			method, route, resource_ids, status, reason, remote_addr, forwarded_for)
		SELECT at, actor_role, NULLIF(ods_code, ''), NULLIF(api_key_id, '00000000-0000-0000-0000-000000000000'), key_prefix,
			action, method, route, COALESCE(resource_ids, '{}'), status, reason, remote_addr, forwarded_for
		FROM ROWS FROM (jsonb_to_recordset(` + param + `::jsonb) AS (at timestamptz, actor_role text, ods_code text,
			api_key_id uuid, key_prefix text, action text, method text, route text, resource_ids text[], status int,
			reason text, remote_addr text, forwarded_for text` + extra + `)) WITH ORDINALITY AS r`
}

// clip bounds a value to n bytes at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// AccessFilter selects access records; zero fields do not filter.
type AccessFilter struct {
	From, To     time.Time // [From, To)
	ODSCode      string
	APIKeyID     uuid.UUID
	KeyPrefix    string
	Action       string
	ResourceID   string
	FailuresOnly bool  // status >= 400
	BeforeID     int64 // keyset cursor: records older than this id
	Limit        int
}

// ListAccess returns matching records newest first (by id, which follows
// insertion order), at most f.Limit (default 100).
func (db *DB) ListAccess(ctx context.Context, f AccessFilter) ([]AccessRecord, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var keyID *uuid.UUID
	if f.APIKeyID != uuid.Nil {
		keyID = &f.APIKeyID
	}
	rows, err := db.Pool.Query(ctx, `SELECT id, at, actor_role, COALESCE(ods_code, ''), api_key_id, key_prefix, action,
			method, route, resource_ids, status, reason, remote_addr, forwarded_for
		FROM access_log
		WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::timestamptz IS NULL OR at < $2)
			AND ($3 = '' OR ods_code = $3) AND ($4::uuid IS NULL OR api_key_id = $4)
			AND ($5 = '' OR key_prefix = $5) AND ($6 = '' OR action = $6)
			AND ($7 = '' OR resource_ids @> ARRAY[$7]) AND (NOT $8 OR status >= 400)
			AND ($9 = 0 OR id < $9)
		ORDER BY id DESC LIMIT $10`,
		nullTime(f.From), nullTime(f.To), f.ODSCode, keyID, f.KeyPrefix, f.Action, f.ResourceID, f.FailuresOnly,
		f.BeforeID, f.Limit)
	if err != nil {
		return nil, translate(fmt.Errorf("list access: %w", err))
	}
	defer rows.Close()
	var out []AccessRecord
	for rows.Next() {
		r, err := scanAccess(rows)
		if err != nil {
			return nil, translate(fmt.Errorf("scan access: %w", err))
		}
		out = append(out, r)
	}
	return out, translate(rows.Err())
}

func scanAccess(rows pgx.Rows) (AccessRecord, error) {
	var r AccessRecord
	var keyID *uuid.UUID
	err := rows.Scan(&r.ID, &r.At, &r.ActorRole, &r.ODSCode, &keyID, &r.KeyPrefix, &r.Action, &r.Method, &r.Route,
		&r.ResourceIDs, &r.Status, &r.Reason, &r.RemoteAddr, &r.ForwardedFor)
	if keyID != nil {
		r.APIKeyID = *keyID
	}
	return r, err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// PruneAccessLog deletes up to limit access records older than cutoff and
// returns how many it deleted.
func (db *DB) PruneAccessLog(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	tag, err := db.Pool.Exec(ctx, `DELETE FROM access_log WHERE id IN (
		SELECT id FROM access_log WHERE at < $1 ORDER BY id LIMIT $2)`, cutoff, limit) // ids follow time
	if err != nil {
		return 0, translate(fmt.Errorf("prune access log: %w", err))
	}
	return int(tag.RowsAffected()), nil
}
