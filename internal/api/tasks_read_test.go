package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func TestGetTaskVisibility(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	task := f.create()
	tests := []struct {
		name       string
		key        string
		id         string
		wantStatus int
		wantReason string
	}{
		{name: "sender", key: f.keys[odsA], id: task.ID, wantStatus: 200},
		{name: "recipient", key: f.keys[odsB], id: task.ID, wantStatus: 200},
		{name: "bystander practice", key: f.keys[odsC], id: task.ID, wantStatus: 404, wantReason: "no task with this id"},
		{name: "no such task", key: f.keys[odsA], id: uuid.NewString(), wantStatus: 404, wantReason: "no task with this id"},
		{name: "malformed id", key: f.keys[odsA], id: "not-a-uuid", wantStatus: 404, wantReason: "no task with this id"},
		{name: "braced id", key: f.keys[odsA], id: "{" + task.ID + "}", wantStatus: 404, wantReason: "no task with this id"},
		{name: "no key", key: "", id: task.ID, wantStatus: 401, wantReason: "API key is required"},
		{name: "admin key", key: f.keys["admin"], id: task.ID, wantStatus: 403, wantReason: "practice key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do("GET", "/v1/tasks/"+tc.id, tc.key, "")
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; %s", res.status, tc.wantStatus, res.body)
			}
			if tc.wantStatus != 200 {
				if reason := res.reason(t); !strings.Contains(reason, tc.wantReason) {
					t.Fatalf("reason %q lacks %q", reason, tc.wantReason)
				}
				if strings.Contains(string(res.body), nhsValid) || strings.Contains(string(res.body), secretBody) {
					t.Fatalf("error response leaks patient data: %s", res.body)
				}
				return
			}
			var got taskView
			res.json(t, &got)
			if got.PatientNHSNumber != nhsValid || got.Body != secretBody || got.State != "accepted" || len(got.Events) != 1 {
				t.Fatalf("task = %+v; want the full task with NHS number, body and trail", got)
			}
		})
	}
}

func TestWrongMethodIsProblem(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct{ method, path, allow string }{
		{"DELETE", "/v1/tasks", "GET, HEAD, POST"},
		{"PUT", "/v1/tasks", "GET, HEAD, POST"},
		{"DELETE", "/v1/tasks/" + uuid.NewString(), "GET, HEAD"},
		{"GET", "/v1/tasks/" + uuid.NewString() + "/ack", "POST"},
		{"PUT", "/v1/inbox", "GET, HEAD"},
		{"POST", "/v1/notifications", "GET, HEAD"},
	}
	for _, tc := range tests {
		res := f.do(tc.method, tc.path, f.keys[odsA], "")
		if res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", tc.method, tc.path, res.status, res.header.Get("Allow"), tc.allow)
			continue
		}
		res.reason(t)
	}
}

func TestTaskTransitions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	accepted := f.create()
	delivered := f.create()
	f.deliver(delivered.ID)
	acked := f.create()
	f.deliver(acked.ID)
	if res := f.do("POST", "/v1/tasks/"+acked.ID+"/ack", f.keys[odsB], ""); res.status != 200 {
		t.Fatalf("setup ack: %d %s", res.status, res.body)
	}
	cancelled := f.create()
	if res := f.do("POST", "/v1/tasks/"+cancelled.ID+"/cancel", f.keys[odsA], ""); res.status != 200 {
		t.Fatalf("setup cancel: %d %s", res.status, res.body)
	}
	tests := []struct {
		name       string
		ods        string
		id, action string
		wantStatus int
		wantState  string // 200: the state in the response
		wantReason string // otherwise: part of the problem
		wantEvents int    // audit rows of the task afterwards
		wantNotes  int    // notifications in total afterwards
	}{
		{name: "ack before delivery", ods: odsB, id: accepted.ID, action: "ack", wantStatus: 409, wantReason: "not yet delivered", wantEvents: 1, wantNotes: 3},
		{name: "sender cannot ack", ods: odsA, id: delivered.ID, action: "ack", wantStatus: 403, wantReason: "only the task's recipient", wantEvents: 2, wantNotes: 3},
		{name: "bystander cannot ack", ods: odsC, id: delivered.ID, action: "ack", wantStatus: 404, wantReason: "no task with this id", wantEvents: 2, wantNotes: 3},
		{name: "ack cancelled task", ods: odsB, id: cancelled.ID, action: "ack", wantStatus: 409, wantReason: "the task is cancelled", wantEvents: 2, wantNotes: 3},
		{name: "recipient acks delivered", ods: odsB, id: delivered.ID, action: "ack", wantStatus: 200, wantState: "acknowledged", wantEvents: 3, wantNotes: 4},
		{name: "ack again is a no-op", ods: odsB, id: delivered.ID, action: "ack", wantStatus: 200, wantState: "acknowledged", wantEvents: 3, wantNotes: 4},
		{name: "recipient cannot cancel", ods: odsB, id: accepted.ID, action: "cancel", wantStatus: 403, wantReason: "only the task's sender", wantEvents: 1, wantNotes: 4},
		{name: "bystander cannot cancel", ods: odsC, id: accepted.ID, action: "cancel", wantStatus: 404, wantReason: "no task", wantEvents: 1, wantNotes: 4},
		{name: "cancel after delivery", ods: odsA, id: acked.ID, action: "cancel", wantStatus: 409, wantReason: "the task is acknowledged; only a task not yet delivered", wantEvents: 3, wantNotes: 4},
		{name: "sender cancels accepted", ods: odsA, id: accepted.ID, action: "cancel", wantStatus: 200, wantState: "cancelled", wantEvents: 2, wantNotes: 4},
		{name: "cancel again is a no-op", ods: odsA, id: accepted.ID, action: "cancel", wantStatus: 200, wantState: "cancelled", wantEvents: 2, wantNotes: 4},
		{name: "ack unknown task", ods: odsB, id: uuid.NewString(), action: "ack", wantStatus: 404, wantReason: "no task", wantNotes: 4},
	}
	for _, tc := range tests {
		res := f.do("POST", "/v1/tasks/"+tc.id+"/"+tc.action, f.keys[tc.ods], "")
		if res.status != tc.wantStatus {
			t.Fatalf("%s: status = %d, want %d; %s", tc.name, res.status, tc.wantStatus, res.body)
		}
		if tc.wantStatus == 200 {
			var got taskView
			res.json(t, &got)
			if got.State != tc.wantState {
				t.Fatalf("%s: state %q, want %q", tc.name, got.State, tc.wantState)
			}
		} else if reason := res.reason(t); !strings.Contains(reason, tc.wantReason) {
			t.Fatalf("%s: reason %q lacks %q", tc.name, reason, tc.wantReason)
		}
		var events, notes int
		err := f.db.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM task_events WHERE task_id::text = $1),
			(SELECT count(*) FROM notifications)`, tc.id).Scan(&events, &notes)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([2]int{tc.wantEvents, tc.wantNotes}, [2]int{events, notes}); diff != "" {
			t.Fatalf("%s: task events, notifications (-want +got):\n%s", tc.name, diff)
		}
	}
	// The acknowledgement told the sender, without patient data, through the delivery queue.
	var kind, recipient, subject, data string
	var queued int
	err := f.db.Pool.QueryRow(context.Background(), `SELECT n.kind, n.recipient_ods, n.subject_ods, n.data::text,
		(SELECT count(*) FROM delivery_queue q WHERE q.kind = 'notification' AND q.ref_id = n.id)
		FROM notifications n WHERE n.task_id = $1 AND n.kind = 'task.acknowledged'`, delivered.ID).Scan(&kind, &recipient, &subject, &data, &queued)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"task.acknowledged", odsA, odsB, "1"}, []string{kind, recipient, subject, string(rune('0' + queued))}); diff != "" {
		t.Fatalf("ack notification (-want +got):\n%s", diff)
	}
	if !strings.Contains(data, delivered.ID) || strings.Contains(data, nhsValid) || strings.Contains(data, "bloods") {
		t.Fatalf("notification data %s: want the task id and no patient data", data)
	}
	var trail taskView
	f.do("GET", "/v1/tasks/"+delivered.ID, f.keys[odsA], "").json(t, &trail)
	var actions []string
	for _, e := range trail.Events {
		actions = append(actions, e.Actor+":"+e.Action+":"+*e.ToState)
	}
	if diff := cmp.Diff([]string{odsA + ":accepted:accepted", "system:delivered:delivered", odsB + ":acknowledged:acknowledged"}, actions); diff != "" {
		t.Fatalf("audit trail (-want +got):\n%s", diff)
	}
}

// TestCancelRacesDelivery runs cancel and the delivery worker's guarded
// update at the same time for many tasks: exactly one wins each time.
func TestCancelRacesDelivery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 30
	for i := 0; i < n; i++ {
		task := f.create()
		type outcome struct {
			delivered bool
			status    int
		}
		done := make(chan outcome, 2)
		go func() { done <- outcome{delivered: f.deliver(task.ID)} }()
		go func() { done <- outcome{status: f.do("POST", "/v1/tasks/"+task.ID+"/cancel", f.keys[odsA], "").status} }()
		a, b := <-done, <-done
		delivered := a.delivered || b.delivered
		status := a.status + b.status
		var state string
		if err := f.db.Pool.QueryRow(context.Background(), `SELECT state FROM tasks WHERE id = $1`, task.ID).Scan(&state); err != nil {
			t.Fatal(err)
		}
		switch {
		case delivered && status == 409 && state == "delivered":
		case !delivered && status == 200 && state == "cancelled":
		default:
			t.Fatalf("task %d: delivered=%v cancel=%d final state %q: both or neither won", i, delivered, status, state)
		}
	}
}
