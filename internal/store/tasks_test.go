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

// A task's access record commits with the task, and only with it: a
// replayed key, a mismatched one and a recipient that is not a member
// write none (their requests' records are the API's to write).
func TestAcceptTasksWritesAccessWithCreatedTasksOnly(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	ctx := context.Background()
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk("A20047", "A"), mk("B81016", "B")}, false); err != nil {
		t.Fatal(err)
	}
	rec := func(tk store.Task) *store.AccessRecord {
		return &store.AccessRecord{ActorRole: store.ActorPractice, ODSCode: "A20047", APIKeyID: uuid.New(), KeyPrefix: "gpfed_abc",
			Action: "task.create", Method: "POST", Route: "POST /v1/tasks", ResourceIDs: []string{tk.ID.String()},
			Status: 202, RemoteAddr: "192.0.2.1"}
	}
	first, second := newTask("k1", 1), newTask("k2", 1)
	notMember := newTask("", 1)
	notMember.RecipientODS = "Q00000"
	replay, mismatch := newTask("k1", 1), newTask("k2", 2)
	in := []store.TaskIntake{{Task: first, Access: rec(first)}, {Task: second, Access: rec(second)}, {Task: notMember, Access: rec(notMember)},
		{Task: newTask("", 1)}} // no record: nothing to write
	res, err := db.AcceptTasks(ctx, in)
	if err != nil || !res[0].Created || !res[1].Created || !errors.Is(res[2].Err, store.ErrRecipientNotMember) || !res[3].Created {
		t.Fatalf("first batch: %+v %v", res, err)
	}
	res, err = db.AcceptTasks(ctx, []store.TaskIntake{{Task: replay, Access: rec(replay)}, {Task: mismatch, Access: rec(mismatch)}})
	if err != nil || res[0].Created || res[0].Task.ID != first.ID || !errors.Is(res[1].Err, store.ErrIdempotencyMismatch) {
		t.Fatalf("second batch: %+v %v", res, err)
	}
	rows, err := db.Pool.Query(ctx, `SELECT resource_ids, status, ods_code, action FROM access_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		IDs         []string
		Status      int
		ODS, Action string
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.IDs, &r.Status, &r.ODS, &r.Action); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	want := []row{{[]string{first.ID.String()}, 202, "A20047", "task.create"}, {[]string{second.ID.String()}, 202, "A20047", "task.create"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("access records (-want +got):\n%s", diff)
	}
}
