package api

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
)

// Access audit. Every authenticated API request, and every refused one,
// leaves one access record: who (practice and key id, or admin key id),
// what (an action and the resource ids it touched), when, from where, and
// the status. The record is written before a successful read's response
// leaves the server: if it cannot be written the caller gets a 503 and no
// patient data (no audit, no access). A new task's record commits with the
// task (pendingAccess), so no task is stored without one. Other changes
// (ack, cancel, bookings) have committed by then, so their answer is sent
// even when their record could not be written; that loss is logged at
// error level.
//
// New endpoints join the audit by registering through s.audited(role,
// action, handler) and, where the handler learns which resources it
// touched (a list's items, a created id), calling auditResources(r, ids...).
// A handler whose change commits in groups (task intake) may write the
// record in the change's own commit instead: pendingAccess gives it the
// record it would get, accessWritten says it was written.

type auditCtxKey struct{}

// auditEntry is what a handler contributes to its request's record.
type auditEntry struct {
	mu        sync.Mutex
	resources []string
}

// appendResources appends the resource ids handlers added to dst.
func (e *auditEntry) appendResources(dst []string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append(dst, e.resources...)
}

// auditResources adds resource ids (task, notification, booking ids:
// never patient data) to the access record of r.
func auditResources(r *http.Request, ids ...string) {
	e, _ := r.Context().Value(auditCtxKey{}).(*auditEntry)
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.resources = append(e.resources, ids...)
}

// auditTimeout bounds the write of one access record.
const auditTimeout = 5 * time.Second

// audited authenticates the bearer key for role, applies its rate limit,
// runs next and records the access as action. Every /v1 route goes
// through it.
func (s *Server) audited(role, action string, next http.HandlerFunc) http.HandlerFunc {
	return s.auditedRoles([]string{role}, action, next)
}

// auditedRoles is audited for a route open to keys of several roles.
func (s *Server) auditedRoles(roles []string, action string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := s.accessRecord(r, action)
		k, ok := s.authorize(w, r, roles, &rec)
		if !ok {
			s.saveAccess(r, rec)
			return
		}
		rec.ActorRole, rec.ODSCode, rec.APIKeyID, rec.KeyPrefix = k.Role, k.ODSCode, k.ID, k.Prefix
		if wait, ok := s.rateLimits().allow(k, s.RateLimitPerMinute, s.Now()); !ok {
			writeRateLimited(w, wait)
			rec.Status, rec.Reason = http.StatusTooManyRequests, "rate_limited"
			s.saveAccess(r, rec)
			return
		}
		entry := &auditEntry{}
		ctx := context.WithValue(context.WithValue(r.Context(), keyCtx, k), auditCtxKey{}, entry)
		buf := &bufferedResponse{header: http.Header{}, real: w}
		buf.record = func(status int, ids []string) store.AccessRecord {
			out := rec
			out.Status = status
			out.ResourceIDs = append(entry.appendResources(pathResource(r)), ids...)
			return out
		}
		buf.save = func(status int) error { return s.saveAccess(r, buf.record(status, nil)) }
		next(buf, r.WithContext(ctx))
		if buf.streamed {
			return // recorded before streaming began
		}
		if buf.written != 0 && buf.written == buf.statusCode() {
			buf.flushTo(w) // recorded in the handler's own commit
			return
		}
		if err := buf.save(buf.statusCode()); err != nil && r.Method == http.MethodGet && buf.statusCode() < 400 {
			writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable",
				"the access could not be recorded, so nothing was released; retry later", nil)
			return
		}
		buf.flushTo(w)
	}
}

// accessRecord starts the record of r: where it came from and which route.
func (s *Server) accessRecord(r *http.Request, action string) store.AccessRecord {
	rec := store.AccessRecord{At: s.Now(), ActorRole: store.ActorAnonymous, Action: action, Method: r.Method,
		Route: r.Pattern, RemoteAddr: remoteIP(r), ForwardedFor: r.Header.Get("X-Forwarded-For")}
	if rec.Route == "" {
		rec.Route = r.Method + " " + r.URL.Path
	}
	return rec
}

// saveAccess writes rec, detached from the request's cancellation (a
// client that hangs up must not erase its trace).
func (s *Server) saveAccess(r *http.Request, rec store.AccessRecord) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditTimeout)
	defer cancel()
	var err error
	if s.AccessLog != nil {
		err = s.AccessLog.Record(ctx, rec)
	} else {
		err = s.DB.RecordAccess(ctx, rec)
	}
	if err != nil {
		s.Log.ErrorContext(r.Context(), "access record not written", "action", rec.Action, "status", rec.Status,
			"api_key_id", rec.APIKeyID, "error", err)
	}
	return err
}

// pathResource is the {id} of the route when it is a UUID (anything else
// cannot name a resource, and is not kept).
func pathResource(r *http.Request) []string {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return nil
	}
	return []string{id}
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// bufferedResponse holds a handler's answer until its access record is
// written.
type bufferedResponse struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	real     http.ResponseWriter
	record   func(status int, ids []string) store.AccessRecord
	save     func(status int) error
	streamed bool
	// written is the status of the record the handler wrote in its own
	// commit (accessWritten), 0 if none. Should the handler answer another
	// status after all, the usual record is written as well.
	written int
}

// pendingAccess is the access record of the request w answers if the
// answer is status, with ids among its resources, for the handler to write
// in the commit of the change it makes (store.TaskIntake); nil outside the
// audit. Once that commit succeeded, the handler calls accessWritten.
func pendingAccess(w http.ResponseWriter, status int, ids ...string) *store.AccessRecord {
	b, ok := w.(*bufferedResponse)
	if !ok {
		return nil
	}
	rec := b.record(status, ids)
	return &rec
}

// accessWritten says the record pendingAccess gave for status is committed.
func accessWritten(w http.ResponseWriter, status int) {
	if b, ok := w.(*bufferedResponse); ok {
		b.written = status
	}
}

// streamAfterRecord is for an answer too large to hold that carries no
// patient data (the audit export): it writes the access record now, as a
// 200, and returns the writer to stream the answer to. A handler that
// fails later can only abort the response.
func streamAfterRecord(w http.ResponseWriter) (http.ResponseWriter, error) {
	b, ok := w.(*bufferedResponse)
	if !ok {
		return w, nil
	}
	if err := b.save(http.StatusOK); err != nil {
		return nil, err
	}
	b.streamed = true
	h := b.real.Header()
	for k, v := range b.header {
		h[k] = v
	}
	return b.real, nil
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedResponse) statusCode() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

func (b *bufferedResponse) flushTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	w.WriteHeader(b.statusCode())
	_, _ = w.Write(b.body.Bytes())
}
