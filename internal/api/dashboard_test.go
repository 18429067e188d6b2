package api_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gpfed/gpfed/internal/api"
)

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func cookieOf(t *testing.T, res *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// loginForm fetches the login page and returns its CSRF cookie and token.
func (e *opsEnv) loginForm() (cookie, token string) {
	e.t.Helper()
	res, body := e.get("/login", "")
	c := cookieOf(e.t, res, "gpfed_login_csrf")
	m := csrfField.FindStringSubmatch(body)
	if c == nil || m == nil {
		e.t.Fatalf("login page without csrf cookie or token: %d %s", res.StatusCode, body)
	}
	return c.Name + "=" + c.Value, m[1]
}

func (e *opsEnv) postForm(path string, form url.Values, headers ...string) (*http.Response, string) {
	e.t.Helper()
	headers = append(headers, "Content-Type", "application/x-www-form-urlencoded")
	return e.do(http.MethodPost, path, "", strings.NewReader(form.Encode()), headers...)
}

// login signs in through the real form and returns the session cookie
// header value and the session's CSRF token.
func (e *opsEnv) login(key string) (session, token string) {
	e.t.Helper()
	cookie, tok := e.loginForm()
	res, body := e.postForm("/login", url.Values{"csrf_token": {tok}, "api_key": {key}, "next": {"/"}},
		"Cookie", cookie, "Origin", e.url, "Sec-Fetch-Site", "same-origin")
	if res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login: status %d: %s", res.StatusCode, body)
	}
	c := cookieOf(e.t, res, "gpfed_session")
	if c == nil {
		e.t.Fatal("login set no session cookie")
	}
	session = c.Name + "=" + c.Value
	_, page := e.get("/", "", "Cookie", session)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		e.t.Fatalf("dashboard without logout csrf token: %s", page)
	}
	return session, m[1]
}

func TestDashboardRedirectsToLogin(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	for _, p := range []string{"/", "/sync", "/tasks", "/practices/A81001", "/sync/runs/1", "/?role=R0260"} {
		for name, headers := range map[string][]string{
			"no cookie":    nil,
			"forged":       {"Cookie", "gpfed_session=forged"},
			"bearer admin": {"Authorization", "Bearer " + e.admin}, // API keys do not open the dashboard
		} {
			res, _ := e.get(p, "", headers...)
			want := "/login?next=" + url.QueryEscape(p)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
				t.Errorf("%s (%s): %d Location %q, want 303 %q", p, name, res.StatusCode, res.Header.Get("Location"), want)
			}
		}
	}
	if res, _ := e.get("/no-such-page", ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", res.StatusCode)
	}
}

func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	cookie, tok := e.loginForm()
	cases := []struct {
		name    string
		form    url.Values
		headers []string
		status  int
		text    string
	}{
		{"unknown key", url.Values{"csrf_token": {tok}, "api_key": {"gpfed_nope"}}, []string{"Cookie", cookie}, 401, "unknown or has been revoked"},
		{"revoked key", url.Values{"csrf_token": {tok}, "api_key": {e.revoked}}, []string{"Cookie", cookie}, 401, "unknown or has been revoked"},
		{"practice key", url.Values{"csrf_token": {tok}, "api_key": {e.practice}}, []string{"Cookie", cookie}, 403, "federation-admin key"},
		{"missing csrf token", url.Values{"api_key": {e.admin}}, []string{"Cookie", cookie}, 403, "form expired"},
		{"wrong csrf token", url.Values{"csrf_token": {"x" + tok}, "api_key": {e.admin}}, []string{"Cookie", cookie}, 403, "form expired"},
		{"no csrf cookie", url.Values{"csrf_token": {tok}, "api_key": {e.admin}}, nil, 403, "form expired"},
		{"cross-site post", url.Values{"csrf_token": {tok}, "api_key": {e.admin}},
			[]string{"Cookie", cookie, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, 403, "Cross-site"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := e.postForm("/login", tc.form, tc.headers...)
			if res.StatusCode != tc.status || !strings.Contains(body, tc.text) {
				t.Errorf("status %d (want %d), body contains %q: %v", res.StatusCode, tc.status, tc.text, strings.Contains(body, tc.text))
			}
			if c := cookieOf(t, res, "gpfed_session"); c != nil {
				t.Errorf("refused login set a session cookie")
			}
		})
	}
}

func TestLoginSessionLogout(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	cookie, tok := e.loginForm()
	res, _ := e.postForm("/login", url.Values{"csrf_token": {tok}, "api_key": {e.admin}, "next": {"/sync"}},
		"Cookie", cookie, "Origin", e.url)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sync" {
		t.Fatalf("login: %d -> %q", res.StatusCode, res.Header.Get("Location"))
	}
	c := cookieOf(t, res, "gpfed_session")
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || !c.Secure || c.MaxAge != 8*3600 {
		t.Fatalf("session cookie = %+v", c)
	}
	var stored int
	if err := e.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM dashboard_sessions WHERE id_hash = sha256($1::bytea)`,
		[]byte(c.Value)).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("session stored hashed: count %d, err %v", stored, err)
	}
	session := c.Name + "=" + c.Value
	res, body := e.get("/sync", "", "Cookie", session)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Sync health") {
		t.Fatalf("/sync after login: %d", res.StatusCode)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	token := csrfField.FindStringSubmatch(body)[1]

	// The login page sends a signed-in browser on.
	if res, _ := e.get("/login?next=/tasks", "", "Cookie", session); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/tasks" {
		t.Errorf("login page when signed in: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// Logout needs the session's token and a same-origin request.
	if res, _ := e.postForm("/logout", url.Values{}, "Cookie", session); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout without token: %d, want 403", res.StatusCode)
	}
	if res, _ := e.postForm("/logout", url.Values{"csrf_token": {token}}, "Cookie", session, "Origin", "https://evil.example"); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin logout: %d, want 403", res.StatusCode)
	}
	res, _ = e.postForm("/logout", url.Values{"csrf_token": {token}}, "Cookie", session, "Origin", e.url)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if c := cookieOf(t, res, "gpfed_session"); c == nil || c.MaxAge >= 0 {
		t.Errorf("logout did not clear the cookie: %+v", c)
	}
	if res, _ := e.get("/", "", "Cookie", session); res.StatusCode != http.StatusSeeOther {
		t.Errorf("old session after logout: %d, want 303 to login", res.StatusCode)
	}
}

func TestSessionEndsWhenKeyRevokedOrExpired(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	s1, _ := e.login(e.admin)
	s2, _ := e.login(e.admin)
	if _, err := e.db.Pool.Exec(t.Context(), `UPDATE dashboard_sessions SET expires_at = now() - interval '1 second',
		created_at = now() - interval '1 hour' WHERE id_hash = sha256($1::bytea)`, []byte(strings.TrimPrefix(s2, "gpfed_session="))); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.get("/", "", "Cookie", s2); res.StatusCode != http.StatusSeeOther {
		t.Errorf("expired session: %d, want 303", res.StatusCode)
	}
	if res, _ := e.get("/", "", "Cookie", s1); res.StatusCode != http.StatusOK {
		t.Fatalf("live session: %d", res.StatusCode)
	}
	if _, err := e.db.RevokeAPIKeys(t.Context(), "", e.admin[:12]); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.get("/", "", "Cookie", s1); res.StatusCode != http.StatusSeeOther {
		t.Errorf("session of revoked key: %d, want 303", res.StatusCode)
	}
}

// Issue 10: cookies were Secure only when configured. Now they are Secure
// unless the server is explicitly told it serves plain http on loopback.
func TestCookiesSecureByDefault(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		opts []opsOption
		want bool
	}{
		"default":        {nil, true},
		"insecure, demo": {[]opsOption{func(s *api.Server) { s.InsecureCookies = true }}, false},
	} {
		e := newOpsEnv(t, c.opts...)
		res, _ := e.get("/login", "")
		if ck := cookieOf(t, res, "gpfed_login_csrf"); ck == nil || ck.Secure != c.want || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
			t.Errorf("%s: login csrf cookie %+v, want Secure=%t, HttpOnly, SameSite=Strict", name, ck, c.want)
		}
	}
}

func TestLoginNextStaysOnSite(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t)
	for next, want := range map[string]string{"//evil.example/": "/", "https://evil.example": "/", "/\\evil": "/",
		"/practices/A81001": "/practices/A81001", "/login": "/"} {
		cookie, tok := e.loginForm()
		res, _ := e.postForm("/login", url.Values{"csrf_token": {tok}, "api_key": {e.admin}, "next": {next}}, "Cookie", cookie)
		if got := res.Header.Get("Location"); got != want {
			t.Errorf("next=%q: redirected to %q, want %q", next, got, want)
		}
	}
}
