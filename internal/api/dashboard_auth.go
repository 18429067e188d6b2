package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gpfed/gpfed/internal/store"
)

const (
	sessionCookie    = "gpfed_session"
	loginCSRFCookie  = "gpfed_login_csrf"
	maxLoginFormSize = 4 << 10
)

type sessionCtxKey struct{}

// crossOrigin rejects cross-site form posts (Sec-Fetch-Site / Origin checks);
// the per-session token below is the second, independent defence.
var crossOrigin = http.NewCrossOriginProtection()

func sessionOf(ctx context.Context) store.DashboardSession {
	s, _ := ctx.Value(sessionCtxKey{}).(store.DashboardSession)
	return s
}

// secure says whether cookies get the Secure flag: always, unless the
// server was explicitly told it runs on plain http at a loopback address.
func (s *Server) secure(r *http.Request) bool { return r.TLS != nil || !s.InsecureCookies }

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true,
		Secure: s.secure(r), SameSite: http.SameSiteStrictMode})
}

// requireSession lets a dashboard page through with a live session and
// sends everyone else to the login page, remembering where they were going.
func (s *Server) requireSession(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.lookupSession(r)
		switch {
		case errors.Is(err, store.ErrNotFound):
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		case err != nil:
			s.pageUnavailable(w, r, err)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionCtxKey{}, sess)))
	}
}

func (s *Server) lookupSession(r *http.Request) (store.DashboardSession, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return store.DashboardSession{}, store.ErrNotFound
	}
	return s.DB.UseDashboardSession(r.Context(), c.Value, s.SessionIdle)
}

// safeNext keeps post-login redirects on this site: anything that is not
// plainly a local path becomes "/".
func safeNext(v string) string {
	if !localPath(v) || strings.HasPrefix(v, "/login") {
		return "/"
	}
	return v
}

// localPath accepts a path that starts with exactly one slash and holds no
// backslash, space, control or non-ASCII byte (browsers drop tabs and
// newlines, so "/<TAB>/evil.example" is "//evil.example" to them, and read
// a backslash as a slash). Percent-decoded, again and again, it must still
// not start with "//" nor hold a backslash or control character: a proxy
// or a second decode must not find a way off the site either.
func localPath(v string) bool {
	if len(v) == 0 || len(v) > 2048 || v[0] != '/' || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return false
	}
	for d, i := v, 0; ; i++ {
		if strings.HasPrefix(d, "//") || strings.ContainsFunc(d, func(r rune) bool {
			return r < ' ' || r == 0x7f || r == '\\'
		}) {
			return false
		}
		next, err := url.PathUnescape(d)
		if err != nil || (next != d && i == 4) { // still encoded after five decodes: nobody meant that
			return false
		}
		if next == d {
			break
		}
		d = next
	}
	u, err := url.Parse(v)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == ""
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

type loginView struct {
	pageBase
	Next, Token, Error string
}

// handleLoginPage shows the login form with a login-CSRF token bound to a
// short-lived cookie (double submit), so nobody can log a browser into
// their own session.
func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if _, err := s.lookupSession(r); err == nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, safeNext(r.URL.Query().Get("next")), "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	token := randomString()
	s.setCookie(w, r, loginCSRFCookie, token, "/login", 3600)
	s.render(w, r, status, "login", &loginView{pageBase: pageBase{Title: "Sign in"}, Next: next, Token: token, Error: msg})
}

// handleLogin exchanges a federation-admin API key for a session cookie.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := crossOrigin.Check(r); err != nil {
		s.renderError(w, r, http.StatusForbidden, "Cross-site sign-in refused", "Sign in from the gpfed login page itself.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginFormSize)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad sign-in form", "The form could not be read.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !tokensEqual(c.Value, r.PostForm.Get("csrf_token")) {
		s.renderLogin(w, r, http.StatusForbidden, next, "The sign-in form expired. Please try again.")
		return
	}
	presented := strings.TrimSpace(r.PostForm.Get("api_key"))
	rec := s.accessRecord(r, "auth.failed")
	key, err := s.DB.AuthenticateAPIKey(r.Context(), presented)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.Log.InfoContext(r.Context(), "dashboard login refused", "reason", "unknown_key")
		rec.Status, rec.Reason, rec.KeyPrefix = http.StatusUnauthorized, reasonUnknownKey, store.PresentedKeyPrefix(presented)
		_ = s.saveAccess(r, rec)
		s.renderLogin(w, r, http.StatusUnauthorized, next, "That key is unknown or has been revoked.")
		return
	case err != nil:
		s.pageUnavailable(w, r, err)
		return
	case key.Role != store.RoleAdmin:
		s.Log.InfoContext(r.Context(), "dashboard login refused", "reason", "not_admin", "key_prefix", key.Prefix)
		rec.ActorRole, rec.ODSCode, rec.APIKeyID, rec.KeyPrefix = key.Role, key.ODSCode, key.ID, key.Prefix
		rec.Status, rec.Reason = http.StatusForbidden, reasonWrongRole
		_ = s.saveAccess(r, rec)
		s.renderLogin(w, r, http.StatusForbidden, next, "That is a practice key. The dashboard needs a federation-admin key (gpfed admin-key).")
		return
	}
	rec.Action, rec.ActorRole, rec.APIKeyID, rec.KeyPrefix, rec.Status = "dashboard.login", key.Role, key.ID, key.Prefix, http.StatusSeeOther
	if err := s.saveAccess(r, rec); err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	raw, _, err := s.DB.CreateDashboardSession(r.Context(), key.ID, s.SessionTTL)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	s.Log.InfoContext(r.Context(), "dashboard login", "key_prefix", key.Prefix)
	s.setCookie(w, r, loginCSRFCookie, "", "/login", -1)
	s.setCookie(w, r, sessionCookie, raw, "/", int(s.SessionTTL.Seconds()))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// checkCSRF guards every state-changing dashboard form: same-origin, and the
// session's own token in the form.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request) bool {
	if err := crossOrigin.Check(r); err != nil {
		s.renderError(w, r, http.StatusForbidden, "Cross-site request refused", "This form must be sent from the dashboard itself.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginFormSize)
	if err := r.ParseForm(); err != nil || !tokensEqual(sessionOf(r.Context()).CSRFToken, r.PostForm.Get("csrf_token")) {
		s.renderError(w, r, http.StatusForbidden, "Form expired", "The form's security token did not match. Reload the page and try again.")
		return false
	}
	return true
}

// handleLogout ends the session in the database and in the browser.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if !s.checkCSRF(w, r) {
		return
	}
	c, err := r.Cookie(sessionCookie)
	if err == nil {
		if err := s.DB.DeleteDashboardSession(r.Context(), c.Value); err != nil {
			s.pageUnavailable(w, r, err)
			return
		}
	}
	sess := sessionOf(r.Context())
	rec := s.accessRecord(r, "dashboard.logout")
	rec.ActorRole, rec.APIKeyID, rec.KeyPrefix, rec.Status = store.RoleAdmin, sess.APIKeyID, sess.KeyPrefix, http.StatusSeeOther
	_ = s.saveAccess(r, rec)
	s.setCookie(w, r, sessionCookie, "", "/", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
