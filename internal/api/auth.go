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

// Reasons recorded for refused requests.
const (
	reasonMissingKey = "missing_key"
	reasonUnknownKey = "unknown_key"
	reasonWrongRole  = "wrong_role"
)

// authorize resolves the bearer key and checks its role. On failure it
// answers (401 for a missing or unknown key, 403 for a valid key of the
// wrong role, 503 when the database is down), fills rec with what is
// known, and returns false.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, roles []string, rec *store.AccessRecord) (store.APIKey, bool) {
	raw := bearer(r)
	action := rec.Action
	rec.Action = "auth.failed"
	if raw == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gpfed"`)
		writeProblem(w, http.StatusUnauthorized, "Unauthorized", "an API key is required: send Authorization: Bearer <key>", nil)
		rec.Status, rec.Reason = http.StatusUnauthorized, reasonMissingKey
		return store.APIKey{}, false
	}
	k, err := s.authenticate(r.Context(), raw)
	switch {
	case errors.Is(err, store.ErrNotFound):
		w.Header().Set("WWW-Authenticate", `Bearer realm="gpfed", error="invalid_token"`)
		writeProblem(w, http.StatusUnauthorized, "Unauthorized", "the API key is unknown, revoked, or belongs to a deactivated practice", nil)
		rec.Status, rec.Reason, rec.KeyPrefix = http.StatusUnauthorized, reasonUnknownKey, store.PresentedKeyPrefix(raw)
		return store.APIKey{}, false
	case err != nil:
		s.unavailable(w, r, err)
		rec.Status, rec.Reason = http.StatusServiceUnavailable, "auth_unavailable"
		if !dbUnavailable(err) {
			rec.Status = http.StatusInternalServerError
		}
		return store.APIKey{}, false
	}
	if !slices.Contains(roles, k.Role) {
		writeProblem(w, http.StatusForbidden, "Forbidden", "this endpoint needs a "+strings.Join(roles, " or ")+" key", nil)
		rec.ActorRole, rec.ODSCode, rec.APIKeyID, rec.KeyPrefix = k.Role, k.ODSCode, k.ID, k.Prefix
		rec.Status, rec.Reason = http.StatusForbidden, reasonWrongRole
		return store.APIKey{}, false
	}
	rec.Action = action
	return k, true
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
