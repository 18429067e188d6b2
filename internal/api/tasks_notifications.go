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
	q, rerr := s.parsePageQuery(r, "notifications", "unacked")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	unacked := false
	if q.values.Has("unacked") {
		switch q.values.Get("unacked") {
		case "true":
			unacked = true
		case "false":
		default:
			writeRequestError(w, badParam("unacked", "must be true or false"))
			return
		}
	}
	ns, err := s.DB.ListNotifications(r.Context(), caller(r).ODSCode, unacked, q.after, q.limit+1)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	page, err := listPage(r, s, "notifications", ns, q.limit,
		func(n store.Notification) store.PageKey { return store.PageKey{CreatedAt: n.CreatedAt, ID: n.ID} },
		toNotificationJSON)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	for _, it := range page.Items {
		auditResources(r, it.ID)
	}
	writeJSON(w, http.StatusOK, page)
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
