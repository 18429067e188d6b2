package jobs_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testfed"
	"github.com/gpfed/gpfed/jobs"
)

type outcome struct {
	Status    string
	HTTP      int
	SpineCode string
}

func outcomes(t *testing.T, f *testfed.Fed, runID int64) map[string]outcome {
	t.Helper()
	ps, err := f.DB.RunPractices(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]outcome{}
	for _, p := range ps {
		o := outcome{Status: p.Status, SpineCode: p.SpineCode}
		if p.HTTPStatus != nil {
			o.HTTP = *p.HTTPStatus
		}
		out[p.ODSCode] = o
	}
	return out
}

func slotCount(t *testing.T, db *store.DB, ods string) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM slots WHERE ods_code = $1`, ods).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFullSyncWithFaultyPractices syncs 24 simulated practices, five of them
// faulty, and checks each fails alone with the right status and Spine code
// while every healthy one stores exactly the slots the provider offers.
func TestFullSyncWithFaultyPractices(t *testing.T) {
	t.Parallel()
	f := testfed.New(t, testfed.Options{Practices: 24})
	ods := f.ODS()
	f.Sim.SetFault(ods[1], sim.Fault{Status: 500})
	f.Sim.SetFault(ods[2], sim.Fault{Status: 503, Times: 2})
	f.Sim.SetFault(ods[3], sim.Fault{Status: 403})
	f.Sim.SetFault(ods[4], sim.Fault{Timeout: true})
	f.Sim.SetFault(ods[5], sim.Fault{Malformed: true})
	f.StartWorker(t, 20)
	ctx := context.Background()

	run, err := f.Sync.Start(ctx, "manual", nil, 28)
	if err != nil {
		t.Fatal(err)
	}
	done := f.WaitRun(t, run.ID, 90*time.Second)
	got := outcomes(t, f, run.ID)
	want := map[string]outcome{}
	for _, o := range ods {
		want[o] = outcome{Status: "ok"}
	}
	want[ods[1]] = outcome{"failed", 500, "INTERNAL_SERVER_ERROR"}
	want[ods[3]] = outcome{"failed", 403, "ACCESS_DENIED"}
	want[ods[4]] = outcome{"failed", 0, "TIMEOUT"}
	want[ods[5]] = outcome{"failed", 200, "MALFORMED_RESPONSE"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("outcomes (-want +got):\n%s", diff)
	}
	if done.PracticesOK != 20 || done.PracticesFailed != 4 || done.FinishedAt == nil {
		t.Errorf("run summary: %+v", done)
	}

	from, to := f.Sync.Window(28)
	total := 0
	for _, o := range ods {
		if got[o].Status != "ok" {
			continue
		}
		want := f.Sim.ExpectedFreeSlots(o, from, to)
		if n := slotCount(t, f.DB, o); n != want || n == 0 {
			t.Errorf("%s: stored %d slots, provider offers %d", o, n, want)
		}
		total += want
	}
	if done.SlotsTotal != total {
		t.Errorf("run slots_total = %d, want %d", done.SlotsTotal, total)
	}
	rows, err := f.DB.Capacity(ctx, store.CapacityFilter{From: from, To: to.AddDate(0, 0, -1)})
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, r := range rows {
		sum += r.FreeSlots
	}
	if sum != total {
		t.Errorf("capacity aggregates sum to %d slots, snapshot has %d", sum, total)
	}
	if !sort.SliceIsSorted(rows, func(i, j int) bool {
		return rows[i].ODSCode < rows[j].ODSCode || rows[i].ODSCode == rows[j].ODSCode && rows[i].Date < rows[j].Date
	}) {
		t.Error("capacity rows not sorted by ods_code, date")
	}
}

// TestRerunIsIdempotentAndFailuresGoStale re-runs a sync with the same data
// (no changes recorded, same rows), then fails one practice: it keeps its
// snapshot, marked stale, until a later success clears it.
func TestRerunIsIdempotentAndFailuresGoStale(t *testing.T) {
	t.Parallel()
	f := testfed.New(t, testfed.Options{Practices: 6})
	f.StartWorker(t, 10)
	ctx := context.Background()
	ods := f.ODS()

	first := syncNow(t, f)
	before := slotCount(t, f.DB, ods[0])
	second := syncNow(t, f)
	if second.SlotsTotal != first.SlotsTotal || slotCount(t, f.DB, ods[0]) != before {
		t.Fatalf("re-run changed data: %d -> %d slots", first.SlotsTotal, second.SlotsTotal)
	}
	var changes int
	if err := f.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM slot_changes WHERE run_id = $1`, second.ID).Scan(&changes); err != nil {
		t.Fatal(err)
	}
	if changes != 0 {
		t.Errorf("identical re-run recorded %d slot changes", changes)
	}

	f.Sim.SetFault(ods[0], sim.Fault{Status: 500})
	third := syncNow(t, f)
	if third.PracticesFailed != 1 {
		t.Fatalf("want 1 failure, got %+v", third)
	}
	if n := slotCount(t, f.DB, ods[0]); n != before {
		t.Errorf("failed practice lost its snapshot: %d slots, had %d", n, before)
	}
	var stale bool
	var lastSuccess, staleSince *time.Time
	var spine string
	err := f.DB.Pool.QueryRow(ctx, `SELECT stale, last_success_at, stale_since, COALESCE(last_spine_code, '')
		FROM practice_sync_state WHERE ods_code = $1`, ods[0]).Scan(&stale, &lastSuccess, &staleSince, &spine)
	if err != nil {
		t.Fatal(err)
	}
	if !stale || lastSuccess == nil || staleSince == nil || spine != "INTERNAL_SERVER_ERROR" || !staleSince.After(*lastSuccess) {
		t.Errorf("stale state: stale=%v last_success=%v stale_since=%v spine=%q", stale, lastSuccess, staleSince, spine)
	}

	f.Sim.SetFault(ods[0], sim.Fault{})
	fourth := syncNow(t, f)
	if fourth.PracticesFailed != 0 {
		t.Fatalf("recovery run: %+v", fourth)
	}
	if err := f.DB.Pool.QueryRow(ctx, `SELECT stale FROM practice_sync_state WHERE ods_code = $1`, ods[0]).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if stale {
		t.Error("practice still stale after a successful sync")
	}
}

func syncNow(t *testing.T, f *testfed.Fed) store.SyncRun {
	t.Helper()
	run, err := f.Sync.Start(context.Background(), "manual", nil, 28)
	if err != nil {
		t.Fatal(err)
	}
	return f.WaitRun(t, run.ID, 60*time.Second)
}

// TestTwoSchedulersOneRun runs two scheduler replicas against one database:
// only the lease holder fires, so one scheduled run exists; when it stops,
// the standby takes over.
func TestTwoSchedulersOneRun(t *testing.T) {
	t.Parallel()
	f := testfed.New(t, testfed.Options{Practices: 3})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctxA, stopA := context.WithCancel(ctx)
	a := jobs.NewLeader(f.DB, "scheduler", "replica-a", 900*time.Millisecond, nil, f.Log)
	b := jobs.NewLeader(f.DB, "scheduler", "replica-b", 900*time.Millisecond, nil, f.Log)
	doneA := make(chan struct{})
	go func() { a.Run(ctxA); close(doneA) }()
	waitFor(t, a.IsLeader, "replica a to lead")
	go b.Run(ctx)
	time.Sleep(400 * time.Millisecond) // b has campaigned at least once by now
	if b.IsLeader() {
		t.Fatal("two leaders at once")
	}
	// Both replicas' cron fires at the same instant.
	for _, l := range []*jobs.Leader{a, b} {
		if l.IsLeader() {
			f.Sync.RunScheduled(ctx)
		}
	}
	var runs int
	if err := f.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM sync_runs WHERE trigger = 'schedule'`).Scan(&runs); err != nil {
		t.Fatal(err)
	}
	if runs != 1 {
		t.Fatalf("want exactly one scheduled run, got %d", runs)
	}
	// A second firing while that run is still running is skipped, not duplicated.
	f.Sync.RunScheduled(ctx)
	if err := f.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM sync_runs WHERE trigger = 'schedule'`).Scan(&runs); err != nil {
		t.Fatal(err)
	}
	if runs != 1 {
		t.Fatalf("overlapping scheduled run created: %d runs", runs)
	}
	stopA()
	<-doneA
	waitFor(t, b.IsLeader, "standby b to take over")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
