package jobs_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/testfed"
	"github.com/gpfed/gpfed/worker"
)

type endpointRow struct{ Status, Source, Address, ASID, PartyKey string }

func endpointRows(t *testing.T, f *testfed.Fed) map[string]endpointRow {
	t.Helper()
	rows, err := f.DB.Pool.Query(context.Background(), `SELECT ods_code, status, source, COALESCE(address, ''),
		COALESCE(asid, ''), COALESCE(party_key, '') FROM practice_endpoints WHERE interaction = $1`,
		"urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]endpointRow{}
	for rows.Next() {
		var ods string
		var r endpointRow
		if err := rows.Scan(&ods, &r.Status, &r.Source, &r.Address, &r.ASID, &r.PartyKey); err != nil {
			t.Fatal(err)
		}
		out[ods] = r
	}
	return out
}

// TestSyncThroughSDS imports practices by ODS code and name only and syncs
// them: every endpoint and Ssp-To ASID comes from the simulated SDS (the
// simulated providers reject any other root, JWT aud or Ssp-To), one lookup
// per practice per run. Directory faults give each practice its own
// outcome: not GP Connect enabled (not a failure, never called), several
// endpoints or no ASID (fail closed, never called), an SDS outage (failed
// with a clear reason).
func TestSyncThroughSDS(t *testing.T) {
	t.Parallel()
	f := testfed.New(t, testfed.Options{Practices: 8, SDS: true})
	ods := f.ODS()
	f.Sim.SetSDSFault(ods[1], sim.SDSFault{NoEndpoint: true})
	f.Sim.SetSDSFault(ods[2], sim.SDSFault{TwoEndpoints: true})
	f.Sim.SetSDSFault(ods[3], sim.SDSFault{Status: 503})
	f.Sim.SetSDSFault(ods[4], sim.SDSFault{NoDevice: true})
	f.Sim.SetSDSFault(ods[5], sim.SDSFault{Status: 502, Times: 1}) // one blip, retried
	f.StartWorker(t, 8)

	run := syncNow(t, f)
	got := outcomes(t, f, run.ID)
	want := map[string]outcome{}
	for _, o := range ods {
		want[o] = outcome{Status: "ok"}
	}
	want[ods[1]] = outcome{Status: "not_enabled", SpineCode: "SDS_NO_ENDPOINT"}
	want[ods[2]] = outcome{Status: "failed", SpineCode: "SDS_INCONSISTENT"}
	want[ods[3]] = outcome{Status: "failed", HTTP: 503, SpineCode: "SDS_UNAVAILABLE"}
	want[ods[4]] = outcome{Status: "failed", SpineCode: "SDS_INCONSISTENT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("outcomes (-want +got):\n%s", diff)
	}
	if run.PracticesOK != 4 || run.PracticesFailed != 3 || run.PracticesNotEnabled != 1 || run.PracticesDone != 8 {
		t.Errorf("run counts: %+v", run)
	}
	from, to := f.Sync.Window(28)
	eps := endpointRows(t, f)
	for _, o := range []string{ods[0], ods[5], ods[6], ods[7]} {
		p, _ := f.Sim.Practice(o)
		wantEP := endpointRow{Status: "found", Source: "sds", Address: p.ServiceRoot, ASID: p.ASID, PartyKey: f.Sim.PartyKey(o)}
		if diff := cmp.Diff(wantEP, eps[o]); diff != "" {
			t.Errorf("%s endpoint (-want +got):\n%s", o, diff)
		}
		if n, want := slotCount(t, f.DB, o), f.Sim.ExpectedFreeSlots(o, from, to); n != want || n == 0 {
			t.Errorf("%s: %d slots stored, provider offers %d", o, n, want)
		}
	}
	if eps[ods[1]].Status != "not_enabled" {
		t.Errorf("%s: endpoint row %+v, want not_enabled", ods[1], eps[ods[1]])
	}
	for _, o := range ods[1:5] {
		if n := f.Sim.Requests(o); n != 0 {
			t.Errorf("%s: %d GP Connect requests to a practice SDS did not resolve", o, n)
		}
	}
	if n := f.Sim.SDSRequests(ods[0]); n != 2 {
		t.Errorf("%d SDS requests for one practice in one run, want 2 (Endpoint, Device)", n)
	}
	var diag string
	if err := f.DB.Pool.QueryRow(context.Background(), `SELECT diagnostics FROM sync_run_practices WHERE run_id = $1 AND ods_code = $2`,
		run.ID, ods[3]).Scan(&diag); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(diag, "SDS_UNAVAILABLE: HTTP 503") || !strings.Contains(diag, "previous snapshot is kept") {
		t.Errorf("outage diagnostics %q do not say what happened", diag)
	}
	if used, peak := f.Fetch.Budget.InUse(); used != 0 || peak == 0 {
		t.Errorf("byte budget after the run: %d in use (want 0), peak %d (want > 0)", used, peak)
	}
}

// TestSDSOutageKeepsSnapshot: a practice synced through SDS keeps its
// snapshot (marked stale) through an SDS outage and through a night when
// SDS says it is not GP Connect enabled, and is looked up afresh each run.
func TestSDSOutageKeepsSnapshot(t *testing.T) {
	t.Parallel()
	f := testfed.New(t, testfed.Options{Practices: 2, SDS: true})
	ctx := context.Background()
	ods := f.ODS()[1]
	f.StartWorker(t, 4)
	first := syncNow(t, f)
	before := slotCount(t, f.DB, ods)
	if first.PracticesOK != 2 || before == 0 {
		t.Fatalf("first run: %+v, %d slots", first, before)
	}

	f.Sim.SetSDSFault(ods, sim.SDSFault{Status: 503})
	second := syncNow(t, f)
	if o := outcomes(t, f, second.ID)[ods]; o.Status != "failed" || o.SpineCode != "SDS_UNAVAILABLE" {
		t.Fatalf("outage outcome %+v", o)
	}
	f.Sim.SetSDSFault(ods, sim.SDSFault{NoEndpoint: true})
	third := syncNow(t, f)
	if o := outcomes(t, f, third.ID)[ods]; o.Status != "not_enabled" || third.PracticesFailed != 0 {
		t.Fatalf("not-enabled outcome %+v, run %+v", o, third)
	}
	if n := slotCount(t, f.DB, ods); n != before {
		t.Errorf("snapshot changed from %d to %d slots without a successful fetch", before, n)
	}
	st, err := f.DB.PracticeStatusByODS(ctx, ods)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Stale || st.NotEnabledSince == nil || st.LastSpineCode != "SDS_NO_ENDPOINT" {
		t.Errorf("state after not-enabled: %+v", st)
	}

	f.Sim.SetSDSFault(ods, sim.SDSFault{})
	fourth := syncNow(t, f)
	st, err = f.DB.PracticeStatusByODS(ctx, ods)
	if err != nil {
		t.Fatal(err)
	}
	if fourth.PracticesOK != 2 || st.Stale || st.NotEnabledSince != nil {
		t.Errorf("recovery: run %+v, state %+v", fourth, st)
	}
	if n := f.Sim.SDSRequests(ods); n != 2+3+1+2 {
		// run 1: 2; run 2: Endpoint x3 attempts (no Device); run 3: Endpoint only; run 4: 2.
		t.Errorf("%d SDS requests over four runs", n)
	}
}

// TestNoSDSNoOverride: without GPFED_SDS_URL a practice that has no
// endpoint override fails with a reason that names the setting.
func TestNoSDSNoOverride(t *testing.T) {
	t.Parallel()
	f := testfed.New(t, testfed.Options{Practices: 1, SDS: true})
	f.Fetch = worker.FetchDeps{}
	f.StartWorker(t, 2)
	run := syncNow(t, f)
	ps, err := f.DB.RunPractices(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Status != "failed" || ps[0].SpineCode != "SDS_NOT_CONFIGURED" ||
		!strings.Contains(ps[0].Diagnostics, "GPFED_SDS_URL") {
		t.Errorf("outcome %+v", ps)
	}
}
