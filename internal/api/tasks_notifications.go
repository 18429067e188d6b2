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
	s.listNotificationFeed(w, r, "notifications", func(unacked bool, after *store.PageKey, limit int) ([]store.Notification, error) {
		return s.DB.ListNotifications(r.Context(), caller(r).ODSCode, unacked, after, limit)
	})
}

// listAdminNotifications answers GET /v1/admin/notifications: what the
// delivery engine told the federation admins (endpoint circuits opening
// and recovering), newest first; unacked=true keeps those not yet
// acknowledged.
func (s *Server) listAdminNotifications(w http.ResponseWriter, r *http.Request) {
	s.listNotificationFeed(w, r, "admin-notifications", func(unacked bool, after *store.PageKey, limit int) ([]store.Notification, error) {
		return s.DB.ListAdminNotifications(r.Context(), unacked, after, limit)
	})
}

// listNotificationFeed answers a notification list: its page query, the
// unacked filter, and the page from load.
func (s *Server) listNotificationFeed(w http.ResponseWriter, r *http.Request, list string,
	load func(unacked bool, after *store.PageKey, limit int) ([]store.Notification, error)) {
	q, rerr := s.parsePageQuery(r, list, "unacked")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	unacked, rerr := boolParam(q, "unacked")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	ns, err := load(unacked, q.after, q.limit+1)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeListPage(s, w, r, list, ns, q.limit,
		func(n store.Notification) store.PageKey { return store.PageKey{CreatedAt: n.CreatedAt, ID: n.ID} },
		toNotificationJSON, func(n notificationJSON) string { return n.ID })
}

// ackNotification answers POST /v1/notifications/{id}/ack: 200 with the
// notification; repeating it keeps the first acknowledgement time.
func (s *Server) ackNotification(w http.ResponseWriter, r *http.Request) {
	s.ackNotificationBy(w, r, func(id uuid.UUID) (store.Notification, error) {
		return s.DB.AckNotification(r.Context(), id, caller(r).ODSCode)
	})
}

// ackAdminNotification answers POST /v1/admin/notifications/{id}/ack.
func (s *Server) ackAdminNotification(w http.ResponseWriter, r *http.Request) {
	s.ackNotificationBy(w, r, func(id uuid.UUID) (store.Notification, error) {
		return s.DB.AckAdminNotification(r.Context(), id)
	})
}

// ackNotificationBy answers an acknowledgement made with ack; an id that is
// not a notification's answers 404 like one the caller may not see. (The
// access record names the {id} of the route.)
func (s *Server) ackNotificationBy(w http.ResponseWriter, r *http.Request, ack func(uuid.UUID) (store.Notification, error)) {
	raw := r.PathValue("id")
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		writeNoSuchNotification(w)
		return
	}
	n, err := ack(id)
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
