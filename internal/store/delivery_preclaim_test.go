package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// deliverTasks accepts n tasks from sender to odsB, claims them and
// records them delivered with pc; it returns the record's report.
func deliverTasks(t *testing.T, db *store.DB, sender string, n int, pc store.PreClaim) (store.RecordReport, []uuid.UUID) {
	t.Helper()
	outs, tasks := deliveredTasks(t, db, sender, n)
	return recordDelivered(t, db, outs, pc), tasks
}

// deliveredTasks accepts n tasks from sender to odsB and claims them; it
// returns their outcomes as delivered, to record.
func deliveredTasks(t *testing.T, db *store.DB, sender string, n int) ([]store.Outcome, []uuid.UUID) {
	t.Helper()
	var tasks []uuid.UUID
	for range n {
		tasks = append(tasks, testdb.Task(t, db, sender, odsB))
	}
	items, err := db.Claim(context.Background(), store.ClaimOptions{Limit: n, Cap: 100, Lease: time.Minute})
	if err != nil || len(items) != n {
		t.Fatalf("claim: %d items, %v; want %d", len(items), err, n)
	}
	outs := make([]store.Outcome, len(items))
	for i, it := range items {
		outs[i] = store.Outcome{Kind: it.Kind, ID: it.ID, Endpoint: it.Endpoint, Token: it.Token,
			Result: store.Delivered, Channel: "webhook", Tried: true, Status: 200, At: time.Now()}
	}
	return outs, tasks
}

func recordDelivered(t *testing.T, db *store.DB, outs []store.Outcome, pc store.PreClaim) store.RecordReport {
	t.Helper()
	rep, err := db.RecordOutcomes(context.Background(), outs, store.RecordOptions{PreClaim: pc})
	if err != nil || rep.Applied != len(outs) || rep.Notifications != len(outs) {
		t.Errorf("record: %+v %v; want %d applied and notified", rep, err, len(outs))
	}
	return rep
}

// A record pre-claims the sender notifications it makes, up to its limit,
// with what their delivery needs; the rest are queued for a claim, and a
// claim does not take the pre-claimed ones again.
func TestRecordPreClaimsSenderNotifications(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	testdb.SetWebhook(t, db, odsA, "https://a.example/hook", "whsec-test-secret-a")
	rep, tasks := deliverTasks(t, db, odsA, 3, store.PreClaim{Limit: 2, Cap: 8, Lease: time.Minute})
	if len(rep.PreClaimed) != 2 {
		t.Fatalf("pre-claimed %d notifications, want 2 (the limit)", len(rep.PreClaimed))
	}
	it := rep.PreClaimed[0]
	if it.Token == uuid.Nil || rep.PreClaimed[1].Token != it.Token {
		t.Fatalf("pre-claimed items' tokens %v, %v: want one claim token", it.Token, rep.PreClaimed[1].Token)
	}
	if it.Notification == nil || it.Notification.TaskID == nil || !contains(tasks, *it.Notification.TaskID) {
		t.Fatalf("pre-claimed item %+v: want a notification about one of the tasks", it)
	}
	want := store.ClaimedItem{Kind: store.KindNotification, ID: it.ID, Endpoint: odsA, Token: it.Token,
		Priority: store.PriorityNotification, Active: true, WebhookURL: "https://a.example/hook",
		WebhookSecret: "whsec-test-secret-a", Open: true, CreatedAt: it.CreatedAt, ExpiresAt: it.ExpiresAt,
		Notification: it.Notification}
	if diff := cmp.Diff(want, it); diff != "" {
		t.Fatalf("pre-claimed item (-want +got):\n%s", diff)
	}
	n := it.Notification
	if n.Kind != store.NotifyTaskDelivered || n.RecipientODS != odsA || n.SubjectODS != odsB || n.Data["channel"] != "webhook" {
		t.Fatalf("pre-claimed notification %+v", n)
	}
	if live := testdb.Count(t, db, `SELECT count(*) FROM delivery_queue WHERE claim_token = $1 AND due_at > now()`, it.Token); live != 2 {
		t.Fatalf("%d queue rows hold the pre-claim's token with a live lease, want 2", live)
	}
	got := claim(t, db, 10, 8, time.Minute)
	if len(got) != 1 || got[0].Kind != store.KindNotification || got[0].ID == rep.PreClaimed[0].ID || got[0].ID == rep.PreClaimed[1].ID {
		t.Fatalf("a claim after the record took %v; want the one notification not pre-claimed", ids(got))
	}
}

func contains(ids []uuid.UUID, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// A pre-claim keeps to the rules of a claim: the endpoint's cap counting
// what is in flight, no claim for an open circuit, and none when a claim
// holds the claim lock (the record then queues, never waits).
func TestRecordPreClaimKeepsClaimRules(t *testing.T) {
	t.Parallel()
	t.Run("cap", func(t *testing.T) {
		t.Parallel()
		db := deliveryDB(t)
		rep, _ := deliverTasks(t, db, odsA, 3, store.PreClaim{Limit: 10, Cap: 2, Lease: time.Minute})
		if len(rep.PreClaimed) != 2 {
			t.Fatalf("pre-claimed %d with A's cap 2 and nothing in flight, want 2", len(rep.PreClaimed))
		}
		testdb.Exec(t, db, `UPDATE practices SET delivery_max_in_flight = 3 WHERE ods_code = $1`, odsA)
		rep, _ = deliverTasks(t, db, odsA, 2, store.PreClaim{Limit: 10, Cap: 2, Lease: time.Minute})
		if len(rep.PreClaimed) != 1 {
			t.Fatalf("pre-claimed %d with A's own cap 3 and 2 in flight, want 1", len(rep.PreClaimed))
		}
		if q := testdb.Count(t, db, `SELECT count(*) FROM delivery_queue WHERE endpoint = $1 AND claim_token IS NULL`, odsA); q != 2 {
			t.Fatalf("%d notifications to A queued unclaimed, want 2", q)
		}
	})
	t.Run("open circuit", func(t *testing.T) {
		t.Parallel()
		db := deliveryDB(t)
		testdb.Exec(t, db, `INSERT INTO endpoint_health (ods_code, state, next_probe_at, consecutive_failures)
			VALUES ($1, 'open', now() - interval '1 second', 5)`, odsA)
		rep, _ := deliverTasks(t, db, odsA, 2, store.PreClaim{Limit: 10, Cap: 8, Lease: time.Minute})
		if len(rep.PreClaimed) != 0 {
			t.Fatalf("pre-claimed %d for an endpoint whose circuit is open, want 0 (its probe is a claim's)", len(rep.PreClaimed))
		}
	})
	t.Run("lock held", func(t *testing.T) {
		t.Parallel()
		db := deliveryDB(t)
		ctx := context.Background()
		conn, err := db.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		outs, _ := deliveredTasks(t, db, odsA, 2)
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(store.ClaimLockID)); err != nil {
			t.Fatal(err)
		}
		done := make(chan store.RecordReport, 1)
		go func() { done <- recordDelivered(t, db, outs, store.PreClaim{Limit: 10, Cap: 8, Lease: time.Minute}) }()
		var rep store.RecordReport
		select {
		case rep = <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the record waited for the claim lock")
		}
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, int64(store.ClaimLockID)); err != nil {
			t.Fatal(err)
		}
		if len(rep.PreClaimed) != 0 {
			t.Fatalf("pre-claimed %d while a claim held the lock, want 0", len(rep.PreClaimed))
		}
		if got := claim(t, db, 10, 8, time.Minute); len(got) != 2 {
			t.Fatalf("a claim after the record took %d notifications, want 2 (queued)", len(got))
		}
	})
}
