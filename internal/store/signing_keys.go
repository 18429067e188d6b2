package store

import (
	"context"
	"crypto/rand"
	"fmt"
)

// SigningKey returns the 32-byte server key called name, creating it on
// first use. Every replica reads the same key, so what one signs (a list
// cursor) another verifies.
func (db *DB) SigningKey(ctx context.Context, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", name, err)
	}
	var key []byte
	err := db.Pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO signing_keys (name, key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING key)
		SELECT key FROM ins UNION ALL SELECT key FROM signing_keys WHERE name = $1 LIMIT 1`, name, fresh).Scan(&key)
	if err != nil {
		return nil, translate(fmt.Errorf("signing key %s: %w", name, err))
	}
	return key, nil
}
