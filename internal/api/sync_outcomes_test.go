package api_test

import (
	"context"
	"strings"
	"testing"
)

// seedRun4 adds a run in which SDS listed no GP Connect endpoint for Dale
// (not enabled) and Abbey was skipped because run 3 saved it meanwhile.
func (e *opsEnv) seedRun4(ctx context.Context) {
	e.exec(ctx, `INSERT INTO sync_runs (id, trigger, from_date, to_date, status, practices_total, started_at, finished_at)
		VALUES (4, 'manual', '2026-11-23', '2026-12-21', 'completed', 2, '2026-11-23 02:00:01Z', '2026-11-23 02:00:30Z')`)
	e.exec(ctx, `INSERT INTO sync_run_practices (run_id, ods_code, status, attempts, spine_code, diagnostics, skipped_for_run, finished_at) VALUES
		(4, 'D84004', 'not_enabled', 1, 'SDS_NO_ENDPOINT', 'SDS lists no GP Connect endpoint for slot search', NULL, '2026-11-23 02:00:05Z'),
		(4, 'A81001', 'skipped', 1, NULL, 'run 3 saved this practice at 2026-11-23T02:00:10Z, after this run started', 3, '2026-11-23 02:00:11Z')`)
	e.exec(ctx, `INSERT INTO practice_sync_state (ods_code, last_run_id, last_attempt_at, not_enabled_since, last_spine_code, last_error)
		VALUES ('D84004', 4, '2026-11-23 02:00:05Z', '2026-11-23 02:00:05Z', 'SDS_NO_ENDPOINT', 'SDS lists no GP Connect endpoint for slot search')`)
}

// TestNotEnabledAndSkippedAreVisible: a practice SDS lists no endpoint for
// is its own state (not a failure) in the admin API and on the dashboard,
// and a run's skipped practices name the run whose fetch stands.
func TestNotEnabledAndSkippedAreVisible(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	e.seedRun4(context.Background())

	_, body := e.get("/v1/practices", e.admin)
	type practiceSync struct {
		ODS  string `json:"ods_code"`
		Sync struct {
			Status          string  `json:"status"`
			EndpointSource  string  `json:"endpoint_source"`
			NotEnabledSince *string `json:"not_enabled_since"`
		} `json:"sync"`
	}
	for _, p := range decode[[]practiceSync](t, body) {
		if p.ODS == odsDale && (p.Sync.Status != "not_enabled" || p.Sync.NotEnabledSince == nil || p.Sync.EndpointSource != "override") {
			t.Errorf("Dale: %+v", p.Sync)
		}
	}

	_, body = e.get("/v1/sync-runs/4", e.admin)
	type run struct {
		NotEnabled int `json:"practices_not_enabled"`
		Skipped    int `json:"practices_skipped"`
		Done       int `json:"practices_done"`
		Practices  []struct {
			ODS           string `json:"ods_code"`
			Status        string `json:"status"`
			SkippedForRun *int64 `json:"skipped_for_run"`
			Note          string `json:"note"`
			Error         *struct {
				SpineCode string `json:"spine_code"`
			} `json:"error"`
		} `json:"practices"`
	}
	r := decode[run](t, body)
	if r.NotEnabled != 1 || r.Skipped != 1 || r.Done != 2 || len(r.Practices) != 2 {
		t.Fatalf("run 4: %+v", r)
	}
	if p := r.Practices[0]; p.ODS != odsDale || p.Status != "not_enabled" || p.Error != nil || !strings.Contains(p.Note, "SDS") {
		t.Errorf("not enabled outcome: %+v", p)
	}
	if p := r.Practices[1]; p.ODS != odsAbbey || p.Status != "skipped" || p.SkippedForRun == nil || *p.SkippedForRun != 3 {
		t.Errorf("skipped outcome: %+v", p)
	}

	session, _ := e.login(e.admin)
	_, body = e.get("/sync", "", "Cookie", session)
	for _, want := range []string{"Not GP Connect enabled (SDS)", "SDS_NO_ENDPOINT", "0 failed</span>", "1 skipped"} {
		if !strings.Contains(body, want) {
			t.Errorf("/sync lacks %q", want)
		}
	}
	_, body = e.get("/sync/runs/4", "", "Cookie", session)
	for _, want := range []string{"not GP Connect enabled", `skipped (<a href="/sync/runs/3">run #3</a>)`, "after this run started"} {
		if !strings.Contains(body, want) {
			t.Errorf("/sync/runs/4 lacks %q", want)
		}
	}
	_, body = e.get("/", "", "Cookie", session)
	if !strings.Contains(body, ">not GP Connect enabled</span>") {
		t.Error("heatmap does not flag the not-enabled practice")
	}
}
