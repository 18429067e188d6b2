package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// A practice leaving (an import without it): what waits for it fails with
// recipient_left and its senders are told; what is in flight finishes on
// its own; its keys are revoked; its webhook cannot be changed; a claim
// that finds it inactive fails the task without sending anything.
func TestPracticeLeaving(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	key, _, err := db.CreateAPIKey(ctx, store.RolePractice, odsB, "b")
	if err != nil {
		t.Fatal(err)
	}
	inFlight := testdb.Task(t, db, odsA, odsB)
	items := claim(t, db, 1, 8, 300*time.Millisecond)
	waiting := testdb.Task(t, db, odsC, odsB)
	toC := testdb.Task(t, db, odsA, odsC)

	res, err := db.ImportPractices(ctx, []practice.Practice{testdb.Practice(odsA), testdb.Practice(odsC)}, false)
	if err != nil || res.Deactivated != 1 || res.FailedTasks != 1 {
		t.Fatalf("import without B: %+v %v; want B deactivated and 1 task failed", res, err)
	}
	state := func(id uuid.UUID) string {
		var s, reason string
		err := db.Pool.QueryRow(ctx, `SELECT t.state, COALESCE((SELECT detail->>'reason' FROM task_events
			WHERE task_id = t.id AND to_state = 'failed'), '') FROM tasks t WHERE id = $1`, id).Scan(&s, &reason)
		if err != nil {
			t.Fatal(err)
		}
		return s + ":" + reason
	}
	if diff := cmp.Diff([]string{"accepted:", "failed:recipient_left", "accepted:"},
		[]string{state(inFlight), state(waiting), state(toC)}); diff != "" {
		t.Fatalf("task states (-want +got):\n%s", diff)
	}
	if n := testdb.Count(t, db, `SELECT count(*) FROM notifications WHERE kind = 'task.failed' AND recipient_ods = $1
		AND data->>'reason' = 'recipient_left'`, odsC); n != 1 {
		t.Fatalf("task.failed notifications to the sender = %d, want 1", n)
	}
	if _, err := db.AuthenticateAPIKey(ctx, key); err == nil {
		t.Fatal("the departed practice's key still works")
	}
	if err := db.SetWebhook(ctx, odsB, "https://elsewhere.example/hook", "whsec-another-secret-1", 0); !errors.Is(err, store.ErrInactive) {
		t.Fatalf("webhook for a departed practice: %v, want ErrInactive", err)
	}
	// The in-flight delivery's lease runs out (say its POST got a 503):
	// the next claim finds B inactive.
	time.Sleep(400 * time.Millisecond)
	again := claim(t, db, 10, 8, time.Minute)
	var toB []store.ClaimedItem
	for _, it := range again {
		if it.Endpoint == odsB {
			toB = append(toB, it)
		}
	}
	if len(toB) != 1 || toB[0].ID != inFlight || toB[0].Active || items[0].ID != inFlight {
		t.Fatalf("claims for B after it left: %+v; want the one in flight, marked inactive", toB)
	}
}

// Redelivery reopens failed tasks (dry run first), keeping their id, with a
// redelivered event and a queue row; the sender hears of the new outcome.
func TestRedeliverTasks(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	failed := testdb.Task(t, db, odsA, odsB)
	other := testdb.Task(t, db, odsA, odsC)
	items := claim(t, db, 10, 8, time.Minute)
	var outs []store.Outcome
	for _, it := range items {
		outs = append(outs, store.Outcome{Kind: it.Kind, ID: it.ID, Endpoint: it.Endpoint, Token: it.Token, Result: store.Failed,
			Tried: true, Status: 404, Reason: store.ReasonRejected, Error: "webhook answered 404"})
	}
	if _, err := db.RecordOutcomes(ctx, outs, store.RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	f := store.RedeliverFilter{Recipient: odsB, FailedSince: time.Now().Add(-time.Hour)}
	dry, err := db.RedeliverTasks(ctx, f, time.Hour, "operator", true)
	if err != nil || len(dry) != 1 || dry[0].ID != failed {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if n := testdb.Count(t, db, `SELECT count(*) FROM tasks WHERE state = 'failed'`); n != 2 {
		t.Fatalf("a dry run changed %d tasks", 2-n)
	}
	done, err := db.RedeliverTasks(ctx, f, time.Hour, "operator", false)
	if err != nil || len(done) != 1 {
		t.Fatalf("redeliver: %+v %v", done, err)
	}
	again := claim(t, db, 10, 8, time.Minute)
	var got *store.ClaimedItem
	for i := range again {
		if again[i].ID == failed {
			got = &again[i]
		}
	}
	if got == nil || !got.Open {
		t.Fatalf("redelivered task not claimable: %v", ids(again))
	}
	if _, err := db.RecordOutcomes(ctx, []store.Outcome{{Kind: store.KindTask, ID: failed, Endpoint: odsB, Token: got.Token,
		Result: store.Delivered, Channel: "webhook", Tried: true, Status: 200, At: time.Now()}}, store.RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	var trail []string
	rows, _ := db.Pool.Query(ctx, `SELECT action || ':' || actor FROM task_events WHERE task_id = $1 ORDER BY id`, failed)
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		trail = append(trail, s)
	}
	rows.Close()
	if diff := cmp.Diff([]string{"accepted:" + odsA, "failed:system", "redelivered:operator", "delivered:system"}, trail); diff != "" {
		t.Fatalf("audit trail (-want +got):\n%s", diff)
	}
	if n := testdb.Count(t, db, `SELECT count(*) FROM notifications WHERE task_id = $1 AND kind IN ('task.failed', 'task.delivered')`, failed); n != 2 {
		t.Fatalf("sender notifications = %d, want failed then delivered", n)
	}
	if left, _ := db.RedeliverTasks(ctx, store.RedeliverFilter{IDs: []uuid.UUID{other}}, time.Hour, "operator", true); len(left) != 1 {
		t.Fatalf("the other failed task is still redeliverable by id: %+v", left)
	}
}
