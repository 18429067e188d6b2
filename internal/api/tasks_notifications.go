package api

import (
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
)

// listNotifications answers GET /v1/notifications: every notification
// addressed to the caller (whatever its delivery state), newest first;
// unacked=true keeps those not yet acknowledged.
func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) {
	q, rerr := parsePageQuery(r, "notifications", "unacked")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	unacked, rerr := boolParam(q, "unacked")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	ns, err := s.DB.ListNotifications(r.Context(), caller(r).ODSCode, unacked, q.after, q.limit+1)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listPage("notifications", ns, q.limit,
		func(n store.Notification) store.PageKey { return store.PageKey{CreatedAt: n.CreatedAt, ID: n.ID} },
		toNotificationJSON))
}

// ackNotification answers POST /v1/notifications/{id}/ack: 200 with the
// notification; repeating it keeps the first acknowledgement time.
func (s *Server) ackNotification(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		writeNoSuchNotification(w)
		return
	}
	n, err := s.DB.AckNotification(r.Context(), id, caller(r).ODSCode)
	if errors.Is(err, store.ErrNotFound) {
		writeNoSuchNotification(w)
		return
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toNotificationJSON(n))
}

func writeNoSuchNotification(w http.ResponseWriter) {
	writeProblem(w, http.StatusNotFound, "Not Found", "no notification with this id was sent to your practice", nil)
}

// listAdminNotifications answers GET /v1/admin/notifications: what the
// delivery engine told the federation admins (endpoint circuits opening
// and recovering), newest first; unacked=true keeps those not yet
// acknowledged.
func (s *Server) listAdminNotifications(w http.ResponseWriter, r *http.Request) {
	q, rerr := parsePageQuery(r, "admin-notifications", "unacked")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	unacked, rerr := boolParam(q, "unacked")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	ns, err := s.DB.ListAdminNotifications(r.Context(), unacked, q.after, q.limit+1)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listPage("admin-notifications", ns, q.limit,
		func(n store.Notification) store.PageKey { return store.PageKey{CreatedAt: n.CreatedAt, ID: n.ID} },
		toNotificationJSON))
}

// ackAdminNotification answers POST /v1/admin/notifications/{id}/ack.
func (s *Server) ackAdminNotification(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("id")
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		writeNoSuchNotification(w)
		return
	}
	n, err := s.DB.AckAdminNotification(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeNoSuchNotification(w)
		return
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toNotificationJSON(n))
}

// boolParam reads an optional true|false query parameter.
func boolParam(q pageQuery, name string) (bool, *requestError) {
	if !q.values.Has(name) {
		return false, nil
	}
	switch q.values.Get(name) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badParam(name, "must be true or false")
}
