package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/store"
)

var noRedirect = &http.Client{Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (e *opsEnv) do(method, path, key string, body io.Reader, headers ...string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Cookie" {
			req.Header.Add("Cookie", headers[i+1])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res, string(b)
}

type opsProblem struct {
	Status int               `json:"status"`
	Detail string            `json:"detail"`
	Errors map[string]string `json:"errors"`
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, body)
	}
	return v
}

func TestAdminAPIAuth(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	paths := []string{"/v1/capacity", "/v1/practices", "/v1/sync-runs", "/v1/sync-runs/3"}
	cases := []struct {
		name string
		key  string
		want int
	}{
		{"no key", "", http.StatusUnauthorized},
		{"garbage key", "not-a-key", http.StatusUnauthorized},
		{"unknown key", "gpfed_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", http.StatusUnauthorized},
		{"revoked admin key", e.revoked, http.StatusUnauthorized},
		{"practice key", e.practice, http.StatusForbidden},
		{"admin key", e.admin, http.StatusOK},
	}
	for _, tc := range cases {
		for _, p := range paths {
			t.Run(tc.name+" "+p, func(t *testing.T) {
				res, body := e.get(p, tc.key)
				if res.StatusCode != tc.want {
					t.Fatalf("status = %d, want %d: %s", res.StatusCode, tc.want, body)
				}
				if tc.want != http.StatusOK && res.Header.Get("Content-Type") != "application/problem+json" {
					t.Errorf("content type = %q, want problem+json", res.Header.Get("Content-Type"))
				}
			})
		}
	}
}

func TestCapacityAPIJSON(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	t.Run("default range is 28 days from today, active practices only", func(t *testing.T) {
		res, body := e.get("/v1/capacity", e.admin)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", res.StatusCode, body)
		}
		rows := decode[[]store.CapacityRow](t, body)
		want := 0
		for _, ods := range []string{odsAbbey, odsBrook, odsCastle} {
			want += len(e.minutes[ods])
		}
		if len(rows) != want {
			t.Fatalf("got %d rows, want %d", len(rows), want)
		}
		for _, r := range rows {
			if r.Date < "2026-11-23" || r.Date > "2026-12-20" {
				t.Errorf("row outside default range: %+v", r)
			}
			if r.FreeMinutes != e.minutes[r.ODSCode][r.Date] || r.FreeSlots != e.slots[r.ODSCode][r.Date] {
				t.Errorf("%s %s: got %d min/%d slots, want %d/%d", r.ODSCode, r.Date, r.FreeMinutes, r.FreeSlots,
					e.minutes[r.ODSCode][r.Date], e.slots[r.ODSCode][r.Date])
			}
		}
	})
	t.Run("practice and role filters", func(t *testing.T) {
		res, body := e.get("/v1/capacity?from=2026-11-24&to=2026-11-25&practice=a81001&practice=B82002&role=R0260", e.admin)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", res.StatusCode, body)
		}
		var got []string
		for _, r := range decode[[]store.CapacityRow](t, body) {
			if r.FreeMinutes != e.roleMinutes[r.ODSCode][r.Date] {
				t.Errorf("%s %s: %d GP minutes, want %d", r.ODSCode, r.Date, r.FreeMinutes, e.roleMinutes[r.ODSCode][r.Date])
			}
			got = append(got, r.ODSCode+" "+r.Date)
		}
		want := []string{"A81001 2026-11-24", "A81001 2026-11-25", "B82002 2026-11-24", "B82002 2026-11-25"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})
}

func TestCapacityAPICSV(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	res, body := e.get("/v1/capacity?from=2026-11-23&to=2026-11-24&practice=B82002", e.admin, "Accept", "text/csv")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	// Brook: day 0 has 6 slots (k%3==1 -> nurse/telephone: k=1,4), day 1 has 7 (k=1,4).
	// The columns are fixed (no Video slots here, still a Video column).
	want := "ods_code,practice_name,date,free_slots,free_minutes,by_delivery_channel.In-person,by_delivery_channel.Telephone," +
		"by_delivery_channel.Video,by_delivery_channel.unspecified,by_delivery_channel.other,by_role\n" +
		"B82002,Brook Lane Surgery,2026-11-23,6,70,4,2,0,0,0,R0260=4;R0620=2\n" +
		"B82002,Brook Lane Surgery,2026-11-24,7,80,5,2,0,0,0,R0260=5;R0620=2\n"
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("csv (-want +got):\n%s", diff)
	}
}

func TestCapacityAPIBadParameters(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	cases := []struct {
		name, query, accept string
		status              int
		field, reason       string
	}{
		{"bad from", "from=23/11/2026", "", 400, "from", "YYYY-MM-DD"},
		{"impossible date", "from=2026-02-30", "", 400, "from", "YYYY-MM-DD"},
		{"bad to", "from=2026-11-23&to=tomorrow", "", 400, "to", "YYYY-MM-DD"},
		{"to before from", "from=2026-11-23&to=2026-11-22", "", 400, "to", "must not be before from"},
		{"range too long", "from=2026-01-01&to=2027-01-02", "", 400, "to", "at most 366"},
		{"repeated from", "from=2026-11-23&from=2026-11-24", "", 400, "from", "at most once"},
		{"unknown parameter", "practices=A81001", "", 400, "practices", "unknown parameter"},
		{"malformed practice", "practice=A8-1001", "", 400, "practice", "not an ODS code"},
		{"unknown practice", "practice=X12345", "", 400, "practice", "not an active federation member: X12345"},
		{"practice that left", "practice=" + odsZed, "", 400, "practice", "not an active federation member"},
		{"oversize role", "role=" + strings.Repeat("R", 65), "", 400, "role", "at most 64"},
		{"unacceptable format", "", "application/xml", 406, "", "application/json or text/csv"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var headers []string
			if tc.accept != "" {
				headers = []string{"Accept", tc.accept}
			}
			res, body := e.get("/v1/capacity?"+tc.query, e.admin, headers...)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			p := decode[opsProblem](t, body)
			reason := p.Detail
			if tc.field != "" {
				reason = p.Errors[tc.field]
			}
			if !strings.Contains(reason, tc.reason) {
				t.Errorf("reason for %q = %q, want it to contain %q (problem %+v)", tc.field, reason, tc.reason, p)
			}
		})
	}
}

func TestPracticesAPI(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	type errJSON struct {
		HTTPStatus  *int   `json:"http_status"`
		SpineCode   string `json:"spine_code"`
		Diagnostics string `json:"diagnostics"`
	}
	type pj struct {
		ODSCode string `json:"ods_code"`
		Active  bool   `json:"active"`
		Sync    struct {
			Status        string     `json:"status"`
			LastSuccessAt *time.Time `json:"last_success_at"`
			StaleSince    *time.Time `json:"stale_since"`
			LastError     *errJSON   `json:"last_error"`
		} `json:"sync"`
		Delivery struct {
			Circuit             string     `json:"circuit"`
			ConsecutiveFailures int        `json:"consecutive_failures"`
			NextProbeAt         *time.Time `json:"next_probe_at"`
			LastStatus          *int       `json:"last_status"`
			InFlight            int        `json:"in_flight"`
			Queued              int        `json:"queued"`
		} `json:"delivery"`
	}
	res, body := e.get("/v1/practices", e.admin)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	got := map[string]pj{}
	var order []string
	for _, p := range decode[[]pj](t, body) {
		got[p.ODSCode] = p
		order = append(order, p.ODSCode+":"+p.Sync.Status)
	}
	if diff := cmp.Diff([]string{"A81001:ok", "B82002:ok", "C83003:stale", "D84004:never"}, order); diff != "" {
		t.Errorf("practices (-want +got):\n%s", diff)
	}
	c := got[odsCastle]
	status := 403
	wantErr := &errJSON{HTTPStatus: &status, SpineCode: "ACCESS_DENIED", Diagnostics: "ASID not authorised for Slot search"}
	if diff := cmp.Diff(wantErr, c.Sync.LastError); diff != "" {
		t.Errorf("castle last_error (-want +got):\n%s", diff)
	}
	if c.Sync.StaleSince == nil || !c.Sync.StaleSince.Equal(time.Date(2026, 11, 22, 2, 0, 30, 0, time.UTC)) {
		t.Errorf("castle stale_since = %v", c.Sync.StaleSince)
	}
	if c.Sync.LastSuccessAt == nil || got[odsAbbey].Sync.LastError != nil {
		t.Errorf("abbey/castle success fields wrong: %+v %+v", got[odsAbbey], c)
	}
	b := got[odsBrook].Delivery
	if b.Circuit != "open" || b.ConsecutiveFailures != 7 || b.LastStatus == nil || *b.LastStatus != 503 || b.Queued != 3 ||
		b.NextProbeAt == nil || !b.NextProbeAt.Equal(seedNow.Add(5*time.Minute)) {
		t.Errorf("brook delivery = %+v; want its open circuit and 3 waiting", b)
	}
	if a := got[odsAbbey].Delivery; a.Circuit != "closed" || a.Queued != 1 || a.NextProbeAt != nil { // its pending notification
		t.Errorf("abbey delivery = %+v", a)
	}

	_, body = e.get("/v1/practices?include_inactive=true", e.admin)
	if n := len(decode[[]pj](t, body)); n != 5 {
		t.Errorf("include_inactive: %d practices, want 5", n)
	}
	res, body = e.get("/v1/practices?include_inactive=maybe", e.admin)
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "true or false") {
		t.Errorf("bad include_inactive: %d %s", res.StatusCode, body)
	}
}

func TestSyncRunsAPI(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	type page struct {
		Items      []store.SyncRun `json:"items"`
		NextBefore int64           `json:"next_before"`
	}
	res, body := e.get("/v1/sync-runs?limit=2", e.admin)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	p1 := decode[page](t, body)
	if len(p1.Items) != 2 || p1.Items[0].ID != 3 || p1.Items[1].ID != 2 || p1.NextBefore != 2 {
		t.Fatalf("first page = %+v", p1)
	}
	if got := res.Header.Get("Link"); got != `</v1/sync-runs?limit=2&before=2>; rel="next"` {
		t.Errorf("Link = %q", got)
	}
	r3 := p1.Items[0]
	if r3.PracticesOK != 2 || r3.PracticesFailed != 1 || r3.SlotsTotal != 515 || r3.Trigger != "manual" {
		t.Errorf("run 3 counts = %+v", r3)
	}
	_, body = e.get("/v1/sync-runs?limit=2&before=2", e.admin)
	if p2 := decode[page](t, body); len(p2.Items) != 1 || p2.Items[0].ID != 1 || p2.NextBefore != 0 {
		t.Errorf("second page = %+v", p2)
	}

	for name, q := range map[string]string{"limit zero": "limit=0", "limit huge": "limit=1000",
		"limit text": "limit=ten", "before negative": "before=-1", "unknown": "page=2"} {
		t.Run(name, func(t *testing.T) {
			if res, body := e.get("/v1/sync-runs?"+q, e.admin); res.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d: %s", res.StatusCode, body)
			}
		})
	}
}

func TestSyncRunAPI(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	type outcome struct {
		ODSCode string `json:"ods_code"`
		Status  string `json:"status"`
		Slots   *int   `json:"slots"`
		Error   *struct {
			HTTPStatus *int   `json:"http_status"`
			SpineCode  string `json:"spine_code"`
		} `json:"error"`
	}
	type run struct {
		ID        int64     `json:"id"`
		Status    string    `json:"status"`
		Practices []outcome `json:"practices"`
	}
	res, body := e.get("/v1/sync-runs/2", e.admin)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	r := decode[run](t, body)
	var got []string
	for _, o := range r.Practices {
		got = append(got, o.ODSCode+":"+o.Status)
	}
	if diff := cmp.Diff([]string{"C83003:failed", "A81001:ok", "B82002:ok"}, got); diff != "" {
		t.Errorf("outcomes, failed first (-want +got):\n%s", diff)
	}
	if e := r.Practices[0].Error; e == nil || e.HTTPStatus == nil || *e.HTTPStatus != 503 || e.SpineCode != "INTERNAL_SERVER_ERROR" {
		t.Errorf("failed outcome error = %+v", r.Practices[0].Error)
	}
	if r.Practices[1].Error != nil || r.Practices[1].Slots == nil || *r.Practices[1].Slots != 300 {
		t.Errorf("ok outcome = %+v", r.Practices[1])
	}
	cases := []struct {
		path   string
		status int
	}{
		{"/v1/sync-runs/999", http.StatusNotFound},
		{"/v1/sync-runs/abc", http.StatusBadRequest},
		{"/v1/sync-runs/0", http.StatusBadRequest},
		{"/v1/sync-runs/99999999999999999999", http.StatusBadRequest},
	}
	for _, tc := range cases {
		if res, body := e.get(tc.path, e.admin); res.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.path, res.StatusCode, tc.status, body)
		}
	}
}
