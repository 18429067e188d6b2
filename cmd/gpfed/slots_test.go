package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCLISlots(t *testing.T) {
	t.Parallel()
	e := setup(t, 3)
	if out, stderr, code := cli(t, e.env, "practices", "import", e.csv); code != 0 {
		t.Fatalf("import exit %d: %s %s", code, out, stderr)
	}
	if out, stderr, code := cli(t, e.env, "sync", "--once", "--days", "3"); code != 0 {
		t.Fatalf("sync exit %d: %s %s", code, out, stderr)
	}
	out, _, code := cli(t, e.env, "slots", "--format", "csv", "--limit", "7")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 8 || lines[0] != "id,ods_code,practice_name,start,end,minutes,role_code,role,delivery_channel,location_id,location,practitioner_id,practitioner,slot_type,as_of" {
		t.Fatalf("csv: exit %d:\n%s", code, out)
	}
	ods := e.fed.Practices()[1].ODS
	out, _, code = cli(t, e.env, "slots", "--format", "json", "--practice", ods, "--role", "R0260")
	var views []struct {
		ID       string
		Practice struct{ ID string }
		Role     struct{ Code string }
	}
	if err := json.Unmarshal([]byte(out), &views); err != nil || code != 0 || len(views) == 0 {
		t.Fatalf("json: exit %d %v:\n%s", code, err, out)
	}
	for _, v := range views {
		if v.Practice.ID != ods || v.Role.Code != "R0260" || !strings.HasPrefix(v.ID, ods+":") {
			t.Errorf("filtered slot %+v", v)
		}
	}
	out, _, code = cli(t, e.env, "slots", "--limit", "3")
	if code != 0 || !strings.Contains(out, "SLOT") || !strings.Contains(out, "3 free slots") {
		t.Errorf("table: exit %d:\n%s", code, out)
	}
	if _, stderr, code := cli(t, e.env, "slots", "--channel", "in-person"); code != 2 || !strings.Contains(stderr, "did you mean In-person") {
		t.Errorf("a lower-case channel: exit %d: %s", code, stderr)
	}
	for _, args := range [][]string{{"slots", "--format", "xml"}, {"slots", "--practice", "a1"}, {"slots", "--limit", "0"},
		{"slots", "--practice", "Z99999"}, {"slots", "--from", "2020-01-01", "--to", "2020-01-02"}} {
		if _, stderr, code := cli(t, e.env, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, stderr)
		}
	}
}
