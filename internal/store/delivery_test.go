package store_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

const (
	odsA, odsB, odsC = "A20047", "B82001", "C81002"
)

func deliveryDB(t *testing.T) *store.DB {
	t.Helper()
	db, _ := testdb.New(t)
	testdb.Federation(t, db, odsA, odsB, odsC)
	testdb.SetWebhook(t, db, odsB, "https://b.example/hook", "whsec-test-secret-b")
	return db
}

func claim(t *testing.T, db *store.DB, limit, capacity int, lease time.Duration) []store.ClaimedItem {
	t.Helper()
	items, err := db.Claim(context.Background(), store.ClaimOptions{Limit: limit, Cap: capacity, Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func ids(items []store.ClaimedItem) []uuid.UUID {
	out := make([]uuid.UUID, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// A claim takes no more per endpoint than its cap allows (counting what
// is already in flight), urgent first, and returns what delivery needs.
func TestClaimCapsPerEndpointAndPutsUrgentFirst(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	var toB []uuid.UUID
	for range 5 {
		toB = append(toB, testdb.Task(t, db, odsA, odsB))
	}
	urgent := testdb.TaskSpec(odsA, odsB)
	urgent.Priority = "urgent"
	urgentID := testdb.Accept(t, db, urgent)
	toC := testdb.Task(t, db, odsA, odsC)

	first := claim(t, db, 10, 2, time.Minute)
	if len(first) != 3 || first[0].ID != urgentID {
		t.Fatalf("first claim = %v; want the urgent task first, one more to B and the one to C", ids(first))
	}
	perEP := map[string]int{}
	for _, it := range first {
		perEP[it.Endpoint]++
	}
	if diff := cmp.Diff(map[string]int{odsB: 2, odsC: 1}, perEP); diff != "" {
		t.Fatalf("claimed per endpoint (-want +got):\n%s", diff)
	}
	it := first[0]
	want := store.ClaimedItem{Kind: store.KindTask, ID: urgentID, Endpoint: odsB, Token: it.Token, Priority: store.PriorityUrgent,
		Active: true, WebhookURL: "https://b.example/hook", WebhookSecret: "whsec-test-secret-b", Open: true,
		CreatedAt: it.CreatedAt, ExpiresAt: it.ExpiresAt,
		Task: &store.TaskContent{SenderODS: odsA, RecipientODS: odsB, PatientNHSNumber: "9434765919", Type: "information",
			Priority: "urgent", Subject: "Please review bloods", Body: "Seen at the hub today."}}
	if diff := cmp.Diff(want, it); diff != "" {
		t.Fatalf("claimed item (-want +got):\n%s", diff)
	}
	if n := len(claim(t, db, 10, 2, time.Minute)); n != 0 {
		t.Fatalf("second claim took %d items; B is at its cap and C has nothing", n)
	}
	if got := claim(t, db, 10, 3, time.Minute); len(got) != 1 || got[0].Endpoint != odsB {
		t.Fatalf("with cap 3 a claim takes one more to B, got %v", ids(got))
	}
	_ = toB
	_ = toC
}

// Routine tasks are claimed before notifications to the same practice,
// whatever their age: the notification waits for a free slot.
func TestClaimPutsTasksBeforeNotifications(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	testdb.Task(t, db, odsA, odsB)
	first := claim(t, db, 10, 8, time.Minute)
	rep, err := db.RecordOutcomes(ctx, []store.Outcome{{Kind: first[0].Kind, ID: first[0].ID, Endpoint: odsB, Token: first[0].Token,
		Result: store.Delivered, Channel: "webhook", Tried: true, Status: 200, At: time.Now()}}, store.RecordOptions{})
	if err != nil || rep.Notifications != 1 {
		t.Fatalf("record: %+v %v", rep, err)
	}
	task := testdb.Task(t, db, odsB, odsA) // younger than A's notification
	got := claim(t, db, 10, 1, time.Minute)
	if len(got) != 1 || got[0].ID != task || got[0].Priority != store.PriorityNormal {
		t.Fatalf("with one slot at A the claim took %+v; want the task", got)
	}
	got = claim(t, db, 10, 2, time.Minute)
	if len(got) != 1 || got[0].Kind != store.KindNotification || got[0].Priority != store.PriorityNotification {
		t.Fatalf("with a second slot the claim took %+v; want the notification", got)
	}
}

// Items whose delivery ended (awaiting their record) leave their
// endpoint's in-flight count for the caller that names them, by id and
// claim token; a wrong token, or another caller, still counts them.
func TestClaimFinishedItemsFreeTheirSlots(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	for range 4 {
		testdb.Task(t, db, odsA, odsB)
	}
	first := claim(t, db, 10, 2, time.Minute)
	if len(first) != 2 {
		t.Fatalf("first claim took %d, want 2 (the cap)", len(first))
	}
	take := func(finished ...store.FinishedItem) int {
		t.Helper()
		items, err := db.Claim(context.Background(), store.ClaimOptions{Limit: 10, Cap: 2, Lease: time.Minute, Finished: finished})
		if err != nil {
			t.Fatal(err)
		}
		return len(items)
	}
	if n := take(store.FinishedItem{ID: first[0].ID, Token: uuid.New()}); n != 0 {
		t.Fatalf("with a finished item under another token a claim took %d, want 0", n)
	}
	if n := take(store.FinishedItem{ID: first[0].ID, Token: first[0].Token}); n != 1 {
		t.Fatalf("with one finished item a claim took %d, want 1", n)
	}
	if n := take(); n != 0 {
		t.Fatalf("naming nothing a claim took %d, want 0: three are claimed against a cap of 2", n)
	}
}

// A claim whose lease ran out (its worker died) is claimable again, and
// the old claim can then record nothing.
func TestClaimLeaseExpiresAndStaleOutcomeIsIgnored(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	id := testdb.Task(t, db, odsA, odsB)
	old := claim(t, db, 1, 8, 200*time.Millisecond)
	if len(old) != 1 {
		t.Fatalf("claimed %d", len(old))
	}
	if n := len(claim(t, db, 1, 8, time.Minute)); n != 0 {
		t.Fatalf("claimed a leased item")
	}
	time.Sleep(300 * time.Millisecond)
	fresh := claim(t, db, 1, 8, time.Minute)
	if len(fresh) != 1 || fresh[0].ID != id || fresh[0].Token == old[0].Token {
		t.Fatalf("after the lease: %+v", fresh)
	}
	ctx := context.Background()
	rep, err := db.RecordOutcomes(ctx, []store.Outcome{{Kind: store.KindTask, ID: id, Endpoint: odsB, Token: old[0].Token,
		Result: store.Delivered, Channel: "webhook", Tried: true, Status: 200, At: time.Now()}}, store.RecordOptions{})
	if err != nil || rep.Applied != 0 {
		t.Fatalf("stale outcome: %+v %v; want nothing applied", rep, err)
	}
	rep, err = db.RecordOutcomes(ctx, []store.Outcome{{Kind: store.KindTask, ID: id, Endpoint: odsB, Token: fresh[0].Token,
		Result: store.Delivered, Channel: "webhook", Tried: true, Status: 200, At: time.Now()}}, store.RecordOptions{})
	if err != nil || rep.Applied != 1 {
		t.Fatalf("current outcome: %+v %v", rep, err)
	}
}

// Recording: delivered keeps the receiver's time and tells the sender;
// a retry schedules the next attempt and frees the claim; failed tells the
// sender why. All in one round trip.
func TestRecordOutcomes(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	delivered, retried, failed := testdb.Task(t, db, odsA, odsB), testdb.Task(t, db, odsA, odsB), testdb.Task(t, db, odsA, odsB)
	items := claim(t, db, 10, 8, time.Minute)
	token := items[0].Token
	answered := time.Now().Add(-3 * time.Second).Truncate(time.Microsecond)
	retryAt := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	rep, err := db.RecordOutcomes(ctx, []store.Outcome{
		{Kind: store.KindTask, ID: delivered, Endpoint: odsB, Token: token, Result: store.Delivered, Channel: "webhook", Tried: true, Status: 204, At: answered},
		{Kind: store.KindTask, ID: retried, Endpoint: odsB, Token: token, Result: store.Retry, Tried: true, Status: 503, Error: "webhook answered 503", RetryAt: retryAt},
		{Kind: store.KindTask, ID: failed, Endpoint: odsB, Token: token, Result: store.Failed, Tried: true, Status: 410, Reason: store.ReasonRejected, Error: "webhook answered 410"},
	}, store.RecordOptions{})
	if err != nil || rep.Applied != 3 || rep.Notifications != 2 {
		t.Fatalf("record: %+v %v; want 3 applied, 2 notifications", rep, err)
	}
	type row struct {
		State, LastError string
		Attempts         int
		DeliveredAt      *time.Time
		QueueDue         *time.Time
		Claimed          bool
		Note             string
	}
	read := func(id uuid.UUID) row {
		var r row
		err := db.Pool.QueryRow(ctx, `SELECT t.state, COALESCE(t.last_error, ''), t.attempts, t.delivered_at,
				q.due_at, q.claim_token IS NOT NULL,
				COALESCE((SELECT n.kind || '>' || n.recipient_ods || ':' || (n.data->>'attempts') FROM notifications n WHERE n.task_id = t.id), '')
			FROM tasks t LEFT JOIN delivery_queue q ON q.ref_id = t.id WHERE t.id = $1`, id).Scan(
			&r.State, &r.LastError, &r.Attempts, &r.DeliveredAt, &r.QueueDue, &r.Claimed, &r.Note)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	got := map[string]row{"delivered": read(delivered), "retried": read(retried), "failed": read(failed)}
	want := map[string]row{
		"delivered": {State: "delivered", Attempts: 1, DeliveredAt: &answered, Note: "task.delivered>" + odsA + ":1"},
		"retried":   {State: "accepted", Attempts: 1, LastError: "webhook answered 503", QueueDue: &retryAt},
		"failed":    {State: "failed", Attempts: 1, LastError: "webhook answered 410", Note: "task.failed>" + odsA + ":1"},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Fatalf("after recording (-want +got):\n%s", diff)
	}
	// The sender notifications are queued, due now, to the sender's endpoint.
	if n := testdb.Count(t, db, `SELECT count(*) FROM delivery_queue WHERE kind = 'notification' AND endpoint = $1
		AND due_at <= now()`, odsA); n != 2 {
		t.Fatalf("queued sender notifications = %d, want 2", n)
	}
	var actions []string
	rows, _ := db.Pool.Query(ctx, `SELECT action || ':' || (detail->>'attempts') || ':' || COALESCE(detail->>'reason', detail->>'channel')
		FROM task_events WHERE task_id = ANY($1) AND action <> 'accepted'`, []uuid.UUID{delivered, retried, failed})
	for rows.Next() {
		var a string
		_ = rows.Scan(&a)
		actions = append(actions, a)
	}
	rows.Close()
	sort.Strings(actions)
	if diff := cmp.Diff([]string{"delivered:1:webhook", "failed:1:rejected"}, actions); diff != "" {
		t.Fatalf("audit events (-want +got):\n%s", diff)
	}
}

// Cancel and delivery exclude each other through the queue row: a claimed
// task cannot be cancelled, a cancelled task cannot be claimed.
func TestCancelAndClaimExcludeEachOther(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	inFlight := testdb.Task(t, db, odsA, odsB)
	if len(claim(t, db, 1, 8, 300*time.Millisecond)) != 1 {
		t.Fatal("claim failed")
	}
	if _, _, err := db.CancelTask(ctx, inFlight, odsA); !errors.Is(err, store.ErrDeliveryInFlight) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("cancel while claimed: %v, want ErrDeliveryInFlight", err)
	}
	time.Sleep(400 * time.Millisecond) // the lease runs out: no POST of that claim can still be in flight
	if got, changed, err := db.CancelTask(ctx, inFlight, odsA); err != nil || !changed || got.State != store.TaskCancelled {
		t.Fatalf("cancel after the lease: %v %v %v", got.State, changed, err)
	}
	waiting := testdb.Task(t, db, odsA, odsB)
	if _, changed, err := db.CancelTask(ctx, waiting, odsA); err != nil || !changed {
		t.Fatalf("cancel queued: %v %v", changed, err)
	}
	if got := claim(t, db, 10, 8, time.Minute); len(got) != 0 {
		t.Fatalf("claimed cancelled tasks: %v", ids(got))
	}
}

// CreateTasks stores a batch in one statement; duplicates of a key inside
// the batch replay the first, and one task that the database refuses
// fails alone.
func TestCreateTasksBatch(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	testdb.Federation(t, db, odsA, odsB) // C leaves
	ok := testdb.TaskSpec(odsA, odsB)
	keyed := testdb.TaskSpec(odsA, odsB)
	keyed.IdempotencyKey = "k-1"
	dup := keyed
	dup.ID = uuid.New()
	left := testdb.TaskSpec(odsA, odsC)
	res, err := db.CreateTasks(ctx, []store.Task{ok, keyed, dup, left})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, r := range res {
		switch {
		case r.Err != nil:
			got = append(got, "err:"+errorName(r.Err))
		case r.Created:
			got = append(got, "created")
		default:
			got = append(got, "replay:"+r.Task.ID.String())
		}
	}
	if diff := cmp.Diff([]string{"created", "created", "replay:" + keyed.ID.String(), "err:not member"}, got); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	bad := testdb.TaskSpec(odsA, odsB)
	bad.PatientNHSNumber = "12345" // the database's CHECK refuses it
	good := testdb.TaskSpec(odsA, odsB)
	res, err = db.CreateTasks(ctx, []store.Task{bad, good})
	if err != nil || res[0].Err == nil || res[0].Created || !res[1].Created || res[1].Err != nil {
		t.Fatalf("batch with a bad task: %+v %v; want the bad one failed alone", res, err)
	}
	if n := testdb.Count(t, db, `SELECT count(*) FROM tasks`); n != 3 {
		t.Fatalf("tasks stored = %d, want 3", n)
	}
}

func errorName(err error) string {
	switch {
	case errors.Is(err, store.ErrRecipientNotMember):
		return "not member"
	case errors.Is(err, store.ErrIdempotencyMismatch):
		return "mismatch"
	}
	return err.Error()
}

// NextDue is now for due work, the retry time for scheduled work, and the
// lease end for an endpoint at its cap.
func TestNextDue(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	next := func() (time.Duration, bool) {
		d, ok, err := db.NextDue(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		return d, ok
	}
	if _, ok := next(); ok {
		t.Fatal("empty queue has a next due time")
	}
	id := testdb.Task(t, db, odsA, odsB)
	if d, ok := next(); !ok || d > 0 {
		t.Fatalf("due task: %v %v, want due now", d, ok)
	}
	items := claim(t, db, 1, 1, time.Minute)
	testdb.Task(t, db, odsA, odsB) // due, but B is at its cap of 1
	if d, ok := next(); !ok || d < 50*time.Second || d > time.Minute {
		t.Fatalf("at cap: %v %v, want about the lease end (1m)", d, ok)
	}
	_, err := db.RecordOutcomes(ctx, []store.Outcome{{Kind: store.KindTask, ID: id, Endpoint: odsB, Token: items[0].Token,
		Result: store.Retry, Tried: true, RetryAt: time.Now().Add(20 * time.Second)}}, store.RecordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := next(); !ok || d > 0 {
		t.Fatalf("slot free again, one task due: %v %v", d, ok)
	}
}

// A heartbeat keeps a claim alive; a lease that ran out is not revived.
func TestExtendClaims(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	testdb.Task(t, db, odsA, odsB)
	items := claim(t, db, 1, 8, 300*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	if n, err := db.ExtendClaims(ctx, items[0].Token, []uuid.UUID{items[0].ID}, 300*time.Millisecond); err != nil || n != 1 {
		t.Fatalf("extend: %d %v", n, err)
	}
	time.Sleep(200 * time.Millisecond) // 400 ms after the claim: alive only thanks to the heartbeat
	if got := claim(t, db, 1, 8, time.Minute); len(got) != 0 {
		t.Fatalf("claimed an item whose lease was renewed")
	}
	time.Sleep(200 * time.Millisecond)
	if n, err := db.ExtendClaims(ctx, items[0].Token, []uuid.UUID{items[0].ID}, time.Minute); err != nil || n != 0 {
		t.Fatalf("extend after expiry: %d %v; want 0", n, err)
	}
	if got := claim(t, db, 1, 8, time.Minute); len(got) != 1 {
		t.Fatalf("the expired claim's item was not claimable")
	}
}
