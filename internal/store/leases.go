package store

import (
	"context"
	"fmt"
	"time"
)

// TryAcquireLease takes or renews the named lease for holder. It returns
// false, without error, while another live holder has it.
func (db *DB) TryAcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	var got string
	err := db.Pool.QueryRow(ctx, `
		INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, now() + $3::interval)
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
			acquired_at = CASE WHEN leases.holder = EXCLUDED.holder THEN leases.acquired_at ELSE now() END
		WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < now()
		RETURNING holder`, name, holder, fmt.Sprintf("%d milliseconds", ttl.Milliseconds())).Scan(&got)
	if err != nil {
		err = translate(err)
		if isNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("lease %s: %w", name, err)
	}
	return got == holder, nil
}

// ReleaseLease gives the lease up so a standby can take over at once.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := db.Pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
	return translate(err)
}
