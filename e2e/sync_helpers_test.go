package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gpfed/gpfed/internal/sim"
)

// Helpers of the capacity sync tests (issue 9): overlapping runs and scale-out.

// runOutcome is one practice's outcome in one run.
type runOutcome struct {
	Status        string
	Attempts      int
	SkippedForRun *int64
}

// runOutcomes reads every practice's outcome in run.
func runOutcomes(ctx context.Context, t *testing.T, db *pgxpool.Pool, run int64) map[string]runOutcome {
	t.Helper()
	rows, err := db.Query(ctx, `SELECT ods_code, status, attempts, skipped_for_run FROM sync_run_practices WHERE run_id = $1`, run)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]runOutcome{}
	for rows.Next() {
		var ods string
		var o runOutcome
		if err := rows.Scan(&ods, &o.Status, &o.Attempts, &o.SkippedForRun); err != nil {
			t.Fatal(err)
		}
		out[ods] = o
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitRunCompleted polls until run completes (or fails the test after timeout).
func waitRunCompleted(ctx context.Context, t *testing.T, db *pgxpool.Pool, run int64, timeout time.Duration) {
	t.Helper()
	err := waitFor(timeout, func() error {
		var status string
		var pending int
		if err := db.QueryRow(ctx, `SELECT r.status, (SELECT count(*) FROM sync_run_practices p WHERE p.run_id = r.id AND p.status = 'pending')
			FROM sync_runs r WHERE r.id = $1`, run).Scan(&status, &pending); err != nil {
			return err
		}
		if status != "completed" {
			return fmt.Errorf("run %d %s, %d practices pending", run, status, pending)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setLatency makes every simulated practice answer after d (and the listed
// ones after slow), so that runs last long enough to overlap or be
// interrupted.
func setLatency(fed *sim.Federation, d time.Duration, slow []string, slowD time.Duration) {
	for _, p := range fed.Practices() {
		fed.SetFault(p.ODS, sim.Fault{Latency: d})
	}
	for _, ods := range slow {
		fed.SetFault(ods, sim.Fault{Latency: slowD})
	}
}

// logRecords decodes the JSON log lines of one process's log whose msg is one of msgs.
func logRecords(t *testing.T, st *Stack, file string, msgs ...string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range logLines(t, st)[file] {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		for _, m := range msgs {
			if rec["msg"] == m {
				out = append(out, rec)
			}
		}
	}
	return out
}

// noCollisions fails the test if any process logged the collision issue 9
// measured (or any other unique violation).
func noCollisions(t *testing.T, st *Stack) {
	t.Helper()
	for file, lines := range logLines(t, st) {
		for _, l := range lines {
			if strings.Contains(l, "duplicate key") || strings.Contains(l, "slots_pkey") || strings.Contains(l, "SQLSTATE 23505") {
				t.Errorf("%s: %s", file, l)
			}
		}
	}
}
