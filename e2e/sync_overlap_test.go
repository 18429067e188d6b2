package e2e

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/testdb"
)

// TestScheduledRunAndSyncOnceOverlap is issue 9's overlap proof with real
// processes: a worker and a scheduler whose missed-run catch-up starts a
// scheduled run, and `gpfed sync --once` started at the same moment. Neither
// errs, no practice is fetched or saved by both at once (the measured
// "duplicate key value violates unique constraint slots_pkey"), each
// practice is fetched once per run or reported as skipped (in the outcome
// and the command's output), and the snapshot is exactly a single run's.
func TestScheduledRunAndSyncOnceOverlap(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, stackOpts{practices: 40, env: []string{"GPFED_SYNC_CONCURRENCY=6"}})
	ods := ts.ODS()
	setLatency(ts.Fed, 100*time.Millisecond, ods[:4], 1500*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := ts.Start("worker", []string{"worker"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Start("scheduler", []string{"scheduler"}); err != nil {
		t.Fatal(err)
	}
	var scheduled int64
	if err := waitFor(30*time.Second, func() error {
		return ts.DB.QueryRow(ctx, `SELECT id FROM sync_runs WHERE trigger = 'schedule'`).Scan(&scheduled)
	}); err != nil {
		t.Fatalf("the scheduler's catch-up run never started: %v", err)
	}
	out, err := ts.Run(ctx, "sync", "--once")
	if err != nil {
		t.Fatalf("sync --once during a scheduled run: %v\n%s", err, out)
	}
	var manual int64
	if err := ts.DB.QueryRow(ctx, `SELECT id FROM sync_runs WHERE trigger = 'manual'`).Scan(&manual); err != nil {
		t.Fatal(err)
	}
	waitRunCompleted(ctx, t, ts.DB, scheduled, 2*time.Minute)
	skipped := checkOverlap(ctx, t, ts, scheduled, manual)
	if m := regexp.MustCompile(`(\d+) skipped, `).FindStringSubmatch(out); m == nil || m[1] != strconv.Itoa(skipped[manual]) {
		t.Errorf("sync --once's summary does not report its %d skipped practices:\n%s", skipped[manual], out)
	}
	if skipped[manual] > 0 && !regexp.MustCompile(`(?m)^SKIPPED`).MatchString(out) {
		t.Errorf("sync --once does not list its skipped practices:\n%s", out)
	}

	// A single run afterwards changes nothing: the overlapped snapshot is a single run's.
	before := testdb.SnapshotDump(t, ts.DB)
	if out, err := ts.Run(ctx, "sync", "--once"); err != nil {
		t.Fatalf("single sync: %v\n%s", err, out)
	}
	if diff := cmp.Diff(before, testdb.SnapshotDump(t, ts.DB)); diff != "" {
		t.Errorf("a single run changed the overlapped snapshot (-overlap +single):\n%s", diff)
	}
	var changes int
	if err := ts.DB.QueryRow(ctx, `SELECT count(*) FROM slot_changes`).Scan(&changes); err != nil {
		t.Fatal(err)
	}
	if changes != 0 {
		t.Errorf("%d slot changes recorded although no provider data changed", changes)
	}
	noCollisions(t, ts.Stack)
}

// checkOverlap checks both runs' outcomes and returns each run's skipped count.
func checkOverlap(ctx context.Context, t *testing.T, ts *testStack, a, b int64) map[int64]int {
	t.Helper()
	outs := map[int64]map[string]runOutcome{a: runOutcomes(ctx, t, ts.DB, a), b: runOutcomes(ctx, t, ts.DB, b)}
	skipped := map[int64]int{}
	for _, ods := range ts.ODS() {
		oks := 0
		for run, other := range map[int64]int64{a: b, b: a} {
			o := outs[run][ods]
			switch o.Status {
			case "ok":
				oks++
				if o.Attempts != 1 {
					t.Errorf("run %d %s: %d attempts (a collision retried)", run, ods, o.Attempts)
				}
			case "skipped":
				skipped[run]++
				if o.SkippedForRun == nil || *o.SkippedForRun != other {
					t.Errorf("run %d %s skipped, not for run %d: %+v", run, ods, other, o)
				}
			default:
				t.Errorf("run %d %s: %+v", run, ods, o)
			}
		}
		// One fetch is two windows; the simulator counts what reached it.
		if n := ts.Fed.Requests(ods); oks == 0 || n != 2*oks {
			t.Errorf("%s: %d successful fetches, %d requests at the provider", ods, oks, n)
		}
	}
	if skipped[a]+skipped[b] == 0 {
		t.Error("the runs never overlapped on a practice: nothing to prove")
	}
	t.Logf("skipped: scheduled run %d, sync --once %d", skipped[a], skipped[b])
	return skipped
}
