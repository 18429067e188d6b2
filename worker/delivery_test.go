package worker_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gpfed/gpfed/internal/webhook"
)

func TestTaskDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		to           string
		script       []int
		maxAge       time.Duration
		wantState    string
		wantChannel  string
		wantAttempts int
		wantErr      string
		wantPosts    []int // statuses the receiver answered, in order
		wantNote     string
		wantAudit    []string
	}{
		{
			name: "webhook success", to: recipient, maxAge: time.Hour,
			wantState: "delivered", wantChannel: "webhook", wantAttempts: 1, wantPosts: []int{200},
			wantNote: "task.delivered", wantAudit: []string{"system:delivered:accepted>delivered"},
		},
		{
			name: "retry on 503, 500, 429, 408 then success", to: recipient, script: []int{503, 500, 429, 408}, maxAge: time.Hour,
			wantState: "delivered", wantChannel: "webhook", wantAttempts: 5, wantPosts: []int{503, 500, 429, 408, 200},
			wantNote: "task.delivered", wantAudit: []string{"system:delivered:accepted>delivered"},
		},
		{
			name: "410 is a permanent failure", to: recipient, script: []int{410}, maxAge: time.Hour,
			wantState: "failed", wantAttempts: 1, wantErr: "webhook answered 410", wantPosts: []int{410},
			wantNote: "task.failed", wantAudit: []string{"system:failed:accepted>failed"},
		},
		{
			name: "other 4xx is a permanent failure", to: recipient, script: []int{422}, maxAge: time.Hour,
			wantState: "failed", wantAttempts: 1, wantErr: "webhook answered 422", wantPosts: []int{422},
			wantNote: "task.failed", wantAudit: []string{"system:failed:accepted>failed"},
		},
		{
			name: "inbox only", to: inboxOnly, maxAge: time.Hour,
			wantState: "delivered", wantChannel: "inbox", wantAttempts: 0,
			wantNote: "task.delivered", wantAudit: []string{"system:delivered:accepted>delivered"},
		},
		{
			name: "expired before delivery", to: recipient, maxAge: -time.Second,
			wantState: "failed", wantErr: "not delivered within its maximum age",
			wantNote: "task.failed", wantAudit: []string{"system:failed:accepted>failed"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, tc.script...)
			id := newTask(t, e.db, tc.to, tc.maxAge)
			got := waitState(t, e.db, id, tc.wantState)
			if diff := cmp.Diff(taskRow{tc.wantState, tc.wantChannel, tc.wantErr, tc.wantAttempts}, got); diff != "" {
				t.Errorf("task (-want +got):\n%s", diff)
			}
			notes := waitNotes(t, e.db, id, 1)
			if diff := cmp.Diff([]noteRow{{Recipient: sender, Kind: tc.wantNote, State: "delivered", Channel: "feed"}}, notes,
				cmpopts.IgnoreFields(noteRow{}, "Data")); diff != "" {
				t.Errorf("sender notification (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantAudit, auditTrail(t, e.db, id)); diff != "" {
				t.Errorf("audit (-want +got):\n%s", diff)
			}
			reqs, ok := e.rc.snapshot()
			var statuses []int
			for _, r := range reqs {
				statuses = append(statuses, r.Status)
				if !r.Verified || r.Key != id.String() || r.Event != webhook.EventTask {
					t.Errorf("request %+v: want verified, key %s, event task", r, id)
				}
			}
			if diff := cmp.Diff(tc.wantPosts, statuses); diff != "" {
				t.Errorf("receiver statuses (-want +got):\n%s", diff)
			}
			if tc.wantChannel == "webhook" && ok[id.String()] != 1 {
				t.Errorf("2xx deliveries of %s = %d, want 1", id, ok[id.String()])
			}
		})
	}
}

func TestTaskWebhookBody(t *testing.T) {
	t.Parallel()
	e := setup(t)
	id := newTask(t, e.db, recipient, time.Hour)
	waitState(t, e.db, id, "delivered")
	reqs, _ := e.rc.snapshot()
	if len(reqs) != 1 {
		t.Fatalf("requests: %+v", reqs)
	}
	var ev webhook.TaskEvent
	if err := json.Unmarshal([]byte(reqs[0].Body), &ev); err != nil {
		t.Fatal(err)
	}
	want := webhook.TaskEvent{Event: "task", ID: id, SenderODS: sender, RecipientODS: recipient, Type: "action-needed",
		Priority: "urgent", Subject: "Bloods", Body: bodyText, PatientNHSNumber: nhsNumber, DueDate: "2026-02-01"}
	if diff := cmp.Diff(want, ev, cmpopts.IgnoreFields(webhook.TaskEvent{}, "CreatedAt")); diff != "" {
		t.Errorf("task event (-want +got):\n%s", diff)
	}
	if ev.CreatedAt.IsZero() {
		t.Error("created_at missing")
	}
}

// The sender's notifications go to its webhook when it has one, signed,
// keyed by the notification id, and free of patient data.
func TestNotificationByWebhook(t *testing.T) {
	t.Parallel()
	e := setup(t)
	if err := e.db.SetWebhook(context.Background(), sender, e.rc.srv.URL+"/hooks/"+sender, secret, 0); err != nil {
		t.Fatal(err)
	}
	id := newTask(t, e.db, inboxOnly, time.Hour)
	waitState(t, e.db, id, "delivered")
	notes := waitNotes(t, e.db, id, 1)
	if diff := cmp.Diff([]noteRow{{Recipient: sender, Kind: "task.delivered", State: "delivered", Channel: "webhook"}}, notes,
		cmpopts.IgnoreFields(noteRow{}, "Data")); diff != "" {
		t.Errorf("notification (-want +got):\n%s", diff)
	}
	reqs, _ := e.rc.snapshot()
	if len(reqs) != 1 || reqs[0].Event != webhook.EventNotification || !reqs[0].Verified {
		t.Fatalf("requests: %+v", reqs)
	}
	var ev webhook.NotificationEvent
	if err := json.Unmarshal([]byte(reqs[0].Body), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != "task.delivered" || ev.TaskID == nil || *ev.TaskID != id || ev.RecipientODS != sender ||
		ev.SubjectODS != inboxOnly || reqs[0].Key != ev.ID.String() {
		t.Errorf("notification event %+v (key %s)", ev, reqs[0].Key)
	}
	if strings.Contains(reqs[0].Body, nhsNumber) || strings.Contains(reqs[0].Body, bodyText) {
		t.Errorf("notification carries patient data: %s", reqs[0].Body)
	}
}
