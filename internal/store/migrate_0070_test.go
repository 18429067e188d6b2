package store_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/migrations"
)

// Migration 0070 ties finished_at to the final states with a check; rows
// that older versions wrote otherwise are brought in line before the check
// is added, so an upgrade cannot fail on them.
func TestMigration0070BackfillsFinishedAt(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	sql, err := fs.ReadFile(migrations.FS, "0070_delivery_hot_updates.sql")
	if err != nil {
		t.Fatal(err)
	}
	// The backfill and the check: everything before the first index change.
	head, _, ok := strings.Cut(string(sql), "DROP INDEX")
	if !ok || !strings.Contains(head, "tasks_finished_when_final") {
		t.Fatal("migration 0070 no longer starts with the finished_at backfill and check")
	}
	failed, delivered, acked := testdb.Task(t, db, odsA, odsB), testdb.Task(t, db, odsA, odsB), testdb.Task(t, db, odsA, odsB)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`ALTER TABLE tasks DROP CONSTRAINT tasks_finished_when_final`)
	exec(`UPDATE tasks SET state = 'failed', finished_at = NULL, updated_at = now() - interval '1 hour' WHERE id = $1`, failed)
	exec(`UPDATE tasks SET state = 'delivered', finished_at = now() WHERE id = $1`, delivered)
	exec(`UPDATE tasks SET state = 'acknowledged', acknowledged_at = now() - interval '2 hours', finished_at = NULL WHERE id = $1`, acked)
	exec(head)
	var ok1, ok2, ok3 bool
	if err := db.Pool.QueryRow(ctx, `SELECT
			(SELECT finished_at = updated_at FROM tasks WHERE id = $1),
			(SELECT finished_at IS NULL FROM tasks WHERE id = $2),
			(SELECT finished_at = acknowledged_at FROM tasks WHERE id = $3)`, failed, delivered, acked).Scan(&ok1, &ok2, &ok3); err != nil {
		t.Fatal(err)
	}
	if !ok1 || !ok2 || !ok3 {
		t.Errorf("after the backfill: failed %v, delivered %v, acknowledged %v; want all true", ok1, ok2, ok3)
	}
}
