package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// stmt is one statement with its arguments; scan, when set, reads its
// single row.
type stmt struct {
	sql  string
	args []any
	scan func(pgx.Row) error
}

func (s stmt) queue(b *pgx.Batch) {
	q := b.Queue(s.sql, s.args...)
	if s.scan != nil {
		q.QueryRow(s.scan)
		return
	}
	q.Exec(func(pgconn.CommandTag) error { return nil })
}

// run executes s inside an ordinary transaction.
func (s stmt) run(ctx context.Context, tx pgx.Tx) error {
	if s.scan != nil {
		return s.scan(tx.QueryRow(ctx, s.sql, s.args...))
	}
	_, err := tx.Exec(ctx, s.sql, s.args...)
	return err
}

// lockedTx is a transaction shaped for delivery in two round trips: BEGIN
// travels with the lock statement, and the statement decide returns (nil:
// none) travels with COMMIT. decide runs while the transaction, and so the
// lock, is held. If anything fails, the transaction is rolled back.
func (db *DB) lockedTx(ctx context.Context, lock stmt, decide func() (*stmt, error)) error {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return translate(fmt.Errorf("acquire: %w", err))
	}
	defer conn.Release()
	open := true
	defer func() {
		if open {
			// A connection that cannot roll back is closed, not pooled.
			if _, err := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); err != nil {
				_ = conn.Conn().Close(context.WithoutCancel(ctx))
			}
		}
	}()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	lock.queue(b)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return translate(fmt.Errorf("lock: %w", err))
	}
	verdict, err := decide()
	if err != nil {
		return translate(err)
	}
	b = &pgx.Batch{}
	if verdict != nil {
		verdict.queue(b)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return translate(fmt.Errorf("commit: %w", err))
	}
	open = false
	return nil
}
