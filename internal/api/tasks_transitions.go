package api

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
)

// defaultTaskMaxAge applies when Server.TaskMaxAge is zero.
const defaultTaskMaxAge = 24 * time.Hour

func (s *Server) taskMaxAge() time.Duration {
	if s.TaskMaxAge > 0 {
		return s.TaskMaxAge
	}
	return defaultTaskMaxAge
}

// toTask builds the store row for a validated request.
func (req *createTaskRequest) toTask(sender, key string, hash []byte, now time.Time, maxAge time.Duration) store.Task {
	return store.Task{
		ID: uuid.New(), SenderODS: sender, RecipientODS: req.RecipientODS, PatientNHSNumber: req.PatientNHSNumber,
		Type: req.Type, Priority: req.Priority, Subject: req.Subject, Body: req.Body, DueDate: req.DueDate,
		IdempotencyKey: key, RequestHash: hash, ExpiresAt: now.Add(maxAge),
	}
}

// transitionRule words the answers of one state-changing endpoint.
type transitionRule struct {
	action   string // "acknowledged", "cancelled"
	party    string // who may do it: "recipient", "sender"
	from     string // the state it needs
	apply    func(s *Server, r *http.Request, id uuid.UUID, caller string) (store.Task, bool, error)
	conflict func(state string) string
}

var ackRule = transitionRule{
	action: "acknowledged", party: "recipient", from: store.TaskDelivered,
	apply: func(s *Server, r *http.Request, id uuid.UUID, caller string) (store.Task, bool, error) {
		return s.DB.AckTask(r.Context(), id, caller)
	},
	conflict: func(state string) string {
		if state == store.TaskAccepted {
			return "the task is accepted but not yet delivered; it can be acknowledged once delivered"
		}
		return "the task is " + state + "; only a delivered task can be acknowledged"
	},
}

var cancelRule = transitionRule{
	action: "cancelled", party: "sender", from: store.TaskAccepted,
	apply: func(s *Server, r *http.Request, id uuid.UUID, caller string) (store.Task, bool, error) {
		return s.DB.CancelTask(r.Context(), id, caller)
	},
	conflict: func(state string) string {
		return "the task is " + state + "; only a task not yet delivered (accepted) can be cancelled"
	},
}

func (s *Server) ackTask(w http.ResponseWriter, r *http.Request)    { s.transition(w, r, ackRule) }
func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) { s.transition(w, r, cancelRule) }

// transition runs an ack or cancel: 200 with the task (also when it was
// already in the target state), 403 for the wrong party, 404 for a task
// the caller cannot see, 409 naming the current state otherwise.
func (s *Server) transition(w http.ResponseWriter, r *http.Request, rule transitionRule) {
	id, ok := taskID(w, r)
	if !ok {
		return
	}
	who := caller(r).ODSCode
	t, changed, err := rule.apply(s, r, id, who)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeNoSuchTask(w)
		return
	case errors.Is(err, store.ErrNotParty):
		writeProblem(w, http.StatusForbidden, "Forbidden", "only the task's "+rule.party+" can do this", nil)
		return
	case errors.Is(err, store.ErrDeliveryInFlight):
		w.Header().Set("Retry-After", "10")
		writeProblem(w, http.StatusConflict, "Conflict",
			"a delivery attempt for this task is in progress; try again when it has finished (it may be delivered by then)", nil)
		return
	case errors.Is(err, store.ErrWrongState):
		writeProblem(w, http.StatusConflict, "Conflict", rule.conflict(t.State), nil)
		return
	case err != nil:
		s.unavailable(w, r, err)
		return
	}
	if changed {
		s.Log.InfoContext(r.Context(), "task "+rule.action, "task_id", t.ID, "actor_ods", who)
		if rule.action == "acknowledged" {
			s.Waker.Wake(r.Context(), false) // the sender's task.acknowledged notification is due
		}
	}
	s.writeTask(w, r, http.StatusOK, t, false)
}

// listInbox answers GET /v1/inbox: tasks delivered to the caller, newest
// first, optionally one state only.
func (s *Server) listInbox(w http.ResponseWriter, r *http.Request) {
	q, rerr := s.parsePageQuery(r, "inbox", "state")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	states, rerr := stateFilter(q, inboxStates, "must be delivered or acknowledged (the inbox holds delivered tasks only)")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	tasks, err := s.DB.ListInbox(r.Context(), caller(r).ODSCode, states, q.after, q.limit+1)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.writeTaskPage(w, r, "inbox", tasks, q.limit)
}

// listSent answers GET /v1/tasks: tasks the caller sent, newest first,
// optionally one state only and one recipient only.
func (s *Server) listSent(w http.ResponseWriter, r *http.Request) {
	q, rerr := s.parsePageQuery(r, "sent", "state", "recipient_ods")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	states, rerr := stateFilter(q, sentStates, "must be accepted, delivered, acknowledged, failed or cancelled")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	recipient := q.values.Get("recipient_ods")
	if q.values.Has("recipient_ods") && !practice.ValidODS(recipient) {
		writeRequestError(w, badParam("recipient_ods", "must be an ODS code: 3 to 10 upper-case letters and digits"))
		return
	}
	tasks, err := s.DB.ListSent(r.Context(), caller(r).ODSCode, states, recipient, q.after, q.limit+1)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	s.writeTaskPage(w, r, "sent", tasks, q.limit)
}

// stateFilter reads the optional state parameter of a task list: all of
// allowed when absent, that one state when it is one of them, a 400 with
// reason otherwise.
func stateFilter(q pageQuery, allowed []string, reason string) ([]string, *requestError) {
	if !q.values.Has("state") {
		return allowed, nil
	}
	st := q.values.Get("state")
	if !slices.Contains(allowed, st) {
		return nil, badParam("state", reason)
	}
	return []string{st}, nil
}

// writeTaskPage answers 200 with one page of a task list; items are full
// tasks without their audit trail. Each item's id joins the access record.
func (s *Server) writeTaskPage(w http.ResponseWriter, r *http.Request, list string, tasks []store.Task, limit int) {
	writeListPage(s, w, r, list, tasks, limit,
		func(t store.Task) store.PageKey { return store.PageKey{CreatedAt: t.CreatedAt, ID: t.ID} },
		func(t store.Task) taskJSON { return toTaskJSON(t, nil) }, func(t taskJSON) string { return t.ID })
}
