package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/internal/testfed"
)

// TestOverlappingRunsFetchEachPracticeOnce starts a scheduled run and a
// manual run at the same moment, served by two workers: no practice is
// fetched or saved by both at once (the measured collision was a
// slots_pkey duplicate key), each practice is fetched once per run or
// reported as skipped, some wait for the other run's fetch and say so, and
// the snapshot is exactly what a single run stores.
func TestOverlappingRunsFetchEachPracticeOnce(t *testing.T) {
	t.Parallel()
	f := testfed.New(t, testfed.Options{Practices: 24, Latency: 30 * time.Millisecond})
	ods := f.ODS()
	for _, o := range ods[:4] { // slow providers: the other run reaches them mid-fetch
		f.Sim.SetFault(o, sim.Fault{Latency: 1500 * time.Millisecond})
	}
	f.StartWorker(t, 6)
	f.StartWorker(t, 6)
	ctx := context.Background()
	a, err := f.Sync.Start(ctx, "schedule", nil, 28)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Sync.Start(ctx, "manual", nil, 28)
	if err != nil {
		t.Fatal(err)
	}
	sawWaiting := false
	deadline := time.Now().Add(90 * time.Second)
	for {
		rb, err := f.DB.GetSyncRun(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		ra, err := f.DB.GetSyncRun(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		sawWaiting = sawWaiting || rb.PracticesWaiting > 0 || ra.PracticesWaiting > 0
		if ra.Status == "completed" && rb.Status == "completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs not complete: %+v %+v", ra, rb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkOverlapOutcomes(t, f, a.ID, b.ID)
	if !sawWaiting {
		t.Error("no run ever reported a practice waiting for the other run's fetch")
	}

	// A single run afterwards finds nothing to change: the overlapped
	// snapshot is exactly a single run's.
	before := testdb.SnapshotDump(t, f.DB.Pool)
	c := syncNow(t, f)
	if c.PracticesOK != len(ods) {
		t.Fatalf("single run after the overlap: %+v", c)
	}
	if diff := cmp.Diff(before, testdb.SnapshotDump(t, f.DB.Pool)); diff != "" {
		t.Errorf("a single run changed the overlapped snapshot (-overlap +single):\n%s", diff)
	}
	var changes int
	if err := f.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM slot_changes`).Scan(&changes); err != nil {
		t.Fatal(err)
	}
	if changes != 0 {
		t.Errorf("%d slot changes recorded for unchanged provider data", changes)
	}
}

// checkOverlapOutcomes: every practice is ok or skipped in both runs, ok in
// at least one, fetched (two windows) exactly once per ok, never retried.
func checkOverlapOutcomes(t *testing.T, f *testfed.Fed, a, b int64) {
	t.Helper()
	ctx := context.Background()
	byRun := map[int64]map[string]store.RunPractice{}
	for _, id := range []int64{a, b} {
		ps, err := f.DB.RunPractices(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		byRun[id] = map[string]store.RunPractice{}
		for _, p := range ps {
			byRun[id][p.ODSCode] = p
		}
	}
	skipped := 0
	for _, o := range f.ODS() {
		oks := 0
		for run, other := range map[int64]int64{a: b, b: a} {
			p := byRun[run][o]
			switch {
			case p.Status == "ok":
				oks++
			case p.Status == "skipped":
				skipped++
				if p.SkippedForRun == nil || *p.SkippedForRun != other || !strings.Contains(p.Diagnostics, fmt.Sprintf("run %d", other)) {
					t.Errorf("run %d %s skipped without naming run %d: %+v", run, o, other, p)
				}
			default:
				t.Errorf("run %d %s: outcome %+v", run, o, p)
			}
			if p.Attempts != 1 && p.Status == "ok" {
				t.Errorf("run %d %s: %d attempts (a collision retried)", run, o, p.Attempts)
			}
		}
		if n := f.Sim.Requests(o); oks == 0 || n != 2*oks {
			t.Errorf("%s: %d ok outcomes, %d GP Connect requests (want two windows per ok)", o, oks, n)
		}
	}
	if skipped == 0 {
		t.Error("overlapping runs skipped nothing: every practice was fetched twice")
	}
}
