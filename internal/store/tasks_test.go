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

func newTask(key string, hash byte) store.Task {
	return store.Task{ID: uuid.New(), SenderODS: "A20047", RecipientODS: "B81016", PatientNHSNumber: "9658218873",
		Type: "information", Priority: "routine", Subject: "s", Body: "b", DueDate: "2030-01-05",
		IdempotencyKey: key, RequestHash: []byte{hash}, ExpiresAt: time.Now().Add(time.Hour)}
}

func TestCreateTask(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	ctx := context.Background()
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk("A20047", "A"), mk("B81016", "B"), mk("M85015", "M")}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk("A20047", "A"), mk("B81016", "B")}, false); err != nil {
		t.Fatal(err)
	}
	first, created, err := db.CreateTask(ctx, newTask("k1", 1))
	if err != nil || !created || first.State != store.TaskAccepted || first.DueDate != "2030-01-05" {
		t.Fatalf("create: %+v created=%v err=%v", first, created, err)
	}
	replay, created, err := db.CreateTask(ctx, newTask("k1", 1))
	if err != nil || created || replay.ID != first.ID {
		t.Fatalf("replay: id %s created=%v err=%v; want the first task", replay.ID, created, err)
	}
	if _, _, err := db.CreateTask(ctx, newTask("k1", 2)); !errors.Is(err, store.ErrIdempotencyMismatch) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("different request, same key: err = %v", err)
	}
	for _, ods := range []string{"M85015", "Q00000"} {
		tk := newTask("", 1)
		tk.RecipientODS = ods
		if _, _, err := db.CreateTask(ctx, tk); !errors.Is(err, store.ErrRecipientNotMember) {
			t.Fatalf("recipient %s: err = %v, want ErrRecipientNotMember", ods, err)
		}
	}
	got, events, err := db.GetTaskFor(ctx, first.ID, "B81016")
	if err != nil || got.ID != first.ID || len(events) != 1 || events[0].Action != "accepted" || events[0].Actor != "A20047" {
		t.Fatalf("get as recipient: %+v %+v %v", got, events, err)
	}
	if _, _, err := db.GetTaskFor(ctx, first.ID, "M85015"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get as bystander: err = %v, want ErrNotFound", err)
	}
	var tasks, evs, queued int
	if err := db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM task_events),
		(SELECT count(*) FROM delivery_queue WHERE kind = 'task')`).Scan(&tasks, &evs, &queued); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([3]int{1, 1, 1}, [3]int{tasks, evs, queued}); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE task_events SET action = 'x'`); err == nil {
		t.Fatal("task_events accepted an UPDATE; it must be append-only")
	}
}

func TestTaskTransitionsStore(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	ctx := context.Background()
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk("A20047", "A"), mk("B81016", "B"), mk("M85015", "M")}, false); err != nil {
		t.Fatal(err)
	}
	task, _, err := db.CreateTask(ctx, newTask("", 1))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		op          func(context.Context, uuid.UUID, string) (store.Task, bool, error)
		caller      string
		wantErr     error
		wantChanged bool
		wantState   string
	}{
		{name: "ack before delivery", op: db.AckTask, caller: "B81016", wantErr: store.ErrWrongState, wantState: "accepted"},
		{name: "recipient cancels", op: db.CancelTask, caller: "B81016", wantErr: store.ErrNotParty, wantState: "accepted"},
		{name: "bystander cancels", op: db.CancelTask, caller: "M85015", wantErr: store.ErrNotFound},
		{name: "sender cancels", op: db.CancelTask, caller: "A20047", wantChanged: true, wantState: "cancelled"},
		{name: "sender cancels again", op: db.CancelTask, caller: "A20047", wantState: "cancelled"},
		{name: "ack cancelled", op: db.AckTask, caller: "B81016", wantErr: store.ErrWrongState, wantState: "cancelled"},
		{name: "sender acks", op: db.AckTask, caller: "A20047", wantErr: store.ErrNotParty, wantState: "cancelled"},
	}
	for _, tc := range tests {
		got, changed, err := tc.op(ctx, task.ID, tc.caller)
		if !errors.Is(err, tc.wantErr) || changed != tc.wantChanged || got.State != tc.wantState {
			t.Fatalf("%s: state %q changed=%v err=%v; want %q %v %v", tc.name, got.State, changed, err, tc.wantState, tc.wantChanged, tc.wantErr)
		}
	}
	events, err := db.TaskEvents(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, e := range events {
		trail = append(trail, e.Actor+" "+e.Action+" "+e.FromState+"->"+e.ToState)
	}
	if diff := cmp.Diff([]string{"A20047 accepted ->accepted", "A20047 cancelled accepted->cancelled"}, trail); diff != "" {
		t.Fatalf("trail (-want +got):\n%s", diff)
	}
}
