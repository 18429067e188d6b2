package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/api"
	"github.com/gpfed/gpfed/internal/secret"
	"github.com/gpfed/gpfed/internal/store"
)

// Issue 10, finding 1: /login?next=/%09/evil.example/ redirected to
// "/<TAB>/evil.example/", which Chromium follows off-site. Every way of
// smuggling a second slash, a backslash or a scheme now lands on "/",
// whether next comes with the form (POST) or the query (GET, signed in).
func TestLoginRedirectVariants(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	session, _ := e.login(e.admin)
	for _, c := range []struct{ next, want string }{
		{"/\t/evil.example/", "/"},
		{"/\n/evil.example/", "/"},
		{"/\r\n/evil.example/", "/"},
		{"\t//evil.example/", "/"},
		{"/ /evil.example/", "/"},
		{"/\x00/evil.example/", "/"},
		{"//evil.example/", "/"},
		{"///evil.example/", "/"},
		{"/\\evil.example/", "/"},
		{"/\\/evil.example/", "/"},
		{"\\\\evil.example/", "/"},
		{"/%2F/evil.example/", "/"},
		{"/%2f%2fevil.example/", "/"},
		{"/%5Cevil.example/", "/"},
		{"/%5c%5cevil.example/", "/"},
		{"/%252F/evil.example/", "/"},
		{"/%25252F/evil.example/", "/"},
		{"/%09/evil.example/", "/"},
		{"/%0a/evil.example/", "/"},
		{"https://evil.example/", "/"},
		{"http:evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"evil.example", "/"},
		{"/\u3000/evil.example", "/"},
		{"/login?next=//evil.example", "/"},
		{"", "/"},
		{"/sync", "/sync"},
		{"/practices/A81001", "/practices/A81001"},
		{"/?role=R0260&channel=Face%20to%20face", "/?role=R0260&channel=Face%20to%20face"},
	} {
		t.Run(strconv.Quote(c.next), func(t *testing.T) {
			cookie, tok := e.loginForm()
			res, _ := e.postForm("/login", url.Values{"csrf_token": {tok}, "api_key": {e.admin}, "next": {c.next}}, "Cookie", cookie)
			if got := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || got != c.want {
				t.Errorf("POST: %d Location %q, want %q", res.StatusCode, got, c.want)
			}
			res, _ = e.get("/login?"+url.Values{"next": {c.next}}.Encode(), "", "Cookie", session)
			if got := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || got != c.want {
				t.Errorf("GET signed in: %d Location %q, want %q", res.StatusCode, got, c.want)
			}
		})
	}
}

// Issue 10, finding 5: API responses with patient data lacked
// Cache-Control: no-store and nosniff, unknown routes answered text/plain,
// and /metrics and /readyz were on the public listener. Each header on
// each kind of response, and the listeners' split.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tk := f.create()
	want := map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
		"Referrer-Policy": "no-referrer"}
	for _, c := range []struct {
		name, method, path, key, body string
		status                        int
		ctype                         string
	}{
		{"create", "POST", "/v1/tasks", f.keys[odsA], taskBody(set("subject", "second")), 202, "application/json"},
		{"read", "GET", "/v1/tasks/" + tk.ID, f.keys[odsA], "", 200, "application/json"},
		{"sent list", "GET", "/v1/tasks", f.keys[odsA], "", 200, "application/json"},
		{"inbox", "GET", "/v1/inbox", f.keys[odsB], "", 200, "application/json"},
		{"notifications", "GET", "/v1/notifications", f.keys[odsA], "", 200, "application/json"},
		{"validation error", "POST", "/v1/tasks", f.keys[odsA], taskBody(set("subject", "")), 422, "application/problem+json"},
		{"no key", "GET", "/v1/inbox", "", "", 401, "application/problem+json"},
		{"unknown route", "GET", "/v1/taskz", f.keys[odsA], "", 404, "application/problem+json"},
		{"unknown route, no key", "GET", "/wp-admin/", "", "", 404, "application/problem+json"},
		{"metrics not public", "GET", "/metrics", "", "", 404, "application/problem+json"},
		{"readiness not public", "GET", "/readyz", "", "", 404, "application/problem+json"},
		{"liveness", "GET", "/healthz", "", "", 200, "application/json"},
		{"login page", "GET", "/login", "", "", 200, "text/html; charset=utf-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := f.do(c.method, c.path, c.key, c.body)
			if res.status != c.status || res.header.Get("Content-Type") != c.ctype {
				t.Fatalf("%d %s, want %d %s: %s", res.status, res.header.Get("Content-Type"), c.status, c.ctype, res.body)
			}
			for h, v := range want {
				if got := res.header.Get(h); got != v {
					t.Errorf("%s = %q, want %q", h, got, v)
				}
			}
			if res.header.Get("Content-Security-Policy") == "" {
				t.Error("no Content-Security-Policy")
			}
		})
	}
	e := newOpsEnv(t)
	for _, p := range []string{"/metrics", "/readyz", "/healthz"} {
		if res, _ := e.opsGet(p); res.StatusCode != http.StatusOK {
			t.Errorf("ops listener %s: %d", p, res.StatusCode)
		}
	}
}

// Issue 10, finding 5: no idle timeout. A session unused for longer than
// SessionIdle ends; one in use is kept alive.
func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t, func(s *api.Server) { s.SessionIdle = 10 * time.Minute })
	session, _ := e.login(e.admin)
	if res, _ := e.get("/sync", "", "Cookie", session); res.StatusCode != http.StatusOK {
		t.Fatalf("fresh session: %d", res.StatusCode)
	}
	e.exec(context.Background(), `UPDATE dashboard_sessions SET last_seen_at = now() - interval '9 minutes'`)
	if res, _ := e.get("/sync", "", "Cookie", session); res.StatusCode != http.StatusOK {
		t.Fatalf("session used 9 minutes ago: %d", res.StatusCode)
	}
	var idle float64
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT extract(epoch FROM now() - last_seen_at) FROM dashboard_sessions`).Scan(&idle); err != nil || idle > 5 {
		t.Fatalf("using the session did not mark it used (idle %.0fs, %v)", idle, err)
	}
	e.exec(context.Background(), `UPDATE dashboard_sessions SET last_seen_at = now() - interval '11 minutes'`)
	res, _ := e.get("/sync", "", "Cookie", session)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("idle session still works: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

// Issue 10, finding 5: well-formed forged cursors were accepted although
// the docs promise 400. Cursors are now signed and bound to the practice.
func TestForgedCursorsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for range 3 {
		f.create()
	}
	res := f.do("GET", "/v1/tasks?limit=1", f.keys[odsA], "")
	var page struct {
		NextCursor *string `json:"next_cursor"`
	}
	res.json(t, &page)
	if page.NextCursor == nil {
		t.Fatal("no next_cursor")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(*page.NextCursor)
	parts := strings.Split(string(raw), ".")
	forge := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, c := range map[string]struct {
		key, path string
	}{
		"old unsigned format":     {f.keys[odsA], "/v1/tasks?cursor=" + forge("sent."+strconv.FormatInt(time.Now().UnixMicro(), 10)+"."+uuid.NewString())},
		"signature of another id": {f.keys[odsA], "/v1/tasks?cursor=" + forge(parts[0]+"."+parts[1]+"."+uuid.NewString()+"."+parts[3])},
		"moved in time":           {f.keys[odsA], "/v1/tasks?cursor=" + forge(parts[0]+".1."+parts[2]+"."+parts[3])},
		"another practice's":      {f.keys[odsB], "/v1/tasks?cursor=" + *page.NextCursor},
		"another list's":          {f.keys[odsA], "/v1/inbox?cursor=" + *page.NextCursor},
	} {
		if res := f.do("GET", c.path, c.key, ""); res.status != http.StatusBadRequest || !contains(res.reason(t), "cursor") {
			t.Errorf("%s: %d %s, want 400 naming cursor", name, res.status, res.body)
		}
	}
	if res := f.do("GET", "/v1/tasks?limit=1&cursor="+*page.NextCursor, f.keys[odsA], ""); res.status != http.StatusOK {
		t.Fatalf("the real cursor: %d %s", res.status, res.body)
	}
}

// Issue 10, finding 5: no per-key rate limit (2,800 tasks in 60 s from 4
// keys). A key over its practice's limit gets 429 with Retry-After; other
// keys are unaffected; the refusal is audited.
func TestPerKeyRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(s *api.Server) { s.RateLimitPerMinute = 600 })
	f.exec(`UPDATE practices SET rate_limit_per_minute = 12 WHERE ods_code = $1`, odsA)
	f.exec(`UPDATE practices SET rate_limit_per_minute = 0 WHERE ods_code = $1`, odsC)
	var limited response
	ok := 0
	for range 15 {
		res := f.do("GET", "/v1/inbox", f.keys[odsA], "")
		if res.status == http.StatusTooManyRequests {
			limited = res
			break
		}
		ok++
	}
	if limited.status != http.StatusTooManyRequests || ok != 10 {
		t.Fatalf("A: %d requests passed before a 429 (got %d), want the burst of 10", ok, limited.status)
	}
	if secs, err := strconv.Atoi(limited.header.Get("Retry-After")); err != nil || secs < 1 || secs > 6 {
		t.Fatalf("Retry-After %q, want 1-6 s", limited.header.Get("Retry-After"))
	}
	if r := limited.reason(t); !contains(r, "rate limit") {
		t.Fatalf("429 problem: %s", r)
	}
	for range 120 {
		if res := f.do("GET", "/v1/inbox", f.keys[odsC], ""); res.status != http.StatusOK {
			t.Fatalf("C (unlimited) refused: %d", res.status)
		}
	}
	for range 60 {
		if res := f.do("GET", "/v1/inbox", f.keys[odsB], ""); res.status != http.StatusOK {
			t.Fatalf("B (default 600/min, burst 100) refused: %d", res.status)
		}
	}
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM access_log WHERE status = 429 AND reason = 'rate_limited'
		AND ods_code = $1`, odsA).Scan(&n); err != nil || n != 1 {
		t.Fatalf("audited 429s: %d (%v), want 1", n, err)
	}
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Pool.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatal(err)
	}
}

// Issue 10, finding 4: redirecting a practice's patient data left no
// trace. The practice page lists every channel change: who, when, old and
// new origin, whether the secret was rotated; never the path (a token).
func TestPracticePageShowsChannelChanges(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	ctx := context.Background()
	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []store.WebhookChange{
		{URL: "https://first.example/hook?token=s3cr3tpath"},
		{URL: "https://attacker.example/collect", Actor: "import:mallory@laptop"},
		{URL: "https://attacker.example/collect", Rotate: true, KeepPrevious: time.Hour},
	} {
		c.ODS = odsAbbey
		if c.Actor == "" {
			c.Actor = "cli:alice@ops"
		}
		if _, _, err := e.db.ChangeWebhook(ctx, kr, c); err != nil {
			t.Fatal(err)
		}
	}
	session, _ := e.login(e.admin)
	res, body := e.get("/practices/"+odsAbbey, "", "Cookie", session)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("practice page: %d", res.StatusCode)
	}
	i := strings.Index(body, "Webhook channel changes")
	if i < 0 {
		t.Fatal("no channel changes section")
	}
	section := body[i:]
	for _, want := range []string{"import:mallory@laptop", "https://first.example", "https://attacker.example", "(new path)", "yes", "cli:alice@ops"} {
		if !strings.Contains(section, want) {
			t.Errorf("channel section lacks %q", want)
		}
	}
	if strings.Contains(body, "s3cr3tpath") || strings.Contains(body, "/collect") || strings.Contains(body, "whsec_") {
		t.Error("the page shows a webhook path or secret")
	}
}
