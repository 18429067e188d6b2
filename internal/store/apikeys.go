package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Key roles.
const (
	RolePractice = "practice"
	RoleAdmin    = "admin"
)

// APIKey is a stored key (never the secret itself).
type APIKey struct {
	ID        uuid.UUID
	Role      string
	ODSCode   string // practice keys only
	Prefix    string
	Label     string
	CreatedAt time.Time
	RevokedAt *time.Time
	// RateLimitPerMinute is the practice's own limit (nil: the federation
	// default; 0: unlimited). Admin keys have none.
	RateLimitPerMinute *int
}

// keyPrefix starts every key so that leaked keys are recognisable by scanners.
const keyPrefix = "gpfed_"

func hashKey(raw string) []byte {
	sum := sha256.Sum256([]byte(raw))
	return sum[:]
}

// CreateAPIKey issues a new key and returns the raw secret, shown once. The
// practice must exist and be active for a practice key.
func (db *DB) CreateAPIKey(ctx context.Context, role, ods, label string) (string, APIKey, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", APIKey{}, err
	}
	raw := keyPrefix + base64.RawURLEncoding.EncodeToString(b)
	k := APIKey{ID: uuid.New(), Role: role, ODSCode: ods, Prefix: raw[:len(keyPrefix)+6], Label: label}
	var odsArg any
	if role == RolePractice {
		odsArg = ods
		p, err := db.GetPractice(ctx, ods)
		if err != nil {
			return "", k, err
		}
		if !p.Active {
			return "", k, fmt.Errorf("practice %s is not active: %w", ods, ErrNotFound)
		}
	}
	err := db.Pool.QueryRow(ctx, `INSERT INTO api_keys (id, role, ods_code, key_hash, key_prefix, label)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
		k.ID, role, odsArg, hashKey(raw), k.Prefix, label).Scan(&k.CreatedAt)
	if err != nil {
		return "", k, translate(fmt.Errorf("create api key: %w", err))
	}
	return raw, k, nil
}

// AuthenticateAPIKey resolves a raw bearer key to its live key record.
// Unknown, revoked, and keys of deactivated practices give ErrNotFound.
func (db *DB) AuthenticateAPIKey(ctx context.Context, raw string) (APIKey, error) {
	var k APIKey
	if !strings.HasPrefix(raw, keyPrefix) {
		return k, ErrNotFound
	}
	var ods *string
	err := db.Pool.QueryRow(ctx, `SELECT k.id, k.role, k.ods_code, k.key_prefix, k.label, k.created_at, p.rate_limit_per_minute
		FROM api_keys k LEFT JOIN practices p ON p.ods_code = k.ods_code
		WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND (k.role = 'admin' OR p.active)`,
		hashKey(raw)).Scan(&k.ID, &k.Role, &ods, &k.Prefix, &k.Label, &k.CreatedAt, &k.RateLimitPerMinute)
	if err != nil {
		return k, translate(err)
	}
	if ods != nil {
		k.ODSCode = *ods
	}
	return k, nil
}

// PresentedKeyPrefix is the public prefix of a presented key, as stored in
// api_keys.key_prefix, or "" when raw does not look like a gpfed key (so
// the audit never keeps part of whatever else someone sent).
func PresentedKeyPrefix(raw string) string {
	if !strings.HasPrefix(raw, keyPrefix) || len(raw) < len(keyPrefix)+6 {
		return ""
	}
	p := raw[:len(keyPrefix)+6]
	for _, c := range p[len(keyPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ""
		}
	}
	return p
}

// RevokeAPIKeys revokes every live key of a practice (ods) or, with ods "",
// the key with the given prefix. It returns how many were revoked.
func (db *DB) RevokeAPIKeys(ctx context.Context, ods, prefix string) (int, error) {
	tag, err := db.Pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now()
		WHERE revoked_at IS NULL AND (($1 <> '' AND ods_code = $1) OR ($2 <> '' AND key_prefix = $2))`, ods, prefix)
	if err != nil {
		return 0, translate(fmt.Errorf("revoke api keys: %w", err))
	}
	return int(tag.RowsAffected()), nil
}
