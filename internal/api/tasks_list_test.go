package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

type pageView[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// walk follows next_cursor from path until the last page, returning the ids
// in order and how many pages it took.
func walk[T any](t *testing.T, f *fixture, key, path string, id func(T) string) ([]string, int) {
	t.Helper()
	var ids []string
	next := path
	for pages := 1; ; pages++ {
		res := f.do("GET", next, key, "")
		if res.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", next, res.status, res.body)
		}
		var p pageView[T]
		res.json(t, &p)
		if p.Items == nil {
			t.Fatalf("GET %s: items is null, want an array", next)
		}
		for _, it := range p.Items {
			ids = append(ids, id(it))
		}
		if p.NextCursor == nil {
			return ids, pages
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		next = path + sep + "cursor=" + url.QueryEscape(*p.NextCursor)
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
	}
}

func TestInbox(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var deliveredIDs []string
	for i := 0; i < 7; i++ {
		task := f.create()
		f.deliver(task.ID)
		deliveredIDs = append(deliveredIDs, task.ID)
	}
	f.create() // accepted, not yet delivered: not in the inbox
	// To C, not B: not in B's inbox.
	other := f.create(set("recipient_ods", odsC))
	f.deliver(other.ID)
	if res := f.do("POST", "/v1/tasks/"+deliveredIDs[2]+"/ack", f.keys[odsB], ""); res.status != 200 {
		t.Fatalf("ack: %d", res.status)
	}
	// Four of them share a creation time, so only the id orders them.
	if _, err := f.db.Pool.Exec(ctx, `UPDATE tasks SET created_at = '2026-01-05T09:00:00Z' WHERE id = ANY($1)`, deliveredIDs[1:5]); err != nil {
		t.Fatal(err)
	}
	want := testdb.Strings(t, f.db.Pool, `SELECT id::text FROM tasks WHERE recipient_ods = $1 AND state IN ('delivered', 'acknowledged')
		ORDER BY created_at DESC, id DESC`, odsB)
	taskID := func(tv taskView) string { return tv.ID }
	for _, limit := range []string{"1", "2", "3", "7", "200"} {
		got, pages := walk(t, f, f.keys[odsB], "/v1/inbox?limit="+limit, taskID)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("limit %s: inbox ids over %d pages (-want +got):\n%s", limit, pages, diff)
		}
	}
	got, pages := walk(t, f, f.keys[odsB], "/v1/inbox", taskID)
	if len(got) != 7 || pages != 1 {
		t.Fatalf("default limit: %d items over %d pages", len(got), pages)
	}
	acked, _ := walk(t, f, f.keys[odsB], "/v1/inbox?state=acknowledged", taskID)
	if diff := cmp.Diff([]string{deliveredIDs[2]}, acked); diff != "" {
		t.Fatalf("state=acknowledged (-want +got):\n%s", diff)
	}
	open, _ := walk(t, f, f.keys[odsB], "/v1/inbox?state=delivered&limit=2", taskID)
	if len(open) != 6 {
		t.Fatalf("state=delivered: %d items, want 6", len(open))
	}
	sent, _ := walk(t, f, f.keys[odsA], "/v1/inbox", taskID)
	if len(sent) != 0 {
		t.Fatalf("sender's inbox holds %d tasks, want 0", len(sent))
	}
	var first pageView[taskView]
	f.do("GET", "/v1/inbox?limit=1", f.keys[odsB], "").json(t, &first)
	if it := first.Items[0]; it.PatientNHSNumber != nhsValid || it.Body != secretBody || it.Events != nil {
		t.Fatalf("inbox item = %+v; want the full task without its trail", it)
	}
}

func TestSentTasks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	// A sends six tasks to B and two to C, in every state.
	var toB, toC []string
	for i := 0; i < 6; i++ {
		toB = append(toB, f.create().ID)
	}
	for i := 0; i < 2; i++ {
		toC = append(toC, f.create(set("recipient_ods", odsC)).ID)
	}
	f.deliver(toB[1])
	f.deliver(toB[2])
	f.deliver(toC[0])
	if res := f.do("POST", "/v1/tasks/"+toB[2]+"/ack", f.keys[odsB], ""); res.status != 200 {
		t.Fatalf("ack: %d %s", res.status, res.body)
	}
	if res := f.do("POST", "/v1/tasks/"+toB[3]+"/cancel", f.keys[odsA], ""); res.status != 200 {
		t.Fatalf("cancel: %d %s", res.status, res.body)
	}
	if _, err := f.db.Pool.Exec(ctx, `UPDATE tasks SET state = 'failed', finished_at = now() WHERE id = $1`, toB[4]); err != nil {
		t.Fatal(err)
	}
	// Tasks A did not send: B to A, and C to B.
	fromB := f.do("POST", "/v1/tasks", f.keys[odsB], taskBody(set("recipient_ods", odsA)))
	fromC := f.do("POST", "/v1/tasks", f.keys[odsC], taskBody())
	if fromB.status != http.StatusAccepted || fromC.status != http.StatusAccepted {
		t.Fatalf("create as B: %d %s; as C: %d %s", fromB.status, fromB.body, fromC.status, fromC.body)
	}
	var bTask, cTask taskView
	fromB.json(t, &bTask)
	fromC.json(t, &cTask)
	f.deliver(bTask.ID)
	// Four of A's share a creation time, so only the id orders them.
	same := []string{toB[0], toB[5], toC[0], toC[1]}
	if _, err := f.db.Pool.Exec(ctx, `UPDATE tasks SET created_at = '2026-01-05T09:00:00Z' WHERE id = ANY($1)`, same); err != nil {
		t.Fatal(err)
	}
	want := testdb.Strings(t, f.db.Pool, `SELECT id::text FROM tasks WHERE sender_ods = $1 ORDER BY created_at DESC, id DESC`, odsA)
	if !sameSet(want, append(append([]string{}, toB...), toC...)) {
		t.Fatalf("setup: A's tasks in the database %v, want %v and %v", want, toB, toC)
	}
	taskID := func(tv taskView) string { return tv.ID }
	for _, limit := range []string{"1", "2", "3", "7", "8", "200"} {
		got, pages := walk(t, f, f.keys[odsA], "/v1/tasks?limit="+limit, taskID)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("limit %s: sent ids over %d pages (-want +got):\n%s", limit, pages, diff)
		}
	}
	got, pages := walk(t, f, f.keys[odsA], "/v1/tasks", taskID)
	if len(got) != 8 || pages != 1 {
		t.Fatalf("default limit: %d items over %d pages", len(got), pages)
	}
	// inOrder keeps the ids of want that are in subset, in want's order.
	inOrder := func(subset ...string) []string {
		var out []string
		for _, id := range want {
			if slices.Contains(subset, id) {
				out = append(out, id)
			}
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"state=accepted", inOrder(toB[0], toB[5], toC[1])},
		{"state=delivered", inOrder(toB[1], toC[0])},
		{"state=acknowledged", inOrder(toB[2])},
		{"state=cancelled", inOrder(toB[3])},
		{"state=failed", inOrder(toB[4])},
		{"recipient_ods=" + odsC, inOrder(toC...)},
		{"recipient_ods=" + odsB, inOrder(toB...)},
		{"recipient_ods=" + odsB + "&state=accepted", inOrder(toB[0], toB[5])},
		{"state=delivered&recipient_ods=" + odsC, inOrder(toC[0])},
		{"state=failed&recipient_ods=" + odsC, nil},
		{"recipient_ods=" + odsA, nil}, // itself: never a recipient
		{"recipient_ods=" + odsZ, nil}, // left the federation
		{"recipient_ods=ABC123", nil},  // no such practice
	} {
		got, _ := walk(t, f, f.keys[odsA], "/v1/tasks?limit=2&"+tc.query, taskID)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.query, diff)
		}
	}
	// Each practice sees only what it sent.
	if got, _ := walk(t, f, f.keys[odsB], "/v1/tasks", taskID); !slices.Equal(got, []string{bTask.ID}) {
		t.Fatalf("B's sent tasks = %v, want only %s", got, bTask.ID)
	}
	if got, _ := walk(t, f, f.keys[odsC], "/v1/tasks?recipient_ods="+odsB, taskID); !slices.Equal(got, []string{cTask.ID}) {
		t.Fatalf("C's sent tasks = %v, want only %s", got, cTask.ID)
	}
	for _, tc := range []struct {
		name, key string
		status    int
	}{
		{"no key", "", http.StatusUnauthorized},
		{"unknown key", "gpfed_not-a-key", http.StatusUnauthorized},
		{"practice that left", f.keys[odsZ], http.StatusUnauthorized},
		{"admin key", f.keys["admin"], http.StatusForbidden},
	} {
		res := f.do("GET", "/v1/tasks", tc.key, "")
		if res.status != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.name, res.status, res.body, tc.status)
		}
		res.reason(t)
		if contains(string(res.body), nhsValid) || contains(string(res.body), toB[0]) {
			t.Fatalf("%s: answer leaks a task: %s", tc.name, res.body)
		}
	}
	var first pageView[taskView]
	f.do("GET", "/v1/tasks?limit=1&state=acknowledged", f.keys[odsA], "").json(t, &first)
	if len(first.Items) != 1 || first.NextCursor != nil {
		t.Fatalf("state=acknowledged page = %+v", first)
	}
	if it := first.Items[0]; it.ID != toB[2] || it.SenderODS != odsA || it.RecipientODS != odsB || it.State != "acknowledged" ||
		it.AcknowledgedAt == nil || it.PatientNHSNumber != nhsValid || it.Body != secretBody || it.Events != nil {
		t.Fatalf("sent item = %+v; want the full acknowledged task without its trail", it)
	}
	// The same JSON as the task read by id, less the trail.
	var byID map[string]any
	f.do("GET", "/v1/tasks/"+toB[2], f.keys[odsA], "").json(t, &byID)
	delete(byID, "events")
	var listed pageView[map[string]any]
	f.do("GET", "/v1/tasks?state=acknowledged", f.keys[odsA], "").json(t, &listed)
	if diff := cmp.Diff(byID, listed.Items[0]); diff != "" {
		t.Fatalf("list item differs from GET /v1/tasks/{id} (-byID +listed):\n%s", diff)
	}
	for _, secret := range []string{nhsValid, secretBody} {
		if contains(f.logs.String(), secret) {
			t.Fatalf("logs hold patient data %q", secret)
		}
	}
}

func TestListQueryErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	notesCursor := base64.RawURLEncoding.EncodeToString([]byte("notifications.1767603600000000." + uuid.NewString()))
	inboxCursor := base64.RawURLEncoding.EncodeToString([]byte("inbox.1767603600000000." + uuid.NewString()))
	sentCursor := base64.RawURLEncoding.EncodeToString([]byte("sent.1767603600000000." + uuid.NewString()))
	tests := []struct {
		name, path string
		wantReason string
	}{
		{name: "state not in the inbox", path: "/v1/inbox?state=accepted", wantReason: "state: must be delivered or acknowledged"},
		{name: "unknown state", path: "/v1/inbox?state=bogus", wantReason: "state: must be delivered or acknowledged"},
		{name: "limit zero", path: "/v1/inbox?limit=0", wantReason: "limit: must be a whole number from 1 to 200"},
		{name: "limit too big", path: "/v1/inbox?limit=201", wantReason: "limit: must be a whole number"},
		{name: "limit not a number", path: "/v1/notifications?limit=ten", wantReason: "limit"},
		{name: "malformed query string", path: "/v1/inbox?cursor=%%%", wantReason: "query string is malformed"},
		{name: "cursor not base64", path: "/v1/inbox?cursor=***", wantReason: "cursor: is not a cursor from this list"},
		{name: "cursor of another list", path: "/v1/inbox?cursor=" + notesCursor, wantReason: "cursor: is not a cursor from this list"},
		{name: "misspelt filter", path: "/v1/inbox?states=delivered", wantReason: "states: is not a parameter"},
		{name: "repeated parameter", path: "/v1/inbox?state=delivered&state=acknowledged", wantReason: "state: must be given at most once"},
		{name: "unacked not boolean", path: "/v1/notifications?unacked=yes", wantReason: "unacked: must be true or false"},
		{name: "state on notifications", path: "/v1/notifications?state=delivered", wantReason: "state: is not a parameter"},
		{name: "sent: unknown state", path: "/v1/tasks?state=bogus", wantReason: "state: must be accepted, delivered, acknowledged, failed or cancelled"},
		{name: "sent: state in capitals", path: "/v1/tasks?state=Delivered", wantReason: "state: must be accepted"},
		{name: "sent: empty state", path: "/v1/tasks?state=", wantReason: "state: must be accepted"},
		{name: "sent: limit zero", path: "/v1/tasks?limit=0", wantReason: "limit: must be a whole number from 1 to 200"},
		{name: "sent: limit too big", path: "/v1/tasks?limit=201", wantReason: "limit: must be a whole number"},
		{name: "sent: limit not a number", path: "/v1/tasks?limit=ten", wantReason: "limit: must be a whole number"},
		{name: "sent: cursor not base64", path: "/v1/tasks?cursor=***", wantReason: "cursor: is not a cursor from this list"},
		{name: "sent: inbox cursor", path: "/v1/tasks?cursor=" + inboxCursor, wantReason: "cursor: is not a cursor from this list"},
		{name: "inbox: sent cursor", path: "/v1/inbox?cursor=" + sentCursor, wantReason: "cursor: is not a cursor from this list"},
		{name: "sent: recipient lower case", path: "/v1/tasks?recipient_ods=b81016", wantReason: "recipient_ods: must be an ODS code"},
		{name: "sent: recipient too short", path: "/v1/tasks?recipient_ods=B8", wantReason: "recipient_ods: must be an ODS code"},
		{name: "sent: recipient too long", path: "/v1/tasks?recipient_ods=B810161234567", wantReason: "recipient_ods: must be an ODS code"},
		{name: "sent: recipient empty", path: "/v1/tasks?recipient_ods=", wantReason: "recipient_ods: must be an ODS code"},
		{name: "sent: recipient punctuation", path: "/v1/tasks?recipient_ods=B81016%27--", wantReason: "recipient_ods: must be an ODS code"},
		{name: "sent: repeated recipient", path: "/v1/tasks?recipient_ods=B81016&recipient_ods=M85015", wantReason: "recipient_ods: must be given at most once"},
		{name: "sent: misspelt filter", path: "/v1/tasks?recipient=B81016", wantReason: "recipient: is not a parameter"},
		{name: "recipient on the inbox", path: "/v1/inbox?recipient_ods=B81016", wantReason: "recipient_ods: is not a parameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := f.do("GET", tc.path, f.keys[odsB], "")
			if res.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; %s", res.status, res.body)
			}
			if reason := res.reason(t); !strings.Contains(reason, tc.wantReason) {
				t.Fatalf("reason %q lacks %q", reason, tc.wantReason)
			}
		})
	}
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	// Five notifications to A, one to C, made the way the delivery side makes them.
	var ids []string
	err := f.db.InTx(ctx, func(tx pgx.Tx) error {
		for i, ods := range []string{odsA, odsA, odsA, odsC, odsA, odsA} {
			id := uuid.New()
			if ods == odsA {
				ids = append(ids, id.String())
			}
			_, err := store.CreateNotificationTx(ctx, tx, store.Notification{ID: id, RecipientODS: ods, Kind: store.NotifySyncFailed,
				SubjectODS: odsB, Data: map[string]any{"run": i}})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	noteID := func(n struct {
		ID             string  `json:"id"`
		Kind           string  `json:"kind"`
		AcknowledgedAt *string `json:"acknowledged_at"`
	}) string {
		return n.ID
	}
	all, pages := walk(t, f, f.keys[odsA], "/v1/notifications?limit=2", noteID)
	if len(all) != 5 || pages != 3 || !sameSet(all, ids) {
		t.Fatalf("A's notifications %v over %d pages; want %v over 3", all, pages, ids)
	}
	res := f.do("POST", "/v1/notifications/"+ids[1]+"/ack", f.keys[odsA], "")
	if res.status != 200 {
		t.Fatalf("ack: %d %s", res.status, res.body)
	}
	var acked struct {
		ID             string  `json:"id"`
		Kind           string  `json:"kind"`
		SubjectODS     string  `json:"subject_ods"`
		AcknowledgedAt *string `json:"acknowledged_at"`
	}
	res.json(t, &acked)
	if acked.ID != ids[1] || acked.Kind != "sync.failed" || acked.SubjectODS != odsB || acked.AcknowledgedAt == nil {
		t.Fatalf("acked notification = %+v", acked)
	}
	var again struct {
		AcknowledgedAt *string `json:"acknowledged_at"`
	}
	f.do("POST", "/v1/notifications/"+ids[1]+"/ack", f.keys[odsA], "").json(t, &again)
	if again.AcknowledgedAt == nil || *again.AcknowledgedAt != *acked.AcknowledgedAt {
		t.Fatalf("second ack moved acknowledged_at: %v then %v", acked.AcknowledgedAt, again.AcknowledgedAt)
	}
	unacked, _ := walk(t, f, f.keys[odsA], "/v1/notifications?unacked=true&limit=3", noteID)
	if len(unacked) != 4 || contains(strings.Join(unacked, ","), ids[1]) {
		t.Fatalf("unacked = %v; want the 4 others", unacked)
	}
	for _, tc := range []struct {
		name, ods, id string
	}{
		{"another practice's notification", odsC, ids[0]},
		{"no such notification", odsA, uuid.NewString()},
		{"malformed id", odsA, "42"},
	} {
		res := f.do("POST", "/v1/notifications/"+tc.id+"/ack", f.keys[tc.ods], "")
		if res.status != 404 || !strings.Contains(res.reason(t), "no notification with this id") {
			t.Fatalf("%s: %d %s, want 404", tc.name, res.status, res.body)
		}
	}
	cNotes, _ := walk(t, f, f.keys[odsC], "/v1/notifications", noteID)
	if len(cNotes) != 1 {
		t.Fatalf("C sees %d notifications, want its 1", len(cNotes))
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		if m[s] == 0 {
			return false
		}
		m[s]--
	}
	return true
}
