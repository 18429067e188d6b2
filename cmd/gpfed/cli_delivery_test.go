package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// A practice leaves by command: a dry run first says what would change;
// with --yes its undelivered tasks fail with recipient_left and its
// webhook can no longer be changed.
func TestCLIDeactivate(t *testing.T) {
	t.Parallel()
	e := setup(t, 3)
	if out, stderr, code := cli(t, e.env, "practices", "import", e.csv); code != 0 {
		t.Fatalf("import exit %d: %s %s", code, out, stderr)
	}
	ps := e.fed.Practices()
	from, leaver := ps[0].ODS, ps[1].ODS
	testdb.Task(t, e.db, from, leaver)
	testdb.Task(t, e.db, from, leaver)
	out, stderr, code := cli(t, e.env, "practices", "deactivate", leaver)
	if code != 0 || !strings.Contains(out, "would fail 2 undelivered task(s)") {
		t.Fatalf("dry run: exit %d: %s %s", code, out, stderr)
	}
	if n := testdb.Count(t, e.db, `SELECT count(*) FROM tasks WHERE state = 'accepted'`); n != 2 {
		t.Fatalf("the dry run changed tasks: %d accepted", n)
	}
	out, stderr, code = cli(t, e.env, "practices", "deactivate", "--yes", leaver)
	if code != 0 || !strings.Contains(out, "2 undelivered task(s) failed with recipient_left") {
		t.Fatalf("deactivate: exit %d: %s %s", code, out, stderr)
	}
	_, stderr, code = cli(t, e.env, "practices", "webhook", leaver, "https://hooks.example/gpfed", "a-secret-of-16-chars")
	if code != 1 || !strings.Contains(stderr, "not an active member") {
		t.Fatalf("webhook for a departed practice: exit %d: %s", code, stderr)
	}
	for _, bad := range [][]string{{"deactivate"}, {"deactivate", "not an ods"}, {"max-in-flight", from, "0"}, {"max-in-flight", from}} {
		if _, stderr, code := cli(t, e.env, append([]string{"practices"}, bad...)...); code != 2 {
			t.Errorf("practices %v: exit %d, want 2 (%s)", bad, code, stderr)
		}
	}
	if out, _, code := cli(t, e.env, "practices", "max-in-flight", from, "3"); code != 0 || !strings.Contains(out, "at most 3") {
		t.Fatalf("max-in-flight: %d %s", code, out)
	}
}

// Failed tasks go again on command, by recipient and failure time or by id:
// a dry run lists them, --yes reopens them.
func TestCLIRedeliver(t *testing.T) {
	t.Parallel()
	e := setup(t, 2)
	if out, stderr, code := cli(t, e.env, "practices", "import", e.csv); code != 0 {
		t.Fatalf("import exit %d: %s %s", code, out, stderr)
	}
	ps := e.fed.Practices()
	ctx := context.Background()
	id := testdb.Task(t, e.db, ps[0].ODS, ps[1].ODS)
	if _, err := e.db.RecordOutcomes(ctx, []store.Outcome{{Kind: store.KindTask, ID: id, Endpoint: ps[1].ODS,
		Result: store.Failed, Tried: true, Status: 404, Reason: store.ReasonRejected, Error: "webhook answered 404"}},
		store.RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := cli(t, e.env, "tasks", "redeliver", "--recipient", ps[1].ODS, "--failed-since", "1h")
	if code != 0 || !strings.Contains(out, id.String()) || !strings.Contains(out, "dry run: 1 failed task(s)") {
		t.Fatalf("dry run: exit %d: %s %s", code, out, stderr)
	}
	out, stderr, code = cli(t, e.env, "tasks", "redeliver", "--yes", id.String())
	if code != 0 || !strings.Contains(out, "redelivering 1 task(s)") {
		t.Fatalf("redeliver: exit %d: %s %s", code, out, stderr)
	}
	var state string
	var redeliveries int
	if err := e.db.Pool.QueryRow(ctx, `SELECT state, redeliveries FROM tasks WHERE id = $1`, id).Scan(&state, &redeliveries); err != nil {
		t.Fatal(err)
	}
	if state != "accepted" || redeliveries != 1 {
		t.Fatalf("after redeliver: %s, %d redeliveries", state, redeliveries)
	}
	for _, bad := range [][]string{{"redeliver"}, {"redeliver", "--recipient", ps[1].ODS}, {"redeliver", "not-a-uuid"},
		{"redeliver", "--recipient", ps[1].ODS, "--failed-since", "yesterday"},
		{"redeliver", uuid.NewString(), "--recipient", ps[1].ODS, "--failed-since", "1h"}} {
		if _, stderr, code := cli(t, e.env, append([]string{"tasks"}, bad...)...); code != 2 {
			t.Errorf("tasks %v: exit %d, want 2 (%s)", bad, code, stderr)
		}
	}
	_ = time.Now
}
