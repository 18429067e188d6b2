package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCreateTaskRejectsAndStoresNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	yesterday := time.Now().In(mustLondon(t)).AddDate(0, 0, -1).Format(time.DateOnly)
	long := func(n int, s string) string { return strings.Repeat(s, n) }
	tests := []struct {
		name       string
		key        string // ODS of the caller, "admin", "bogus" or "" for none
		body       string
		headers    []string
		wantStatus int
		wantReason string // substring of the problem detail or field reasons
	}{
		{name: "no key", key: "", body: taskBody(), wantStatus: 401, wantReason: "API key is required"},
		{name: "unknown key", key: "bogus", body: taskBody(), wantStatus: 401, wantReason: "unknown, revoked"},
		{name: "key of a practice that left", key: odsZ, body: taskBody(), wantStatus: 401, wantReason: "deactivated practice"},
		{name: "admin key", key: "admin", body: taskBody(), wantStatus: 403, wantReason: "needs a practice key"},
		{name: "form content type", key: odsA, body: taskBody(), headers: []string{"Content-Type", "<unset>", "Content-Type", "application/x-www-form-urlencoded"}, wantStatus: 415, wantReason: "Content-Type: application/json"},
		{name: "empty body", key: odsA, body: " ", wantStatus: 400, wantReason: "empty or ends early"},
		{name: "not an object", key: odsA, body: `["` + nhsValid + `"]`, wantStatus: 400, wantReason: "must be a JSON object"},
		{name: "malformed JSON", key: odsA, body: `{"recipient_ods": "B81016", "patient_nhs_number": ` + nhsValid + `x}`, wantStatus: 400, wantReason: "not valid JSON"},
		{name: "truncated JSON", key: odsA, body: `{"recipient_ods": "B81016", "patient_nhs_number": "` + nhsValid, wantStatus: 400, wantReason: "ends early"},
		{name: "trailing data", key: odsA, body: taskBody() + `{}`, wantStatus: 400, wantReason: "unexpected data after the JSON object"},
		{name: "unknown field", key: odsA, body: taskBody(set("patient_name", "Jane Doe")), wantStatus: 400, wantReason: "unknown field patient_name"},
		{name: "field in the wrong case", key: odsA, body: taskBody(del("subject"), set("Subject", "x")), wantStatus: 400, wantReason: "unknown field Subject"},
		{name: "repeated field", key: odsA, body: strings.Replace(taskBody(), `"type":`, `"type":"information","type":`, 1), wantStatus: 400, wantReason: "type appears more than once"},
		{name: "NHS number as a JSON number", key: odsA, body: taskBody(set("patient_nhs_number", 9658218873)), wantStatus: 400, wantReason: "patient_nhs_number: must be a JSON string"},
		{name: "subject as an array", key: odsA, body: taskBody(set("subject", []string{"a"})), wantStatus: 400, wantReason: "subject: must be a JSON string"},
		{name: "body over 64 KiB", key: odsA, body: taskBody(set("body", long(70<<10, "a"))), wantStatus: 413, wantReason: "larger than 65536 bytes"},
		{name: "missing recipient", key: odsA, body: taskBody(del("recipient_ods")), wantStatus: 422, wantReason: "recipient_ods: is required"},
		{name: "missing body field", key: odsA, body: taskBody(del("body")), wantStatus: 422, wantReason: "body: is required"},
		{name: "null subject", key: odsA, body: taskBody(set("subject", nil)), wantStatus: 422, wantReason: "subject: is required"},
		{name: "lower-case ODS code", key: odsA, body: taskBody(set("recipient_ods", "b81016")), wantStatus: 422, wantReason: "recipient_ods: must be an ODS code"},
		{name: "unknown recipient", key: odsA, body: taskBody(set("recipient_ods", "Y12345")), wantStatus: 422, wantReason: "recipient_ods: is not an active member"},
		{name: "recipient that left", key: odsA, body: taskBody(set("recipient_ods", odsZ)), wantStatus: 422, wantReason: "recipient_ods: is not an active member"},
		{name: "sender is recipient", key: odsA, body: taskBody(set("recipient_ods", odsA)), wantStatus: 422, wantReason: "recipient_ods: must not be the sending practice"},
		{name: "NHS number check digit", key: odsA, body: taskBody(set("patient_nhs_number", "9658218874")), wantStatus: 422, wantReason: "patient_nhs_number: fails the Modulus 11"},
		{name: "NHS number check value 10", key: odsA, body: taskBody(set("patient_nhs_number", "1000000010")), wantStatus: 422, wantReason: "Modulus 11"},
		{name: "NHS number nine digits", key: odsA, body: taskBody(set("patient_nhs_number", "965821887")), wantStatus: 422, wantReason: "patient_nhs_number: must be 10 digits"},
		{name: "NHS number with hyphens", key: odsA, body: taskBody(set("patient_nhs_number", "965-821-8873")), wantStatus: 422, wantReason: "must be 10 digits"},
		{name: "NHS number placeholder", key: odsA, body: taskBody(set("patient_nhs_number", "0000000000")), wantStatus: 422, wantReason: "placeholder"},
		{name: "bad type", key: odsA, body: taskBody(set("type", "urgent")), wantStatus: 422, wantReason: "type: must be information or action-needed"},
		{name: "bad priority", key: odsA, body: taskBody(set("priority", "ROUTINE")), wantStatus: 422, wantReason: "priority: must be routine or urgent"},
		{name: "empty subject", key: odsA, body: taskBody(set("subject", "")), wantStatus: 422, wantReason: "subject: must not be blank"},
		{name: "blank subject", key: odsA, body: taskBody(set("subject", "   ")), wantStatus: 422, wantReason: "subject: must not be blank"},
		{name: "subject 201 characters", key: odsA, body: taskBody(set("subject", long(201, "é"))), wantStatus: 422, wantReason: "subject: must be at most 200 characters (got 201)"},
		{name: "subject with a line break", key: odsA, body: taskBody(set("subject", "two\nlines")), wantStatus: 422, wantReason: "subject: must not contain control characters"},
		{name: "body 10001 characters", key: odsA, body: taskBody(set("body", long(10001, "x"))), wantStatus: 422, wantReason: "body: must be at most 10000 characters (got 10001)"},
		{name: "body with NUL", key: odsA, body: taskBody(set("body", "a\x00b")), wantStatus: 422, wantReason: "body: must not contain control characters"},
		{name: "due date not a date", key: odsA, body: taskBody(set("due_date", "31/12/2030")), wantStatus: 422, wantReason: "due_date: must be a date written YYYY-MM-DD"},
		{name: "due date without padding", key: odsA, body: taskBody(set("due_date", "2030-1-5")), wantStatus: 422, wantReason: "due_date: must be a date"},
		{name: "due date impossible", key: odsA, body: taskBody(set("due_date", "2030-02-30")), wantStatus: 422, wantReason: "due_date: must be a date"},
		{name: "due date with time", key: odsA, body: taskBody(set("due_date", "2030-01-05T00:00:00Z")), wantStatus: 422, wantReason: "due_date: must be a date"},
		{name: "due date in the past", key: odsA, body: taskBody(set("due_date", yesterday)), wantStatus: 422, wantReason: "due_date: must not be in the past"},
		{name: "several problems at once", key: odsA, body: taskBody(set("type", "x"), set("priority", "y"), set("patient_nhs_number", "123")), wantStatus: 422, wantReason: "fix patient_nhs_number, type, priority"},
		{name: "empty idempotency key", key: odsA, body: taskBody(), headers: []string{"Idempotency-Key", ""}, wantStatus: 400, wantReason: "Idempotency-Key"},
		{name: "idempotency key too long", key: odsA, body: taskBody(), headers: []string{"Idempotency-Key", long(256, "k")}, wantStatus: 400, wantReason: "1 to 255 visible ASCII"},
		{name: "idempotency key with a space", key: odsA, body: taskBody(), headers: []string{"Idempotency-Key", "a b"}, wantStatus: 400, wantReason: "visible ASCII"},
		{name: "idempotency key twice", key: odsA, body: taskBody(), headers: []string{"Idempotency-Key", "k1", "Idempotency-Key", "k2"}, wantStatus: 400, wantReason: "sent once"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := f.keys[tc.key]
			if tc.key == "bogus" {
				key = "gpfed_not-a-real-key"
			}
			res := f.do("POST", "/v1/tasks", key, tc.body, tc.headers...)
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", res.status, tc.wantStatus, res.body)
			}
			if reason := res.reason(t); !strings.Contains(reason, tc.wantReason) {
				t.Fatalf("reason %q does not contain %q", reason, tc.wantReason)
			}
			for _, secret := range []string{nhsValid, "965821887", "9658218874", secretBody, "Jane Doe"} {
				if strings.Contains(string(res.body), secret) {
					t.Fatalf("response echoes caller data %q: %s", secret, res.body)
				}
			}
			if diff := cmp.Diff([4]int{}, f.counts()); diff != "" {
				t.Fatalf("rows in tasks, task_events, delivery_queue, notifications (-want +got):\n%s", diff)
			}
		})
	}
	for _, secret := range []string{nhsValid, "9658218874", secretBody} {
		if strings.Contains(f.logs.String(), secret) {
			t.Fatalf("logs contain caller data %q", secret)
		}
	}
}

func TestCreateTaskAccepts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	today := time.Now().In(mustLondon(t)).Format(time.DateOnly)
	before := time.Now()
	res := f.do("POST", "/v1/tasks", f.keys[odsA], taskBody(set("patient_nhs_number", "965 822 0223"), set("due_date", today)))
	if res.status != http.StatusAccepted {
		t.Fatalf("status = %d; body %s", res.status, res.body)
	}
	var got taskView
	res.json(t, &got)
	if loc := res.header.Get("Location"); loc != "/v1/tasks/"+got.ID {
		t.Fatalf("Location = %q, want /v1/tasks/%s", loc, got.ID)
	}
	if d := got.ExpiresAt.Sub(before); d < 6*time.Hour-time.Minute || d > 6*time.Hour+time.Minute {
		t.Fatalf("expires_at %v is not created + TaskMaxAge (6h)", got.ExpiresAt)
	}
	want := taskView{ID: got.ID, SenderODS: odsA, RecipientODS: odsB, PatientNHSNumber: nhsValid2, Type: "action-needed",
		Priority: "urgent", Subject: "Please review bloods", Body: secretBody, DueDate: &today, State: "accepted",
		ExpiresAt: got.ExpiresAt, CreatedAt: got.CreatedAt, Events: got.Events}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("task (-want +got):\n%s", diff)
	}
	if len(got.Events) != 1 || got.Events[0].Actor != odsA || got.Events[0].Action != "accepted" || *got.Events[0].ToState != "accepted" {
		t.Fatalf("audit trail = %+v, want one accepted event by %s", got.Events, odsA)
	}
	if diff := cmp.Diff([4]int{1, 1, 1, 0}, f.counts()); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
	var kind, ref, endpoint string
	var prio int
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT kind, ref_id::text, endpoint, priority FROM delivery_queue
		WHERE due_at <= now() AND claim_token IS NULL`).Scan(&kind, &ref, &endpoint, &prio); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{"task", got.ID, odsB, 0}, []any{kind, ref, endpoint, prio}); diff != "" {
		t.Fatalf("delivery queue row, due now (-want +got):\n%s", diff)
	}
	if !strings.Contains(f.logs.String(), got.ID) {
		t.Fatalf("acceptance not logged: %s", f.logs.String())
	}
	for _, secret := range []string{nhsValid2, "965 822 0223", secretBody, "Please review bloods"} {
		if strings.Contains(f.logs.String(), secret) {
			t.Fatalf("logs contain patient data %q", secret)
		}
	}
}

// TestCreateTaskLimitsAreInclusive: the largest valid subject and body are
// accepted, including a body that needs most of the 64 KiB when escaped.
func TestCreateTaskLimitsAreInclusive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	escaped := strings.Replace(taskBody(set("body", "BODY")), "BODY", strings.Repeat(`\u00e9`, 10000), 1)
	tests := []struct {
		name string
		body string
	}{
		{name: "200-character subject", body: taskBody(set("subject", strings.Repeat("é", 200)))},
		{name: "10000-character body", body: taskBody(set("body", strings.Repeat("é", 10000)))},
		{name: "10000 escaped characters", body: escaped},
		{name: "multi-line body", body: taskBody(set("body", "line one\r\n\tline two"))},
		{name: "empty body", body: taskBody(set("body", ""))},
		{name: "no due date (null)", body: taskBody(set("due_date", nil))},
		{name: "charset parameter", body: taskBody()},
	}
	for _, tc := range tests {
		res := f.do("POST", "/v1/tasks", f.keys[odsA], tc.body, "Content-Type", "<unset>", "Content-Type", "application/json; charset=utf-8")
		if res.status != http.StatusAccepted {
			t.Errorf("%s: status = %d; body %.300s", tc.name, res.status, res.body)
		}
	}
}

func mustLondon(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
