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

func deliverySetup(t *testing.T) (*store.DB, func(state string) uuid.UUID) {
	t.Helper()
	db, _ := testdb.New(t)
	ctx := context.Background()
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk("A20047", "A"), mk("B82001", "B")}, false); err != nil {
		t.Fatal(err)
	}
	return db, func(state string) uuid.UUID {
		id := uuid.New()
		_, err := db.Pool.Exec(ctx, `WITH t AS (INSERT INTO tasks (id, sender_ods, recipient_ods, patient_nhs_number,
			type, priority, subject, body, state, expires_at)
			VALUES ($1, 'A20047', 'B82001', '9434765919', 'information', 'routine', 's', 'b', $2, now() + interval '1 day'))
			INSERT INTO outbox (kind, ref_id) VALUES ('task', $1)`, id, state)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
}

// Rows the enqueue callback reports are deleted; the rest stay, even when
// it fails part-way.
func TestRelayOutboxPartial(t *testing.T) {
	t.Parallel()
	db, newTask := deliverySetup(t)
	for range 4 {
		newTask("accepted")
	}
	ctx := context.Background()
	n, err := db.RelayOutbox(ctx, 10, func(_ context.Context, items []store.OutboxItem) ([]int64, error) {
		return []int64{items[0].ID, items[1].ID}, errors.New("redis went away")
	})
	if n != 4 || err == nil {
		t.Fatalf("RelayOutbox = %d, %v; want 4 claimed and an error", n, err)
	}
	if left, _ := db.OutboxLen(ctx); left != 2 {
		t.Fatalf("outbox rows = %d, want 2", left)
	}
}

// Rows held back for a direct enqueue (relay_after ahead) are not claimed.
func TestRelayOutboxSkipsHeldRows(t *testing.T) {
	t.Parallel()
	db, newTask := deliverySetup(t)
	ctx := context.Background()
	due := newTask("accepted")
	held := newTask("accepted")
	if _, err := db.Pool.Exec(ctx, `UPDATE outbox SET relay_after = now() + interval '5 seconds' WHERE ref_id = $1`, held); err != nil {
		t.Fatal(err)
	}
	var got []uuid.UUID
	_, err := db.RelayOutbox(ctx, 10, func(_ context.Context, items []store.OutboxItem) ([]int64, error) {
		var ids []int64
		for _, it := range items {
			got = append(got, it.RefID)
			ids = append(ids, it.ID)
		}
		return ids, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uuid.UUID{due}, got); diff != "" {
		t.Fatalf("claimed (-want +got):\n%s", diff)
	}
	if left, _ := db.OutboxLen(ctx); left != 1 {
		t.Fatalf("outbox rows = %d, want 1 (the held one)", left)
	}
}

// try runs only for accepted tasks, under the row lock; every verdict is
// applied with attempts counted.
func TestDeliverTaskVerdicts(t *testing.T) {
	t.Parallel()
	type result struct {
		Called   bool
		State    string
		Attempts int
		LastErr  string
		Events   int
		Notes    []string
		// TaskOutbox: the task's outbox rows left (the delivery drops it);
		// HeldNoteOutbox: the notification's outbox rows held back from the
		// relay; Returned: DeliverTask named the new notification.
		TaskOutbox, HeldNoteOutbox int
		Returned                   bool
	}
	tests := []struct {
		name    string
		initial string
		attempt store.Attempt
		want    result
	}{
		{"delivered", "accepted", store.Attempt{Result: store.AttemptDelivered, Channel: "webhook", Tried: true},
			result{true, "delivered", 1, "", 1, []string{"task.delivered"}, 0, 1, true}},
		{"retry", "accepted", store.Attempt{Result: store.AttemptRetry, Tried: true, Error: "webhook answered 503"},
			result{true, "accepted", 1, "webhook answered 503", 0, nil, 0, 0, false}},
		{"failed", "accepted", store.Attempt{Result: store.AttemptFailed, Tried: true, Reason: "rejected", Error: "webhook answered 410", Status: 410},
			result{true, "failed", 1, "webhook answered 410", 1, []string{"task.failed"}, 0, 1, true}},
		{"cancelled is left alone", "cancelled", store.Attempt{Result: store.AttemptDelivered},
			result{false, "cancelled", 0, "", 0, nil, 0, 0, false}},
		{"delivered is left alone", "delivered", store.Attempt{Result: store.AttemptFailed},
			result{false, "delivered", 0, "", 0, nil, 0, 0, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, newTask := deliverySetup(t)
			ctx := context.Background()
			id := newTask(tc.initial)
			var got result
			opt := store.DeliveryOptions{Now: time.Now(), RelayDelay: store.DirectEnqueueGrace}
			dt, _, err := db.DeliverTask(ctx, id, opt, func(context.Context, store.DeliveryTask) store.Attempt {
				got.Called = true
				return tc.attempt
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Pool.QueryRow(ctx, `SELECT state, attempts, COALESCE(last_error, ''),
				(SELECT count(*) FROM task_events WHERE task_id = $1),
				(SELECT count(*) FROM outbox WHERE ref_id = $1),
				(SELECT count(*) FROM outbox o JOIN notifications n ON n.id = o.ref_id
					WHERE n.task_id = $1 AND o.relay_after > now() + interval '4 seconds'),
				EXISTS (SELECT 1 FROM notifications WHERE id = $2)
				FROM tasks WHERE id = $1`, id, dt.Notification).Scan(
				&got.State, &got.Attempts, &got.LastErr, &got.Events, &got.TaskOutbox, &got.HeldNoteOutbox,
				&got.Returned); err != nil {
				t.Fatal(err)
			}
			rows, err := db.Pool.Query(ctx, `SELECT kind FROM notifications WHERE task_id = $1 AND recipient_ods = 'A20047'`, id)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var k string
				_ = rows.Scan(&k)
				got.Notes = append(got.Notes, k)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeliverTaskMissing(t *testing.T) {
	t.Parallel()
	db, _ := deliverySetup(t)
	_, _, err := db.DeliverTask(context.Background(), uuid.New(), store.DeliveryOptions{}, func(context.Context, store.DeliveryTask) store.Attempt {
		t.Fatal("try called for a missing task")
		return store.Attempt{}
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}
