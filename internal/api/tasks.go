package api

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
)

// inboxStates are the states a task shows in its recipient's inbox: only
// delivered work, so an inbox reader never races the webhook push.
var inboxStates = []string{store.TaskDelivered, store.TaskAcknowledged}

// sentStates are the states a task shows in its sender's list: all of them.
var sentStates = store.TaskStates

// routesTasks registers the practice-facing task and notification API. Each
// path also gets a method-less fallback so a wrong method is a 405
// problem with an Allow header listing the path's methods.
func (s *Server) routesTasks(mux router) {
	routes := []struct {
		method, path, action string
		h                    http.HandlerFunc
	}{
		{"POST", "/v1/tasks", "task.create", s.createTask},
		{"GET", "/v1/tasks", "task.list_sent", s.listSent},
		{"GET", "/v1/tasks/{id}", "task.read", s.getTask},
		{"POST", "/v1/tasks/{id}/ack", "task.ack", s.ackTask},
		{"POST", "/v1/tasks/{id}/cancel", "task.cancel", s.cancelTask},
		{"GET", "/v1/inbox", "task.list_inbox", s.listInbox},
		{"GET", "/v1/notifications", "notification.list", s.listNotifications},
		{"POST", "/v1/notifications/{id}/ack", "notification.ack", s.ackNotification},
	}
	methods := map[string][]string{}
	for _, rt := range routes {
		mux.HandleFunc(rt.method+" "+rt.path, s.audited(store.RolePractice, rt.action, rt.h))
		methods[rt.path] = append(methods[rt.path], rt.method)
	}
	for path, ms := range methods {
		mux.HandleFunc(path, methodNotAllowed(ms...))
	}
}

// methodNotAllowed answers any other method of a path whose methods are
// given (a GET also serves HEAD).
func methodNotAllowed(methods ...string) http.HandlerFunc {
	var list []string
	for _, m := range methods {
		list = append(list, m)
		if m == http.MethodGet {
			list = append(list, http.MethodHead)
		}
	}
	slices.Sort(list)
	allow := strings.Join(list, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeProblem(w, http.StatusMethodNotAllowed, "Method Not Allowed", "this path accepts "+allow, nil)
	}
}

func writeRequestError(w http.ResponseWriter, e *requestError) {
	writeProblem(w, e.status, http.StatusText(e.status), e.detail, e.fields)
}

// createTask accepts a task: 202 when new, 200 when an Idempotency-Key
// replays an earlier identical request (the task as it is now).
func (s *Server) createTask(w http.ResponseWriter, r *http.Request) {
	sender := caller(r).ODSCode
	key, rerr := idempotencyKey(r)
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	req, rerr := decodeCreateTask(w, r)
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	hash := req.hash()
	if key != "" && s.replayTask(w, r, sender, key, hash) {
		return
	}
	if errs := req.Validate(sender, s.Now()); len(errs) > 0 {
		s.rejected(r, sender, errs)
		writeProblem(w, http.StatusUnprocessableEntity, "Unprocessable Content", validationDetail(errs), errs)
		return
	}
	t := req.toTask(sender, key, hash, s.Now(), s.taskMaxAge())
	res, err := s.Intake.Accept(r.Context(), t, pendingAccess(w, http.StatusAccepted, t.ID.String()))
	if err == nil {
		err = res.Err
	}
	t = res.Task
	switch {
	case errors.Is(err, store.ErrRecipientNotMember):
		errs := map[string]string{"recipient_ods": "is not an active member of the federation"}
		s.rejected(r, sender, errs)
		writeProblem(w, http.StatusUnprocessableEntity, "Unprocessable Content", validationDetail(errs), errs)
		return
	case errors.Is(err, store.ErrIdempotencyMismatch):
		writeIdempotencyConflict(w)
		return
	case err != nil:
		s.unavailable(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/tasks/"+t.ID.String())
	auditResources(r, t.ID.String())
	if !res.Created {
		s.writeTask(w, r, http.StatusOK, t, true)
		return
	}
	accessWritten(w, http.StatusAccepted)
	s.Log.InfoContext(r.Context(), "task accepted", "task_id", t.ID, "sender_ods", t.SenderODS,
		"recipient_ods", t.RecipientODS, "type", t.Type, "priority", t.Priority)
	s.writeTask(w, r, http.StatusAccepted, t, false)
}

// replayTask answers a request whose Idempotency-Key the sender used before
// and reports whether it did; a new key falls through to normal handling.
func (s *Server) replayTask(w http.ResponseWriter, r *http.Request, sender, key string, hash []byte) bool {
	prev, err := s.DB.FindTaskByIdempotencyKey(r.Context(), sender, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false
	case err != nil:
		s.unavailable(w, r, err)
	case !bytes.Equal(prev.RequestHash, hash):
		writeIdempotencyConflict(w)
	default:
		w.Header().Set("Location", "/v1/tasks/"+prev.ID.String())
		auditResources(r, prev.ID.String())
		s.writeTask(w, r, http.StatusOK, prev, true)
	}
	return true
}

func writeIdempotencyConflict(w http.ResponseWriter) {
	writeProblem(w, http.StatusConflict, "Conflict",
		"this Idempotency-Key was already used for a different request; use a new key for a new task",
		map[string]string{"Idempotency-Key": "was already used with a different request body"})
}

// writeTask answers with the task and its audit trail (t.Events when the
// store filled it in, else read now).
func (s *Server) writeTask(w http.ResponseWriter, r *http.Request, status int, t store.Task, replayed bool) {
	events := t.Events
	if events == nil {
		var err error
		if events, err = s.DB.TaskEvents(r.Context(), t.ID); err != nil {
			// The change is committed; answer without the trail rather than
			// make the caller think it failed.
			s.Log.WarnContext(r.Context(), "load task events", "task_id", t.ID, "error", err)
		}
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, status, toTaskJSON(t, events))
}

// rejected logs which fields failed validation: names only, never values.
func (s *Server) rejected(r *http.Request, sender string, errs map[string]string) {
	fields := make([]string, 0, len(errs))
	for f := range errs {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	s.Log.InfoContext(r.Context(), "task rejected", "sender_ods", sender, "invalid_fields", fields)
}

func validationDetail(errs map[string]string) string {
	names := make([]string, 0, len(errs))
	for _, f := range []string{"recipient_ods", "patient_nhs_number", "type", "priority", "subject", "body", "due_date"} {
		if _, ok := errs[f]; ok {
			names = append(names, f)
		}
	}
	return "the task was not accepted; fix " + strings.Join(names, ", ") + " (see errors)"
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	id, ok := taskID(w, r)
	if !ok {
		return
	}
	t, events, err := s.DB.GetTaskFor(r.Context(), id, caller(r).ODSCode)
	if errors.Is(err, store.ErrNotFound) {
		writeNoSuchTask(w)
		return
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toTaskJSON(t, events))
}

// taskID parses {id}. A malformed id cannot name anyone's task, so it is a
// 404 like any other task the caller cannot see.
func taskID(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil || len(r.PathValue("id")) != 36 {
		writeNoSuchTask(w)
		return uuid.Nil, false
	}
	return id, true
}

func writeNoSuchTask(w http.ResponseWriter) {
	writeProblem(w, http.StatusNotFound, "Not Found", "no task with this id was sent by or to your practice", nil)
}
