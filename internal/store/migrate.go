package store

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/migrations"
)

// migrationLockID is the advisory lock key that serialises concurrent
// `gpfed migrate` runs (several replicas starting at once).
const migrationLockID = 7_301_994_211

// Migrate applies every embedded migration not yet recorded in
// schema_migrations, each in its own transaction, and returns the names it applied.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return nil, translate(fmt.Errorf("acquire: %w", err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
		return nil, translate(fmt.Errorf("migration lock: %w", err))
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockID)
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, translate(fmt.Errorf("create schema_migrations: %w", err))
	}
	names, err := MigrationNames()
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, name := range names {
		done, err := migrationApplied(ctx, conn.Conn(), name)
		if err != nil {
			return applied, err
		}
		if done {
			continue
		}
		if err := applyMigration(ctx, conn.Conn(), name); err != nil {
			return applied, err
		}
		applied = append(applied, name)
	}
	return applied, nil
}

// MigrationNames lists the embedded migrations in the order they apply.
func MigrationNames() ([]string, error) {
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// PendingMigrations returns the embedded migrations the database lacks
// (readiness checks report "migrations current" from it).
func (db *DB) PendingMigrations(ctx context.Context) ([]string, error) {
	names, err := MigrationNames()
	if err != nil {
		return nil, err
	}
	rows, err := db.Pool.Query(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		return nil, translate(fmt.Errorf("read schema_migrations: %w", err))
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, translate(err)
	}
	have := make(map[string]bool, len(done))
	for _, n := range done {
		have[n] = true
	}
	var pending []string
	for _, n := range names {
		if !have[n] {
			pending = append(pending, n)
		}
	}
	return pending, nil
}

func migrationApplied(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	var exists bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE name = $1)`, name).Scan(&exists)
	return exists, translate(err)
}

func applyMigration(ctx context.Context, conn *pgx.Conn, name string) error {
	body, err := fs.ReadFile(migrations.FS, name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return translate(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, string(body)); err != nil {
		return fmt.Errorf("apply %s: %w", name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name); err != nil {
		return translate(fmt.Errorf("record %s: %w", name, err))
	}
	return translate(tx.Commit(ctx))
}
