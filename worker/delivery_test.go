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
			e := setup(t, options{script: tc.script})
			id := e.send(t, tc.to, tc.maxAge)
			got := waitState(t, e.db, id, tc.wantState)
			if diff := cmp.Diff(taskRow{tc.wantState, tc.wantChannel, tc.wantErr, tc.wantAttempts}, got); diff != "" {
				t.Errorf("task (-want +got):\n%s", diff)
			}
			notes := waitNotes(t, e.db, id, 1)
			if diff := cmp.Diff([]noteRow{{Recipient: sender, Kind: tc.wantNote, State: "delivered", Channel: "feed"}}, notes,
				cmpopts.IgnoreFields(noteRow{}, "Data")); diff != "" {
				t.Errorf("sender notification (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(append([]string{sender + ":accepted:>accepted"}, tc.wantAudit...), auditTrail(t, e.db, id)); diff != "" {
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

// The webhook carries the task's clinical content to the recipient, and
// delivered_at is the moment the receiver answered, not when the attempt
// began: a receiver that takes 400 ms shows in the record.
func TestTaskWebhookBodyAndDeliveredAt(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	hold := make(chan struct{})
	e.rc.set(func(rc *receiver) { rc.hold = hold })
	posted := time.Now()
	id := e.send(t, recipient, time.Hour)
	time.AfterFunc(400*time.Millisecond, func() { close(hold) })
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
		Priority: "urgent", Subject: "Please review bloods", Body: "Seen at the hub today.", PatientNHSNumber: nhsNumber,
		DueDate: "2026-02-01"}
	if diff := cmp.Diff(want, ev, cmpopts.IgnoreFields(webhook.TaskEvent{}, "CreatedAt")); diff != "" {
		t.Errorf("task event (-want +got):\n%s", diff)
	}
	var deliveredAt time.Time
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT delivered_at FROM tasks WHERE id = $1`, id).Scan(&deliveredAt); err != nil {
		t.Fatal(err)
	}
	if lag := deliveredAt.Sub(reqs[0].At); deliveredAt.Sub(posted) < 400*time.Millisecond || lag < 0 || lag > 100*time.Millisecond {
		t.Errorf("delivered_at %s: %s after the POST, %s after the receiver's answer; want the answer's time",
			deliveredAt.Format(time.RFC3339Nano), deliveredAt.Sub(posted), lag)
	}
}

// The sender's notifications go to its webhook when it has one, signed,
// keyed by the notification id, and free of patient data.
func TestNotificationByWebhook(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	if err := e.db.SetWebhook(context.Background(), sender, e.rc.srv.URL+"/hooks/"+sender, secret, 0); err != nil {
		t.Fatal(err)
	}
	id := e.send(t, inboxOnly, time.Hour)
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
	if strings.Contains(reqs[0].Body, nhsNumber) || strings.Contains(reqs[0].Body, "bloods") {
		t.Errorf("notification carries patient data: %s", reqs[0].Body)
	}
}

// A gentle secret rotation keeps deliveries to a receiver that still holds
// the old secret working (two v1 signatures); once the previous secret is
// dropped, that receiver's 401 fails the task at once.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	e := setup(t, options{}) // the receiver verifies with secret
	ctx := context.Background()
	url := e.rc.srv.URL + "/hooks/" + recipient
	if err := e.db.SetWebhook(ctx, recipient, url, "whsec-rotated-0123456789", time.Hour); err != nil {
		t.Fatal(err)
	}
	first := e.send(t, recipient, time.Hour)
	if r := waitState(t, e.db, first, "delivered"); r.Channel != "webhook" {
		t.Fatalf("during the overlap: %+v, want delivered by webhook", r)
	}
	if err := e.db.SetWebhook(ctx, recipient, url, "whsec-rotated-0123456789", 0); err != nil {
		t.Fatal(err)
	}
	second := e.send(t, recipient, time.Hour)
	if r := waitState(t, e.db, second, "failed"); !strings.Contains(r.LastError, "401") {
		t.Fatalf("after the overlap: %+v, want failed with the receiver's 401", r)
	}
	reqs, _ := e.rc.snapshot()
	var sigs []int
	for _, r := range reqs {
		if r.Event == webhook.EventTask {
			sigs = append(sigs, r.Signatures)
		}
	}
	if len(sigs) != 2 || sigs[0] != 2 || sigs[1] != 1 {
		t.Fatalf("v1 entries per task POST = %v, want [2 1] (both secrets during the overlap, then the new one)", sigs)
	}
}
