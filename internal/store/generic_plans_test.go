package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// TestGenericPlansUseKeys: the statements that run with their generic
// plans (stmt.generic) still find their rows by key when the tables are
// large, as in a practice's long outage: no sequential scan of tasks,
// notifications or the delivery queue, whatever the batch.
func TestGenericPlansUseKeys(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	// A backlog of 20,000 tasks and as many notifications, all queued.
	testdb.Exec(t, db, `INSERT INTO tasks (id, sender_ods, recipient_ods, patient_nhs_number, type, priority, subject, body, expires_at)
		SELECT gen_random_uuid(), $1, $2, '9434765919', 'information', 'routine', 'backlog', '', now() + interval '1 day'
		FROM generate_series(1, 20000)`, odsA, odsB)
	testdb.Exec(t, db, `INSERT INTO notifications (id, recipient_ods, kind, task_id, data, expires_at)
		SELECT gen_random_uuid(), sender_ods, 'task.delivered', id, '{}', now() + interval '1 day' FROM tasks`)
	testdb.Exec(t, db, `INSERT INTO delivery_queue (ref_id, kind, endpoint) SELECT id, 'task', recipient_ods FROM tasks
		UNION ALL SELECT id, 'notification', recipient_ods FROM notifications`)
	testdb.Exec(t, db, `ANALYZE tasks, notifications, delivery_queue`)

	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	for name, sql := range store.GenericPlanStatements() {
		t.Run(name, func(t *testing.T) {
			if _, err := conn.Exec(ctx, `PREPARE p AS `+sql); err != nil {
				t.Fatalf("prepare: %v", err)
			}
			defer conn.Exec(ctx, `DEALLOCATE p`) //nolint:errcheck // the connection goes back to the pool either way
			var n int
			if err := conn.QueryRow(ctx, `SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = 'p'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			nulls := strings.TrimSuffix(strings.Repeat("NULL, ", n), ", ")
			rows, err := conn.Query(ctx, fmt.Sprintf(`EXPLAIN EXECUTE p(%s)`, nulls))
			if err != nil {
				t.Fatalf("explain: %v", err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			text := strings.Join(plan, "\n")
			for _, table := range []string{"tasks", "notifications", "delivery_queue"} {
				if strings.Contains(text, "Seq Scan on "+table) {
					t.Errorf("the generic plan scans %s:\n%s", table, text)
				}
			}
		})
	}
}
