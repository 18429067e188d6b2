package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// APIKeysChannel is signalled when API keys are revoked or deleted, or a
// practice's membership changes (migrations/0009_api_key_notify.sql).
const APIKeysChannel = "gpfed_api_keys"

// Listen LISTENs on channel on a dedicated connection and calls wake for
// every notification until ctx ends (nil) or the connection fails (the
// error). wake is also called once the LISTEN is in place, so the caller
// can catch up on anything it missed while it was not listening.
func (db *DB) Listen(ctx context.Context, channel string, wake func()) error {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return translate(fmt.Errorf("listen %s: acquire: %w", channel, err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return translate(fmt.Errorf("listen %s: %w", channel, err))
	}
	defer func() {
		// Never hand a listening connection back to the pool.
		if ctx.Err() != nil || conn.Conn().IsClosed() {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
			return
		}
		_, _ = conn.Exec(context.WithoutCancel(ctx), "UNLISTEN "+pgx.Identifier{channel}.Sanitize())
	}()
	wake()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return translate(fmt.Errorf("wait on %s: %w", channel, err))
		}
		wake()
	}
}
