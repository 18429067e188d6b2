package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/slot"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// groupFixture is three practices in one run, each with its fetch lease
// claimed, and the snapshots their fetches found.
func groupFixture(t *testing.T, db *store.DB) (run int64, saves []store.SnapshotSave) {
	t.Helper()
	ctx := context.Background()
	ps := []practice.Practice{mk("C30003", "Cedar"), mk("A10001", "Ash"), mk("B20002", "Birch")}
	if _, err := db.ImportPractices(ctx, ps, false); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 18, 0, 0, 0, 0, time.UTC)
	r, _, err := db.CreateSyncRun(ctx, "manual", from, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	slots := map[string][]slot.Slot{
		"C30003": {slotAt("s1", 23, 9, "R0260"), slotAt("s2", 24, 10, "R0620")},
		"A10001": {slotAt("s1", 23, 9, "R0260"), slotAt("x9", 26, 14, "R0260"), slotAt("x8", 26, 15, "R1480")},
		"B20002": {slotAt("b1", 25, 11, "R0260")},
	}
	for _, p := range ps {
		c, err := db.ClaimFetch(ctx, r.ID, p.ODSCode, "urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1", "test", time.Minute)
		if err != nil || !c.Acquired {
			t.Fatalf("claim %s: %+v %v", p.ODSCode, c, err)
		}
		saves = append(saves, store.SnapshotSave{Outcome: store.FetchOutcome{RunID: r.ID, ODSCode: p.ODSCode, Calls: 2,
			LeaseToken: c.Token}, From: from, To: to, Slots: slots[p.ODSCode]})
	}
	return r.ID, saves
}

// TestSaveSnapshotsGroup saves three practices in one transaction, one of
// them with a lease that lapsed: that one alone is refused and writes
// nothing, and the others end exactly as saving each alone leaves them.
func TestSaveSnapshotsGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	grouped, _ := testdb.New(t)
	run, saves := groupFixture(t, grouped)
	saves[2].Outcome.LeaseToken = "00000000-0000-4000-8000-000000000000" // B20002's lease was taken over
	rs, err := grouped.SaveSnapshots(ctx, saves)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(rs[2].Err, store.ErrLeaseLost) {
		t.Errorf("B20002 with a lapsed lease: %v, want ErrLeaseLost", rs[2].Err)
	}
	for i, want := range []store.SnapshotChanges{{Added: 2}, {Added: 3}} {
		if rs[i].Err != nil || rs[i].Changes != want {
			t.Errorf("%s: %+v, want %+v and no error", saves[i].Outcome.ODSCode, rs[i], want)
		}
	}
	status := testdb.Strings(t, grouped.Pool, `SELECT ods_code || ' ' || status || ' ' || COALESCE(slots, -1)
		FROM sync_run_practices WHERE run_id = $1 ORDER BY 1`, run)
	if diff := cmp.Diff([]string{"A10001 ok 3", "B20002 pending -1", "C30003 ok 2"}, status); diff != "" {
		t.Errorf("run outcomes (-want +got):\n%s", diff)
	}
	leases := testdb.Strings(t, grouped.Pool, `SELECT ods_code FROM practice_fetch_leases ORDER BY 1`)
	if diff := cmp.Diff([]string{"B20002"}, leases); diff != "" {
		t.Errorf("leases left (-want +got):\n%s", diff)
	}

	alone, _ := testdb.New(t)
	_, saves = groupFixture(t, alone)
	for _, sv := range saves[:2] {
		if _, err := alone.SaveSnapshot(ctx, sv.Outcome, sv.From, sv.To, sv.Slots); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(testdb.SnapshotDump(t, alone.Pool), testdb.SnapshotDump(t, grouped.Pool)); diff != "" {
		t.Errorf("group save differs from saving each alone (-alone +group):\n%s", diff)
	}
	history := `SELECT ods_code || ' ' || local_date || ' ' || free_slots FROM capacity_history ORDER BY 1`
	if diff := cmp.Diff(testdb.Strings(t, alone.Pool, history), testdb.Strings(t, grouped.Pool, history)); diff != "" {
		t.Errorf("capacity history differs (-alone +group):\n%s", diff)
	}
}

// TestRenewFetchLeasesSkipsLeasesBeingReleased renews an instance's leases
// while a transaction holds one of them (a group of snapshots releasing
// it): the renewal neither waits for it nor deadlocks, and renews the rest.
func TestRenewFetchLeasesSkipsLeasesBeingReleased(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	_, saves := groupFixture(t, db)
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `DELETE FROM practice_fetch_leases WHERE ods_code = $1`, saves[0].Outcome.ODSCode); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := db.RenewFetchLeases(rctx, "test", time.Minute)
	if err != nil || n != 2 {
		t.Errorf("renewed %d leases (%v), want the 2 not being released", n, err)
	}
}

// TestCapacityCountsKeepAnyName stores capacity for sites whose names need
// escaping in JSON: every name comes back from the jsonb column as it was.
func TestCapacityCountsKeepAnyName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk("A20047", "Legg")}, false); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 18, 0, 0, 0, 0, time.UTC)
	run, _, err := db.CreateSyncRun(ctx, "manual", from, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{`Dr "Q" \ Surgery`, "Tab\there\nand\x01", "<Main & Co>", "Ünïcode ☃ 𝄞", ""}
	var slots []slot.Slot
	for i, n := range names {
		s := slotAt(fmt.Sprint("s", i), 23, 9+i, "R0260")
		s.SiteName = n
		slots = append(slots, s)
	}
	if _, err := db.SaveSnapshot(ctx, store.FetchOutcome{RunID: run.ID, ODSCode: "A20047"}, from, to, slots); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := db.Pool.QueryRow(ctx, `SELECT by_site::text FROM capacity_daily WHERE ods_code = 'A20047'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var got map[string]int
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("by_site %s: %v", raw, err)
	}
	want := map[string]int{"unspecified": 1}
	for _, n := range names[:4] {
		want[n] = 1
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("by_site (-want +got):\n%s", diff)
	}
}

// TestPruneCapacityHistoryTakesItsDays prunes old capacity history: each
// entry goes with its days, newer entries stay whole, and a practice that
// still has capacity cannot be deleted.
func TestPruneCapacityHistoryTakesItsDays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	_, saves := groupFixture(t, db)
	if _, err := db.SaveSnapshots(ctx, saves); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE capacity_history_fetches SET recorded_at = now() - interval '400 days'
		WHERE ods_code <> 'C30003'`); err != nil {
		t.Fatal(err)
	}
	n, err := db.PruneCapacityHistory(ctx, time.Now().Add(-24*time.Hour), 100)
	if err != nil || n != 2 {
		t.Fatalf("pruned %d entries (%v), want 2", n, err)
	}
	left := testdb.Strings(t, db.Pool, `SELECT DISTINCT ods_code FROM capacity_history
		UNION ALL SELECT 'fetch ' || ods_code FROM capacity_history_fetches ORDER BY 1`)
	if diff := cmp.Diff([]string{"C30003", "fetch C30003"}, left); diff != "" {
		t.Errorf("history left (-want +got):\n%s", diff)
	}
	if _, err := db.Pool.Exec(ctx, `DELETE FROM slots WHERE ods_code = 'A10001'`); err != nil {
		t.Fatal(err)
	}
	_, err = db.Pool.Exec(ctx, `DELETE FROM practices WHERE ods_code = 'A10001'`)
	if err == nil || !strings.Contains(err.Error(), "practice A10001 still has slots") {
		t.Errorf("deleting a practice with capacity rows but no slots: %v, want the trigger's refusal", err)
	}
}
