package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gpfed/gpfed/internal/store"
)

type ctxKey int

const keyCtx ctxKey = 1

// caller returns the authenticated key of the request.
func caller(r *http.Request) store.APIKey {
	k, _ := r.Context().Value(keyCtx).(store.APIKey)
	return k
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// requireRole authenticates the bearer key and requires role. A missing or
// wrong key is 401; a valid key of the wrong role is 403.
func (s *Server) requireRole(role string, next http.HandlerFunc) http.HandlerFunc {
	return s.requireRoles([]string{role}, next)
}

// requireRoles is requireRole for endpoints open to several roles.
func (s *Server) requireRoles(roles []string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw := bearer(r)
		if raw == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gpfed"`)
			writeProblem(w, http.StatusUnauthorized, "Unauthorized", "an API key is required: send Authorization: Bearer <key>", nil)
			return
		}
		k, err := s.authenticate(r.Context(), raw)
		switch {
		case errors.Is(err, store.ErrNotFound):
			w.Header().Set("WWW-Authenticate", `Bearer realm="gpfed", error="invalid_token"`)
			writeProblem(w, http.StatusUnauthorized, "Unauthorized", "the API key is unknown, revoked, or belongs to a deactivated practice", nil)
			return
		case err != nil:
			s.unavailable(w, r, err)
			return
		}
		if !slices.Contains(roles, k.Role) {
			writeProblem(w, http.StatusForbidden, "Forbidden", "this endpoint needs a "+strings.Join(roles, " or ")+" key", nil)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), keyCtx, k)))
	}
}

// dbUnavailable reports whether err means the database could not be
// reached in time (store translates dropped and refused connections and
// Postgres shutting down into store.ErrUnavailable).
func dbUnavailable(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// unavailable answers 503 when the database is down, 500 otherwise; the
// error is logged, never shown.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if dbUnavailable(err) {
		w.Header().Set("Retry-After", "5")
		writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable", "the database is unreachable; nothing was stored, retry later", nil)
		return
	}
	s.Log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", err)
	writeProblem(w, http.StatusInternalServerError, "Internal Server Error", "the request failed; nothing was stored", nil)
}
