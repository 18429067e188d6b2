package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The delivery queue is a churn table: every delivery inserts a row, claims
// it, and deletes it. Until VACUUM runs, each deleted row stays in the heap
// and in the queue's indexes, and the claim's per-endpoint in-flight count
// visits every one of them (a bitmap scan marks nothing dead): at a thousand
// deliveries a second the claim slowed from 0.4 ms to over 1.4 ms within
// seconds, and autovacuum looks at most once a minute. So the workers vacuum
// the queue themselves when it has gathered enough dead rows
// (VacuumDeliveryQueue); migrations/0011 also tunes autovacuum for it and
// turns off the end-of-vacuum truncation, whose exclusive lock would stall
// every claim.

// QueueDeadRows is the number of dead rows the statistics report for the
// delivery queue (they lag by up to a second).
func (db *DB) QueueDeadRows(ctx context.Context) (int64, error) {
	var n int64
	err := db.Pool.QueryRow(ctx, `SELECT COALESCE((SELECT n_dead_tup FROM pg_stat_user_tables
		WHERE relid = 'delivery_queue'::regclass), 0)`).Scan(&n)
	return n, translate(err)
}

// VacuumDeliveryQueue vacuums the delivery queue, skipping it when another
// vacuum holds it (any number of workers may call it at once).
func (db *DB) VacuumDeliveryQueue(ctx context.Context) error {
	_, err := db.Pool.Exec(ctx, `VACUUM (SKIP_LOCKED, TRUNCATE false) delivery_queue`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return translate(fmt.Errorf("vacuum delivery queue: %w", err))
	}
	return nil
}
