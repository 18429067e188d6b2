package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/store"
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
	var want []string
	rows, err := f.db.Pool.Query(ctx, `SELECT id::text FROM tasks WHERE recipient_ods = $1 AND state IN ('delivered', 'acknowledged')
		ORDER BY created_at DESC, id DESC`, odsB)
	if err != nil {
		t.Fatal(err)
	}
	want, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
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

func TestListQueryErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	notesCursor := base64.RawURLEncoding.EncodeToString([]byte("notifications.1767603600000000." + uuid.NewString()))
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
