package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

func opsSetup(t *testing.T) *store.DB {
	t.Helper()
	db, _ := testdb.New(t)
	ps := []practice.Practice{
		{ODSCode: "A81001", Name: "Abbey", ASID: "1", Endpoint: "https://gp.example/A81001"},
		{ODSCode: "B82002", Name: "Brook", ASID: "2", Endpoint: "https://gp.example/B82002"},
	}
	if _, err := db.ImportPractices(context.Background(), ps, false); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestDashboardSessions(t *testing.T) {
	t.Parallel()
	db := opsSetup(t)
	ctx := context.Background()
	_, admin, err := db.CreateAPIKey(ctx, store.RoleAdmin, "", "lead")
	if err != nil {
		t.Fatal(err)
	}
	_, prac, err := db.CreateAPIKey(ctx, store.RolePractice, "A81001", "")
	if err != nil {
		t.Fatal(err)
	}
	raw, s, err := db.CreateDashboardSession(ctx, admin.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if s.CSRFToken == "" || s.KeyPrefix != admin.Prefix || s.ExpiresAt.Sub(s.CreatedAt) != time.Hour {
		t.Errorf("session = %+v", s)
	}
	got, err := db.DashboardSessionByID(ctx, raw)
	if err != nil || got.CSRFToken != s.CSRFToken || got.APIKeyID != admin.ID {
		t.Fatalf("lookup = %+v, %v", got, err)
	}
	var plain int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM dashboard_sessions WHERE id_hash = $1::text::bytea`, raw).Scan(&plain); err != nil || plain != 0 {
		t.Errorf("raw session id stored in clear (%d, %v)", plain, err)
	}
	if _, _, err := db.CreateDashboardSession(ctx, prac.ID, time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("practice key session: %v, want ErrNotFound", err)
	}
	for name, id := range map[string]string{"empty": "", "unknown": "nope"} {
		if _, err := db.DashboardSessionByID(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s id: %v, want ErrNotFound", name, err)
		}
	}
	if err := db.DeleteDashboardSession(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DashboardSessionByID(ctx, raw); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
}

func TestOpsQueriesOnEmptyAndSeededData(t *testing.T) {
	t.Parallel()
	db := opsSetup(t)
	ctx := context.Background()
	flow, err := db.TaskFlowSummary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"accepted": 0, "delivered": 0, "acknowledged": 0, "failed": 0, "cancelled": 0}
	if diff := cmp.Diff(want, flow.TasksByState); diff != "" || flow.OldestUndelivered != nil {
		t.Errorf("empty task flow (-want +got):\n%s oldest %v", diff, flow.OldestUndelivered)
	}
	runs, err := db.ListSyncRuns(ctx, 10, 0)
	if err != nil || len(runs) != 0 {
		t.Fatalf("no runs: %v %v", runs, err)
	}
	for _, q := range []string{
		`INSERT INTO sync_runs (trigger, from_date, to_date) VALUES ('manual', '2026-11-23', '2026-12-21'), ('manual', '2026-11-24', '2026-12-22')`,
		`INSERT INTO sync_run_practices (run_id, ods_code, status, slots) VALUES (2, 'A81001', 'ok', 40), (2, 'B82002', 'pending', NULL)`,
		`INSERT INTO slots (ods_code, slot_id, start_at, end_at, local_date, duration_minutes, site_name, role_code, role_display, delivery_channel, first_seen_at) VALUES
			('A81001', 's1', '2026-11-23 09:00Z', '2026-11-23 09:10Z', '2026-11-23', 10, 'Main', 'R0260', 'GP', 'In-person', now()),
			('A81001', 's2', '2026-11-23 09:10Z', '2026-11-23 09:25Z', '2026-11-23', 15, 'Main', 'R0260', 'GP', 'In-person', now()),
			('A81001', 's3', '2026-11-24 09:00Z', '2026-11-24 09:10Z', '2026-11-24', 10, '', '', '', '', now())`,
	} {
		if _, err := db.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	runs, err = db.ListSyncRuns(ctx, 1, 0)
	if err != nil || len(runs) != 1 || runs[0].ID != 2 || runs[0].PracticesOK != 1 || runs[0].PracticesDone != 1 || runs[0].SlotsTotal != 40 {
		t.Fatalf("newest run = %+v, %v", runs, err)
	}
	if older, _ := db.ListSyncRuns(ctx, 5, 2); len(older) != 1 || older[0].ID != 1 {
		t.Errorf("page before 2 = %+v", older)
	}
	if _, err := db.SyncRunByID(ctx, 9); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown run: %v", err)
	}
	outcomes, err := db.SyncRunOutcomes(ctx, 2)
	if err != nil || len(outcomes) != 2 || outcomes[0].Status != "pending" || outcomes[0].PracticeName != "Brook" {
		t.Errorf("outcomes (pending before ok) = %+v, %v", outcomes, err)
	}
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	splits, err := db.PracticeCapacitySplits(ctx, "A81001", day("2026-11-23"), day("2026-11-24"))
	if err != nil {
		t.Fatal(err)
	}
	wantSplits := []store.CapacitySplit{
		{Date: "2026-11-23", Site: "Main", RoleCode: "R0260", RoleDisplay: "GP", Channel: "In-person", Slots: 2, Minutes: 25},
		{Date: "2026-11-24", Slots: 1, Minutes: 10},
	}
	if diff := cmp.Diff(wantSplits, splits); diff != "" {
		t.Errorf("splits (-want +got):\n%s", diff)
	}
	ps, err := db.PracticeStatuses(ctx, false)
	if err != nil || len(ps) != 2 || ps[0].Synced || ps[0].LastSuccessAt != nil {
		t.Errorf("statuses before any sync state = %+v, %v", ps, err)
	}
}
