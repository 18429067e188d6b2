package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/capacity"
	"github.com/gpfed/gpfed/internal/testdb"
)

// Every spelling of help on every command prints usage, exits 0 and acts
// not at all: no key is issued or revoked, no file opened, no practice
// looked up (admin-key --help once printed a real admin key).
func TestCLIHelpNeverActs(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	if _, stderr, code := cli(t, e.env, "practices", "import", e.csv); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	token, _, code := cli(t, e.env, "practices", "token", e.fed.Practices()[0].ODS)
	if code != 0 || strings.TrimSpace(token) == "" {
		t.Fatalf("token: exit %d", code)
	}
	cases := [][]string{
		{"help"}, {"--help"}, {"-h"}, {"help", "capacity"},
		{"admin-key", "--help"}, {"admin-key", "-h"}, {"admin-key", "help"}, {"admin-key", "-help"},
		{"practices", "--help"}, {"practices", "help"},
		{"practices", "revoke", "--help"}, {"practices", "revoke", e.fed.Practices()[0].ODS, "--help"},
		{"practices", "token", "--help"}, {"practices", "token", "help"},
		{"practices", "import", "--help"}, {"practices", "webhook", "-h"}, {"practices", "list", "--help"},
		{"capacity", "--help"}, {"sync", "--once", "-h"}, {"migrate", "--help"}, {"serve", "--help"},
		{"worker", "--help"}, {"scheduler", "-h"}, {"demo", "--help"}, {"sim", "--help"}, {"version", "--help"},
		{"probe", "--help"},
	}
	for _, args := range cases {
		out, stderr, code := cli(t, e.env, args...)
		if code != 0 || !strings.HasPrefix(out, "usage: gpfed") {
			t.Errorf("gpfed %s: exit %d, want 0 and usage on stdout; stdout %q stderr %q",
				strings.Join(args, " "), code, out, stderr)
		}
	}
	var keys, revoked int
	err := e.db.Pool.QueryRow(context.Background(),
		`SELECT count(*), count(*) FILTER (WHERE revoked_at IS NOT NULL) FROM api_keys`).Scan(&keys, &revoked)
	if err != nil {
		t.Fatal(err)
	}
	if keys != 1 || revoked != 0 {
		t.Errorf("after the help requests: %d keys (%d revoked), want the 1 token issued before, live", keys, revoked)
	}
}

// version needs no configuration and no database.
func TestCLIVersion(t *testing.T) {
	t.Parallel()
	out, stderr, code := cli(t, []string{"GPFED_CONSUMER_ASID=abc", "DATABASE_URL=postgres://nowhere.invalid/x"}, "version")
	if code != 0 || !strings.HasPrefix(out, "gpfed ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version: exit %d, stdout %q stderr %q", code, out, stderr)
	}
}

// A capacity filter that cannot match says why, lists the valid values and
// exits 2; the CSV has fixed columns with the practice names.
func TestCLICapacityFiltersExplain(t *testing.T) {
	t.Parallel()
	e := setup(t, 2)
	if _, stderr, code := cli(t, e.env, "practices", "import", e.csv); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	if out, stderr, code := cli(t, e.env, "sync", "--once", "--days", "7"); code != 0 {
		t.Fatalf("sync: exit %d: %s %s", code, out, stderr)
	}
	first := e.fed.Practices()[0]
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown practice", []string{"--practice", "Z99999"}, []string{"Z99999", "not an active member", first.ODS}},
		{"role by name", []string{"--role", "GP"}, []string{`"GP"`, "SDS job role code", "R0260"}},
		{"role not in data", []string{"--role", "R9999"}, []string{"R9999", "roles in the data", "R0260"}},
		{"lower-case channel", []string{"--channel", "telephone"}, []string{"did you mean Telephone", "In-person, Telephone, Video"}},
		{"future range", []string{"--from", "2099-01-01", "--to", "2099-01-07"}, []string{"no synced capacity for 2099-01-01", "the last syncs cover"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := cli(t, e.env, append([]string{"capacity"}, tc.args...)...)
			if code != 2 || out != "" {
				t.Errorf("exit %d with stdout %q, want 2 and nothing printed", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
	out, stderr, code := cli(t, e.env, "capacity", "--format", "csv", "--practice", first.ODS)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) < 2 {
		t.Fatalf("csv: exit %d: %s %s", code, out, stderr)
	}
	if lines[0] != strings.Join(capacity.Header, ",") {
		t.Errorf("csv header %q, want the fixed %q", lines[0], strings.Join(capacity.Header, ","))
	}
	if !strings.HasPrefix(lines[1], first.ODS+","+csvField(first.Name)+",") {
		t.Errorf("csv row %q lacks the practice name %q", lines[1], first.Name)
	}
}

func csvField(s string) string {
	if strings.ContainsAny(s, `,"`) {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// A wrong REDIS_URL stops the services at once with a message naming it,
// and every line they write, that one included, is a JSON log record.
func TestCLIRedisUnreachableFailsFast(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	if _, stderr, code := cli(t, e.env, "practices", "import", e.csv); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	port := closedPort(t)
	env := append(append([]string{}, e.env...), "REDIS_URL=redis://127.0.0.1:"+strconv.Itoa(port)+"/0",
		"GPFED_LOG_LEVEL=info", "GPFED_LOG_FORMAT=json", "GPFED_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(closedPort(t)))
	for _, args := range [][]string{{"serve"}, {"worker"}, {"scheduler"}, {"sync", "--once", "--days", "1"}} {
		t.Run(args[0], func(t *testing.T) {
			start := time.Now()
			_, stderr, code := cli(t, env, args...)
			if took := time.Since(start); code != 1 || took > 20*time.Second {
				t.Errorf("exit %d after %s, want 1 within seconds", code, took.Round(time.Millisecond))
			}
			if !strings.Contains(stderr, "REDIS_URL") || !strings.Contains(stderr, fmt.Sprint(port)) {
				t.Errorf("stderr does not name REDIS_URL and the address:\n%s", stderr)
			}
			for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["component"] == nil {
					t.Errorf("stderr line is not a JSON record with a component: %q", line)
				}
			}
		})
	}
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// migrate on an empty database lists what it applied; again, that nothing
// was left to apply.
func TestCLIMigrateReports(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	env := append(append([]string{}, e.env...), "DATABASE_URL="+testdb.NewEmpty(t))
	out, stderr, code := cli(t, env, "migrate")
	if code != 0 || !strings.Contains(out, "0001_core.sql") || !strings.Contains(out, "applied ") {
		t.Fatalf("first migrate: exit %d: %s %s", code, out, stderr)
	}
	if strings.Contains(out, "applied 0") {
		t.Errorf("first migrate on an empty database applied nothing:\n%s", out)
	}
	out, _, code = cli(t, env, "migrate")
	if code != 0 || !strings.Contains(out, "schema is current: all") {
		t.Fatalf("second migrate: exit %d: %s", code, out)
	}
}
