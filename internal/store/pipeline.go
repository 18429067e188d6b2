package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// stmt is one statement with its arguments; scan, when set, reads its
// single row, and rows, when set, reads all of its rows. what, when set,
// names the statement in the error of one that has neither.
type stmt struct {
	what string
	sql  string
	args []any
	scan func(pgx.Row) error
	rows func(pgx.Rows) error
	// generic runs the statement with its prepared statement's generic plan
	// (plan_cache_mode, for this statement only; it must run in a
	// transaction). For the delivery engine's statements, which find their
	// rows by primary key in arrays of ids, a custom plan is the same plan
	// found again: Postgres chose one at most calls in some connections
	// (0.7-1.2 ms of planning each, a claim's at 518 of 1,428 calls in one
	// bench/tasks closed loop) and at few in others, by what the first
	// calls on each connection happened to carry.
	generic bool
}

const (
	genericPlans = `SET LOCAL plan_cache_mode = force_generic_plan`
	defaultPlans = `SET LOCAL plan_cache_mode = DEFAULT`
)

func (s stmt) queue(b *pgx.Batch) {
	if s.generic {
		b.Queue(genericPlans)
		defer b.Queue(defaultPlans)
	}
	q := b.Queue(s.sql, s.args...)
	switch {
	case s.scan != nil:
		q.QueryRow(s.scan)
	case s.rows != nil:
		q.Query(s.rows)
	default:
		q.Fn = func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return s.wrap(err)
		}
	}
}

// run executes s inside an ordinary transaction.
func (s stmt) run(ctx context.Context, tx pgx.Tx) error {
	if s.generic {
		if _, err := tx.Exec(ctx, genericPlans); err != nil {
			return err
		}
		s.generic = false // s is a copy: the statement itself, once
		if err := s.run(ctx, tx); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, defaultPlans)
		return err
	}
	switch {
	case s.scan != nil:
		return s.scan(tx.QueryRow(ctx, s.sql, s.args...))
	case s.rows != nil:
		rows, err := tx.Query(ctx, s.sql, s.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := s.rows(rows); err != nil {
			return err
		}
		return rows.Err()
	}
	_, err := tx.Exec(ctx, s.sql, s.args...)
	return s.wrap(err)
}

func (s stmt) wrap(err error) error {
	if err != nil && s.what != "" {
		return fmt.Errorf("%s: %w", s.what, err)
	}
	return err
}

// errRolledBack reports a pipelined transaction that Postgres rolled back
// although no statement's own result said why (it should not happen).
var errRolledBack = errors.New("transaction rolled back")

// pipelineTx runs stmts in one transaction in a single round trip: BEGIN,
// the statements and COMMIT travel as one pipelined batch. The first
// failing statement's error is returned and the transaction is rolled back
// (Postgres turns the COMMIT of a failed transaction into a ROLLBACK; a
// connection left mid-transaction is closed by the pool, never reused).
func (db *DB) pipelineTx(ctx context.Context, stmts ...stmt) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, s := range stmts {
		s.queue(b)
	}
	committed := false
	b.Queue("COMMIT").Exec(func(ct pgconn.CommandTag) error {
		committed = ct.String() == "COMMIT"
		return nil
	})
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return translate(err)
	}
	if !committed {
		return fmt.Errorf("pipelined transaction: %w", errRolledBack)
	}
	return nil
}
