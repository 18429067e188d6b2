package store

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestGenericPlanCoversOneStatement: a generic statement runs with
// force_generic_plan and leaves the rest of its transaction with the
// server's setting, pipelined (queue) or not (run).
func TestGenericPlanCoversOneStatement(t *testing.T) {
	url := os.Getenv("GPFED_TEST_DATABASE_URL") // testdb imports this package: it cannot be used here
	if url == "" {
		t.Fatal("GPFED_TEST_DATABASE_URL is not set (make test sets it)")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	setting := func(out *string) func(pgx.Row) error {
		return func(r pgx.Row) error { return r.Scan(out) }
	}
	const show = `SELECT current_setting('plan_cache_mode')`
	var before, during, after string
	stmts := []stmt{{sql: show, scan: setting(&before)}, {sql: show, scan: setting(&during), generic: true},
		{sql: show, scan: setting(&after)}}

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := sendBatch(ctx, tx, stmts); err != nil {
		t.Fatal(err)
	}
	if before != "auto" || during != "force_generic_plan" || after != "auto" {
		t.Errorf("pipelined: plan_cache_mode %q, %q, %q; want auto, force_generic_plan, auto", before, during, after)
	}
	before, during, after = "", "", ""
	for _, s := range stmts {
		if err := s.run(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	if before != "auto" || during != "force_generic_plan" || after != "auto" {
		t.Errorf("run: plan_cache_mode %q, %q, %q; want auto, force_generic_plan, auto", before, during, after)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}
