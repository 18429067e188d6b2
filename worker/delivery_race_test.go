package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
)

// cancelTx does what the API's cancel does: lock the row, cancel only an
// accepted task, audit it. It returns the state it found.
func cancelTx(ctx context.Context, tx pgx.Tx, id uuid.UUID) (string, error) {
	var state string
	if err := tx.QueryRow(ctx, `SELECT state FROM tasks WHERE id = $1 FOR UPDATE`, id).Scan(&state); err != nil {
		return "", err
	}
	if state != "accepted" {
		return state, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE tasks SET state = 'cancelled', finished_at = now() WHERE id = $1`, id); err != nil {
		return "", err
	}
	return state, store.InsertTaskEvent(ctx, tx, id, sender, "cancelled", "accepted", "cancelled", nil)
}

// waitLockWaiter polls until some session of this database waits on a row lock.
func waitLockWaiter(t *testing.T, db *store.DB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no session waited on the task's row lock within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A cancel arriving while the webhook POST is in flight waits for the
// delivery and then finds the task delivered: a delivered task is never
// left cancelled.
func TestCancelDuringDeliveryLosesToDelivery(t *testing.T) {
	t.Parallel()
	e := setup(t)
	release := make(chan struct{})
	e.rc.mu.Lock()
	e.rc.hold = release
	e.rc.mu.Unlock()
	id := newTask(t, e.db, recipient, time.Hour)
	select {
	case <-e.rc.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("webhook never called")
	}
	found := make(chan string, 1)
	go func() {
		var st string
		err := e.db.InTx(context.Background(), func(tx pgx.Tx) error {
			var err error
			st, err = cancelTx(context.Background(), tx, id)
			return err
		})
		if err != nil {
			st = "error: " + err.Error()
		}
		found <- st
	}()
	waitLockWaiter(t, e.db)
	close(release)
	if got := <-found; got != "delivered" {
		t.Fatalf("cancel found %q, want delivered (refused)", got)
	}
	if got := getTask(t, e.db, id).State; got != "delivered" {
		t.Fatalf("state %q, want delivered", got)
	}
	if diff := cmp.Diff([]string{"system:delivered:accepted>delivered"}, auditTrail(t, e.db, id)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

// A delivery arriving while a cancel holds the row waits, then finds the
// task cancelled and posts nothing: a cancelled task is never delivered.
func TestDeliveryDuringCancelPostsNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	id := insertTask(t, e.db, recipient, time.Hour, false) // queued only once the cancel holds the lock

	tx, err := e.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if st, err := cancelTx(ctx, tx, id); err != nil || st != "accepted" {
		t.Fatalf("cancel: %q, %v", st, err)
	}
	if _, err := e.db.RequeueDelivery(ctx, store.OutboxTask, id); err != nil {
		t.Fatal(err)
	}
	waitLockWaiter(t, e.db) // the handler is blocked on the row
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := e.insp.GetTaskInfo(queue.QueueTasks, queue.TaskDeliverID(id))
		if err == nil && info.State == asynq.TaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery entry not completed: %+v, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := getTask(t, e.db, id); got.State != "cancelled" || got.Attempts != 0 {
		t.Fatalf("task %+v, want cancelled with no attempts", got)
	}
	if reqs, _ := e.rc.snapshot(); len(reqs) != 0 {
		t.Fatalf("receiver got %d requests for a cancelled task", len(reqs))
	}
}

// A receiver that keeps failing until the task's maximum age ends in
// failed (reason expired) and the sender is told; attempts are recorded.
func TestRetryUntilExpiry(t *testing.T) {
	t.Parallel()
	script := make([]int, 10000)
	for i := range script {
		script[i] = 503
	}
	e := setup(t, script...)
	id := newTask(t, e.db, recipient, 1500*time.Millisecond)
	got := waitState(t, e.db, id, "failed")
	if got.Attempts < 2 || got.LastError != "not delivered within its maximum age (last error: webhook answered 503)" {
		t.Errorf("task %+v: want several attempts and an expiry error naming the last failure", got)
	}
	notes := waitNotes(t, e.db, id, 1)
	if notes[0].Kind != "task.failed" || notes[0].Data["reason"] != "expired" {
		t.Errorf("sender notification %+v", notes[0])
	}
}

// Many tasks through relay and worker: every one delivered, each exactly
// once at the receiver (a sprinkle of 503s forces retries on the way).
func TestManyTasksEachDeliveredOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, 503, 503, 503, 503, 503)
	ids := make([]uuid.UUID, 200)
	for i := range ids {
		ids[i] = newTask(t, e.db, recipient, time.Hour)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var open int
		if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM tasks WHERE state <> 'delivered'`).Scan(&open); err != nil {
			t.Fatal(err)
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d tasks not delivered within 30s", open, len(ids))
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, ok := e.rc.snapshot()
	for _, id := range ids {
		if ok[id.String()] != 1 {
			t.Errorf("task %s: %d successful deliveries, want 1", id, ok[id.String()])
		}
	}
	if len(ok) != len(ids) {
		t.Errorf("receiver saw %d keys, want %d", len(ok), len(ids))
	}
}
