package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// DashboardSession is a live dashboard login. The raw session id lives only
// in the browser's cookie; the database keeps its hash.
type DashboardSession struct {
	APIKeyID  uuid.UUID
	KeyPrefix string
	KeyLabel  string
	CSRFToken string
	CreatedAt time.Time
	ExpiresAt time.Time
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateDashboardSession starts a session for an admin key and returns the
// raw session id for the cookie. Expired sessions are swept on the way.
func (db *DB) CreateDashboardSession(ctx context.Context, keyID uuid.UUID, ttl time.Duration) (string, DashboardSession, error) {
	s := DashboardSession{APIKeyID: keyID}
	raw, err := randomToken()
	if err != nil {
		return "", s, err
	}
	if s.CSRFToken, err = randomToken(); err != nil {
		return "", s, err
	}
	if _, err := db.Pool.Exec(ctx, `DELETE FROM dashboard_sessions WHERE expires_at < now()`); err != nil {
		return "", s, translate(fmt.Errorf("sweep sessions: %w", err))
	}
	err = db.Pool.QueryRow(ctx, `
		WITH k AS (SELECT id, key_prefix, label FROM api_keys WHERE id = $1 AND role = 'admin' AND revoked_at IS NULL),
		ins AS (INSERT INTO dashboard_sessions (id_hash, api_key_id, csrf_token, expires_at)
			SELECT $2, id, $3, now() + make_interval(secs => $4) FROM k
			RETURNING created_at, expires_at)
		SELECT k.key_prefix, k.label, ins.created_at, ins.expires_at FROM k, ins`,
		keyID, hashKey(raw), s.CSRFToken, ttl.Seconds()).Scan(&s.KeyPrefix, &s.KeyLabel, &s.CreatedAt, &s.ExpiresAt)
	if err != nil {
		return "", s, translate(fmt.Errorf("create dashboard session: %w", err))
	}
	return raw, s, nil
}

// DashboardSessionByID resolves a raw session id. Unknown, expired, and
// sessions whose admin key was revoked give ErrNotFound.
func (db *DB) DashboardSessionByID(ctx context.Context, raw string) (DashboardSession, error) {
	var s DashboardSession
	if raw == "" {
		return s, ErrNotFound
	}
	err := db.Pool.QueryRow(ctx, `
		SELECT s.api_key_id, k.key_prefix, k.label, s.csrf_token, s.created_at, s.expires_at
		FROM dashboard_sessions s JOIN api_keys k ON k.id = s.api_key_id
		WHERE s.id_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL AND k.role = 'admin'`,
		hashKey(raw)).Scan(&s.APIKeyID, &s.KeyPrefix, &s.KeyLabel, &s.CSRFToken, &s.CreatedAt, &s.ExpiresAt)
	if err != nil {
		return s, translate(fmt.Errorf("dashboard session: %w", err))
	}
	return s, nil
}

// DeleteDashboardSession ends a session (logout). Deleting an unknown
// session is not an error.
func (db *DB) DeleteDashboardSession(ctx context.Context, raw string) error {
	if _, err := db.Pool.Exec(ctx, `DELETE FROM dashboard_sessions WHERE id_hash = $1`, hashKey(raw)); err != nil {
		return translate(fmt.Errorf("delete dashboard session: %w", err))
	}
	return nil
}

// UseDashboardSession is DashboardSessionByID for a request: a session not
// used for idle (when > 0) has ended too, and a live one is marked used.
// The mark is written at most once a minute per session, so browsing costs
// no write per page.
func (db *DB) UseDashboardSession(ctx context.Context, raw string, idle time.Duration) (DashboardSession, error) {
	var s DashboardSession
	if raw == "" {
		return s, ErrNotFound
	}
	err := db.Pool.QueryRow(ctx, `
		WITH live AS (
			SELECT s.id_hash, s.api_key_id, k.key_prefix, k.label, s.csrf_token, s.created_at, s.expires_at, s.last_seen_at
			FROM dashboard_sessions s JOIN api_keys k ON k.id = s.api_key_id
			WHERE s.id_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL AND k.role = 'admin'
				AND ($2::bigint = 0 OR s.last_seen_at > now() - make_interval(secs => $2::bigint / 1e9))),
		touch AS (
			UPDATE dashboard_sessions d SET last_seen_at = now() FROM live
			WHERE d.id_hash = live.id_hash AND live.last_seen_at < now() - interval '1 minute')
		SELECT api_key_id, key_prefix, label, csrf_token, created_at, expires_at FROM live`,
		hashKey(raw), idle.Nanoseconds()).Scan(&s.APIKeyID, &s.KeyPrefix, &s.KeyLabel, &s.CSRFToken, &s.CreatedAt, &s.ExpiresAt)
	if err != nil {
		return s, translate(fmt.Errorf("dashboard session: %w", err))
	}
	return s, nil
}
