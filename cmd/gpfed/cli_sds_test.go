package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/gpfed/gpfed/internal/sim"
)

// sdsSetup is setup with an ODS-only practices file and the simulated SDS
// configured.
func sdsSetup(t *testing.T, practices int) cliEnv {
	t.Helper()
	e := setup(t, practices)
	f, err := os.Create(e.csv)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.fed.WriteODSCSV(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e.env = append(e.env, "GPFED_SDS_URL="+e.fed.SDSBaseURL(), "GPFED_SDS_API_KEY=cli-test")
	return e
}

// TestCLIDiscoverShowsWhatSDSSays: `practices discover` lists each member's
// service root, ASID and party key as SDS has them, names practices SDS
// lists no endpoint for, and exits 1 when a lookup failed.
func TestCLIDiscoverShowsWhatSDSSays(t *testing.T) {
	t.Parallel()
	e := sdsSetup(t, 3)
	if out, stderr, code := cli(t, e.env, "practices", "import", e.csv); code != 0 || !strings.Contains(out, "resolved through SDS") {
		t.Fatalf("import exit %d: %s %s", code, out, stderr)
	}
	ps := e.fed.Practices()
	out, stderr, code := cli(t, e.env, "practices", "discover")
	if code != 0 {
		t.Fatalf("discover exit %d:\n%s\n%s", code, out, stderr)
	}
	for _, p := range ps {
		if !strings.Contains(out, p.ServiceRoot) || !strings.Contains(out, p.ASID) || !strings.Contains(out, e.fed.PartyKey(p.ODS)) {
			t.Errorf("discover output lacks %s's root, ASID or party key:\n%s", p.ODS, out)
		}
	}
	e.fed.SetSDSFault(ps[1].ODS, sim.SDSFault{NoEndpoint: true})
	e.fed.SetSDSFault(ps[2].ODS, sim.SDSFault{Status: 503})
	out, _, code = cli(t, e.env, "practices", "discover", "--format", "json", ps[1].ODS, ps[2].ODS, "Q12345")
	if code != 1 {
		t.Fatalf("discover with an outage: exit %d, want 1:\n%s", code, out)
	}
	var got []discovery
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(got) != 3 || got[0].Outcome != "not_enabled" || got[1].Outcome != "error" || got[1].Code != "SDS_UNAVAILABLE" ||
		got[2].Member || got[2].Outcome != "not_enabled" {
		t.Errorf("discover json: %+v", got)
	}
	_, stderr, code = cli(t, append(e.env, "GPFED_SDS_URL="), "practices", "discover")
	if code != 2 || !strings.Contains(stderr, "GPFED_SDS_URL") {
		t.Errorf("discover without SDS: exit %d, want 2 naming GPFED_SDS_URL: %s", code, stderr)
	}
}

// TestCLISyncOnceThroughSDS: a federation imported by ODS code only syncs;
// a practice without a GP Connect endpoint is listed as not enabled and
// does not fail the run (exit 0).
func TestCLISyncOnceThroughSDS(t *testing.T) {
	t.Parallel()
	e := sdsSetup(t, 3)
	if out, stderr, code := cli(t, e.env, "practices", "import", e.csv); code != 0 {
		t.Fatalf("import exit %d: %s %s", code, out, stderr)
	}
	off := e.fed.Practices()[2].ODS
	e.fed.SetSDSFault(off, sim.SDSFault{NoEndpoint: true})
	out, stderr, code := cli(t, e.env, "sync", "--once", "--days", "7")
	if code != 0 {
		t.Fatalf("sync exit %d:\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "2 ok, 0 failed, 1 not GP Connect enabled") || !strings.Contains(out, "NOT GP CONNECT ENABLED") ||
		!strings.Contains(out, off) || !strings.Contains(out, "SDS_NO_ENDPOINT") {
		t.Errorf("summary:\n%s", out)
	}
	if !strings.Contains(out, "not_enabled=1") {
		t.Errorf("progress lines do not count the not-enabled practice:\n%s", out)
	}
	list, _, _ := cli(t, e.env, "practices", "list")
	if !strings.Contains(list, "(SDS") {
		t.Errorf("practices list does not say endpoints come from SDS:\n%s", list)
	}
}
