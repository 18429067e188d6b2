package api_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
)

// accessRow is an access_log row as the tests read it, with every column
// as text for the patient-data scan.
type accessRow struct {
	ID        int64
	Action    string
	Role      string
	ODS       string
	KeyID     string
	KeyPrefix string
	Resources []string
	Status    int
	Reason    string
	Remote    string
	All       string // every column, for scanning
}

func (f *fixture) accessSince(after int64) []accessRow {
	f.t.Helper()
	return accessRowsSince(f.t, f.db, after)
}

func (f *fixture) lastAccessID() int64 { f.t.Helper(); return lastAccessID(f.t, f.db) }

// accessRowsSince reads the access records written after id after.
func accessRowsSince(t *testing.T, db *store.DB, after int64) []accessRow {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT id, action, actor_role, COALESCE(ods_code, ''),
		COALESCE(api_key_id::text, ''), key_prefix, resource_ids, status, reason, remote_addr, access_log::text
		FROM access_log WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []accessRow
	for rows.Next() {
		var r accessRow
		if err := rows.Scan(&r.ID, &r.Action, &r.Role, &r.ODS, &r.KeyID, &r.KeyPrefix, &r.Resources, &r.Status, &r.Reason,
			&r.Remote, &r.All); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func lastAccessID(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var id int64
	if err := db.Pool.QueryRow(context.Background(), `SELECT COALESCE(max(id), 0) FROM access_log`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) keyOf(raw string) store.APIKey {
	f.t.Helper()
	k, err := f.db.AuthenticateAPIKey(context.Background(), raw)
	if err != nil {
		f.t.Fatal(err)
	}
	return k
}

// patientData is every piece of clinical content the tests send.
var patientData = []string{nhsValid, nhsValid2, "965 821 8873", secretBody, "Please review bloods", "chest pain"}

// Issue 10, finding 3: reads of patient data left no trace and the trail
// named the practice, not the key. Every endpoint now leaves exactly one
// access record per request: the right action, practice and key id, the
// resource ids, the status, the caller's address, and no patient data.
func TestAccessAuditOneRecordPerRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b, admin := f.keyOf(f.keys[odsA]), f.keyOf(f.keys[odsB]), f.keyOf(f.keys["admin"])
	tk := f.create()
	f.deliver(tk.ID)
	toCancel := f.create(set("subject", "to cancel"))
	var note string
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT id::text FROM notifications WHERE recipient_ods = $1 LIMIT 1`, odsA).Scan(&note); err != nil {
		note = f.notification(odsA)
	}
	for _, c := range []struct {
		name, method, path, raw, body string
		key                           store.APIKey
		action                        string
		status                        int
		resources                     []string // nil: any
	}{
		{"create", "POST", "/v1/tasks", f.keys[odsA], taskBody(set("subject", "third")), a, "task.create", 202, nil},
		{"read as sender", "GET", "/v1/tasks/" + tk.ID, f.keys[odsA], "", a, "task.read", 200, []string{tk.ID}},
		{"read as recipient", "GET", "/v1/tasks/" + tk.ID, f.keys[odsB], "", b, "task.read", 200, []string{tk.ID}},
		{"read by a bystander", "GET", "/v1/tasks/" + tk.ID, f.keys[odsC], "", f.keyOf(f.keys[odsC]), "task.read", 404, []string{tk.ID}},
		{"sent list", "GET", "/v1/tasks?limit=200", f.keys[odsA], "", a, "task.list_sent", 200, nil},
		{"inbox", "GET", "/v1/inbox", f.keys[odsB], "", b, "task.list_inbox", 200, []string{tk.ID}},
		{"ack", "POST", "/v1/tasks/" + tk.ID + "/ack", f.keys[odsB], "", b, "task.ack", 200, []string{tk.ID}},
		{"cancel", "POST", "/v1/tasks/" + toCancel.ID + "/cancel", f.keys[odsA], "", a, "task.cancel", 200, []string{toCancel.ID}},
		{"notifications", "GET", "/v1/notifications", f.keys[odsA], "", a, "notification.list", 200, nil},
		{"notification ack", "POST", "/v1/notifications/" + note + "/ack", f.keys[odsA], "", a, "notification.ack", 200, []string{note}},
		{"admin capacity", "GET", "/v1/capacity?from=2030-01-01&to=2030-01-02", f.keys["admin"], "", admin, "capacity.read", 200, []string{}},
		{"admin practices", "GET", "/v1/practices", f.keys["admin"], "", admin, "practice.list", 200, []string{}},
		{"admin audit", "GET", "/v1/audit?limit=5", f.keys["admin"], "", admin, "audit.read", 200, []string{}},
		{"wrong role", "GET", "/v1/practices", f.keys[odsA], "", a, "auth.failed", 403, []string{}},
		{"missing key", "GET", "/v1/inbox", "", "", store.APIKey{Role: store.ActorAnonymous}, "auth.failed", 401, []string{}},
		{"unknown key", "GET", "/v1/tasks/" + tk.ID, "gpfed_Unknown0000000000000000000000000000000000", "",
			store.APIKey{Role: store.ActorAnonymous, Prefix: "gpfed_Unknow"}, "auth.failed", 401, []string{}},
		{"not a gpfed key", "GET", "/v1/inbox", nhsValid, "", store.APIKey{Role: store.ActorAnonymous}, "auth.failed", 401, []string{}},
		{"revoked practice (Z left)", "GET", "/v1/inbox", f.keys[odsZ], "", store.APIKey{Role: store.ActorAnonymous,
			Prefix: f.keys[odsZ][:12]}, "auth.failed", 401, []string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := f.lastAccessID()
			res := f.do(c.method, c.path, c.raw, c.body, "X-Forwarded-For", "=cmd|' /C calc'!A0")
			if res.status != c.status {
				t.Fatalf("status %d, want %d: %s", res.status, c.status, res.body)
			}
			rows := f.accessSince(before)
			if len(rows) != 1 {
				t.Fatalf("%d access records, want exactly 1: %+v", len(rows), rows)
			}
			r := rows[0]
			wantKey := ""
			if c.key.ID != uuid.Nil {
				wantKey = c.key.ID.String()
			}
			if r.Action != c.action || r.Status != c.status || r.KeyID != wantKey || r.ODS != c.key.ODSCode ||
				r.Role != c.key.Role || r.KeyPrefix != c.key.Prefix || r.Remote != "127.0.0.1" {
				t.Fatalf("record %+v, want action %s status %d key %q ods %q role %s prefix %q from 127.0.0.1",
					r, c.action, c.status, wantKey, c.key.ODSCode, c.key.Role, c.key.Prefix)
			}
			if c.resources != nil && !slices.Equal(r.Resources, c.resources) {
				t.Fatalf("resources %v, want %v", r.Resources, c.resources)
			}
			for _, p := range patientData {
				if strings.Contains(r.All, p) {
					t.Fatalf("access record holds patient data %q: %s", p, r.All)
				}
			}
		})
	}
	checkListResources(t, f, a)
}

// checkListResources: a list's record names every item it returned, and
// a create's record names the created task.
func checkListResources(t *testing.T, f *fixture, a store.APIKey) {
	t.Helper()
	before := f.lastAccessID()
	res := f.do("GET", "/v1/tasks", f.keys[odsA], "")
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	res.json(t, &page)
	var ids []string
	for _, it := range page.Items {
		ids = append(ids, it.ID)
	}
	rows := f.accessSince(before)
	if len(rows) != 1 || len(ids) < 3 || !slices.Equal(rows[0].Resources, ids) {
		t.Fatalf("list record resources %v, want the %d ids returned %v", rows, len(ids), ids)
	}
	before = f.lastAccessID()
	created := f.create(set("subject", "fourth"))
	if rows := f.accessSince(before); len(rows) != 1 || !slices.Equal(rows[0].Resources, []string{created.ID}) {
		t.Fatalf("create record %+v, want resource %s", rows, created.ID)
	}
}

// notification makes one notification for ods and returns its id.
func (f *fixture) notification(ods string) string {
	f.t.Helper()
	id := uuid.New()
	f.exec(`INSERT INTO notifications (id, recipient_ods, kind, state, channel, attempts, created_at, expires_at)
		VALUES ($1, $2, 'sync.failed', 'delivered', 'feed', 1, now(), now() + interval '1 day')`, id, ods)
	return id.String()
}

// No audit, no access: when the access record cannot be written, a read
// releases nothing (503), a new task is not stored (its record commits with
// it), and a change that already committed still answers.
func TestAccessAuditFailureReleasesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tk := f.create()
	f.exec(`ALTER TABLE access_log RENAME TO access_log_gone`)
	res := f.do("GET", "/v1/tasks/"+tk.ID, f.keys[odsA], "")
	if res.status != http.StatusServiceUnavailable || contains(string(res.body), nhsValid) || contains(string(res.body), secretBody) {
		t.Fatalf("read without its record: %d %s", res.status, res.body)
	}
	if res := f.do("GET", "/v1/inbox", f.keys[odsB], ""); res.status != http.StatusServiceUnavailable {
		t.Fatalf("list without its record: %d", res.status)
	}
	// A read that releases nothing keeps its own answer.
	if res := f.do("GET", "/v1/tasks/"+uuid.NewString(), f.keys[odsA], ""); res.status != http.StatusNotFound {
		t.Fatalf("read of no task without its record: %d %s, want 404", res.status, res.body)
	}
	before := f.counts()
	if res := f.do("POST", "/v1/tasks", f.keys[odsA], taskBody(set("subject", "not without its record"))); res.status < 500 {
		t.Fatalf("create without its record: %d %s", res.status, res.body)
	}
	if after := f.counts(); after != before {
		t.Fatalf("a task was stored without its access record: tasks, events, queue, notifications %v, want %v", after, before)
	}
	if res := f.do("POST", "/v1/tasks/"+tk.ID+"/cancel", f.keys[odsA], ""); res.status != http.StatusOK {
		t.Fatalf("cancel (committed, its record lost): %d %s", res.status, res.body)
	}
	if !contains(f.logs.String(), "access record not written") {
		t.Fatal("the lost record was not logged")
	}
}

// The admin's view: filters, paging and the CSV an IG review receives.
func TestAuditEndpointFiltersAndCSV(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.keyOf(f.keys[odsA])
	tk := f.create()
	f.do("GET", "/v1/tasks/"+tk.ID, f.keys[odsA], "")
	f.do("GET", "/v1/tasks/"+tk.ID, f.keys[odsB], "")
	f.do("GET", "/v1/inbox", "gpfed_wrongwrongwrongwrongwrongwrongwrongwrongwro", "", "X-Forwarded-For", "=HYPERLINK(\"http://evil\")")
	admin := f.keys["admin"]
	count := func(q string) int {
		t.Helper()
		res := f.do("GET", "/v1/audit?"+q, admin, "")
		if res.status != http.StatusOK {
			t.Fatalf("audit?%s: %d %s", q, res.status, res.body)
		}
		var page struct {
			Items []map[string]any `json:"items"`
		}
		res.json(t, &page)
		return len(page.Items)
	}
	for q, want := range map[string]int{
		"resource=" + tk.ID:                          3, // create, two reads
		"resource=" + tk.ID + "&practice=B81016":     1,
		"key=" + a.ID.String() + "&action=task.read": 1,
		"failures=true":                              1,
		"action=auth.failed":                         1,
		"from=2000-01-01&to=2000-01-02":              0,
	} {
		if got := count(q); got != want {
			t.Errorf("audit?%s: %d records, want %d", q, got, want)
		}
	}
	for _, bad := range []string{"practice=bad!", "key=nope", "action=DROP TABLE", "from=yesterday", "failures=maybe", "limit=0",
		"cursor=forged", "nhs_number=9658218873", "format=xml"} {
		if res := f.do("GET", "/v1/audit?"+bad, admin, ""); res.status != http.StatusBadRequest {
			t.Errorf("audit?%s: %d, want 400", bad, res.status)
		}
	}
	res := f.do("GET", "/v1/audit?limit=2", admin, "")
	var page struct {
		NextCursor *string `json:"next_cursor"`
	}
	res.json(t, &page)
	if page.NextCursor == nil || count("limit=2&cursor="+url.QueryEscape(*page.NextCursor)) != 2 {
		t.Fatalf("paging: %s", res.body)
	}
	res = f.do("GET", "/v1/audit", admin, "", "Accept", "text/csv")
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV: %d %v", res.status, res.header)
	}
	recs, err := csv.NewReader(strings.NewReader(string(res.body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != "id,at,actor_role,ods_code,api_key_id,key_prefix,action,method,route,resource_ids,status,reason,remote_addr,forwarded_for" {
		t.Fatalf("CSV header %v", recs[0])
	}
	if len(recs) < 7 { // create, two reads, a failure, three audit reads, ...
		t.Fatalf("CSV has %d rows", len(recs)-1)
	}
	for _, r := range recs[1:] {
		if xff := r[13]; xff != "" && !strings.HasPrefix(xff, "'") {
			t.Errorf("a formula reached the CSV unquoted: %q", xff)
		}
		for _, p := range patientData {
			if strings.Contains(strings.Join(r, ","), p) {
				t.Errorf("CSV row holds patient data: %v", r)
			}
		}
	}
	if csvRes := f.do("GET", "/v1/audit?format=csv&action=task.read", admin, ""); strings.Count(string(csvRes.body), "\n") != 3 {
		t.Errorf("filtered CSV: %s", csvRes.body)
	}
}

// Dashboard sign-ins, refused and accepted, and sign-outs are on record.
func TestDashboardLoginAudited(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	try := func(key string) {
		cookie, tok := e.loginForm()
		e.postForm("/login", url.Values{"csrf_token": {tok}, "api_key": {key}, "next": {"/"}}, "Cookie", cookie, "Origin", e.url)
	}
	try("gpfed_NotAKey000000000000000000000000000000000")
	try(e.practice)
	session, tok := e.login(e.admin)
	e.postForm("/logout", url.Values{"csrf_token": {tok}}, "Cookie", session, "Origin", e.url)
	rows, err := e.db.Pool.Query(context.Background(), `SELECT action, actor_role, reason, status, key_prefix <> '' FROM access_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var action, role, reason string
		var status int
		var prefix bool
		if err := rows.Scan(&action, &role, &reason, &status, &prefix); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{action, role, reason, http.StatusText(status), map[bool]string{true: "prefix"}[prefix]}, " "))
	}
	want := []string{
		"auth.failed anonymous unknown_key Unauthorized prefix",
		"auth.failed practice wrong_role Forbidden prefix",
		"dashboard.login admin  See Other prefix",
		"dashboard.logout admin  See Other prefix",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
