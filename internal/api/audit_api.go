package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/audit"
	"github.com/gpfed/gpfed/internal/store"
)

// maxAuditExport bounds one CSV export; narrow the filters for more.
const maxAuditExport = 1_000_000

// routesAudit registers the federation admin's access-log endpoint.
func (s *Server) routesAudit(mux router) {
	mux.HandleFunc("GET /v1/audit", s.audited(store.RoleAdmin, "audit.read", s.handleAudit))
}

type accessJSON struct {
	ID           int64     `json:"id"`
	At           time.Time `json:"at"`
	ActorRole    string    `json:"actor_role"`
	ODSCode      *string   `json:"ods_code"`
	APIKeyID     *string   `json:"api_key_id"`
	KeyPrefix    *string   `json:"key_prefix"`
	Action       string    `json:"action"`
	Method       string    `json:"method"`
	Route        string    `json:"route"`
	ResourceIDs  []string  `json:"resource_ids"`
	Status       int       `json:"status"`
	Reason       *string   `json:"reason"`
	RemoteAddr   string    `json:"remote_addr"`
	ForwardedFor *string   `json:"forwarded_for"`
}

func toAccessJSON(r store.AccessRecord) accessJSON {
	out := accessJSON{ID: r.ID, At: r.At.UTC(), ActorRole: r.ActorRole, ODSCode: nullable(r.ODSCode),
		KeyPrefix: nullable(r.KeyPrefix), Action: r.Action, Method: r.Method, Route: r.Route, ResourceIDs: r.ResourceIDs,
		Status: r.Status, Reason: nullable(r.Reason), RemoteAddr: r.RemoteAddr, ForwardedFor: nullable(r.ForwardedFor)}
	if r.APIKeyID != uuid.Nil {
		id := r.APIKeyID.String()
		out.APIKeyID = &id
	}
	if out.ResourceIDs == nil {
		out.ResourceIDs = []string{}
	}
	return out
}

// handleAudit answers GET /v1/audit: access records newest first, filtered
// (audit.Params), one page of JSON, or every match as CSV with Accept:
// text/csv (or format=csv) for an information-governance review.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeRequestError(w, &requestError{status: http.StatusBadRequest, detail: "the query string is malformed"})
		return
	}
	if name, reason := unknownParam(v, append(audit.Params, "limit", "cursor", "format")); name != "" {
		writeRequestError(w, badParam(name, reason))
		return
	}
	if f := v.Get("format"); f != "" && f != "csv" && f != "json" {
		writeRequestError(w, badParam("format", "must be csv or json"))
		return
	}
	f, errs := audit.ParseFilter(v, london)
	if len(errs) > 0 {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "fix the query parameters named in errors", errs)
		return
	}
	csvOut, ok := wantsCSV(r.Header.Get("Accept"))
	if !ok {
		writeProblem(w, http.StatusNotAcceptable, "Not Acceptable", "this endpoint answers application/json or text/csv", nil)
		return
	}
	if v.Get("format") == "csv" || (csvOut && v.Get("format") != "json") {
		s.auditCSV(w, r, f)
		return
	}
	if rerr := s.auditPage(r, v, &f); rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	recs, err := s.DB.ListAccess(r.Context(), f)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	out := pageJSON[accessJSON]{Items: []accessJSON{}}
	if limit := f.Limit - 1; len(recs) > limit { // auditPage asked for one more than the page
		recs = recs[:limit]
		c, err := s.auditCursor(r, recs[len(recs)-1].ID)
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		out.NextCursor = &c
	}
	for _, rec := range recs {
		out.Items = append(out.Items, toAccessJSON(rec))
	}
	writeJSON(w, http.StatusOK, out)
}

// auditPage applies limit (default 100, at most 1000; one more is read to
// know whether a next page exists) and cursor to f.
func (s *Server) auditPage(r *http.Request, v url.Values, f *store.AccessFilter) *requestError {
	limit := 100
	if v.Has("limit") {
		n, err := strconv.Atoi(v.Get("limit"))
		if err != nil || n < 1 || n > 1000 {
			return badParam("limit", "must be a whole number from 1 to 1000")
		}
		limit = n
	}
	f.Limit = limit + 1
	if !v.Has("cursor") {
		return nil
	}
	mac, err := s.cursorMAC(r)
	if err != nil {
		return &requestError{status: http.StatusServiceUnavailable, detail: "the database is unreachable; retry later"}
	}
	raw, err := base64.RawURLEncoding.DecodeString(v.Get("cursor"))
	body, sig, ok := strings.Cut(string(raw), "~")
	id, perr := strconv.ParseInt(strings.TrimPrefix(body, "audit."), 10, 64)
	if err != nil || !ok || !strings.HasPrefix(body, "audit.") || perr != nil || sig != mac(body) {
		return badParam("cursor", "is not a cursor from this list; pass next_cursor back unchanged")
	}
	f.BeforeID = id
	return nil
}

func (s *Server) auditCursor(r *http.Request, id int64) (string, error) {
	mac, err := s.cursorMAC(r)
	if err != nil {
		return "", err
	}
	body := "audit." + strconv.FormatInt(id, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(body + "~" + mac(body))), nil
}

// auditCSV streams every matching record (up to maxAuditExport). The
// export's own access record is written before the first byte; a
// database failure mid-stream aborts the response, so a truncated export
// never looks complete.
func (s *Server) auditCSV(w http.ResponseWriter, r *http.Request, f store.AccessFilter) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="gpfed-access-%s.csv"`, s.Now().UTC().Format("20060102T150405Z")))
	out, err := streamAfterRecord(w)
	if err != nil {
		w.Header().Del("Content-Disposition")
		writeProblem(w, http.StatusServiceUnavailable, "Service Unavailable",
			"the access could not be recorded, so nothing was released; retry later", nil)
		return
	}
	cw, err := audit.NewCSVWriter(out)
	if err == nil {
		_, err = audit.Export(r.Context(), func(f store.AccessFilter) ([]store.AccessRecord, error) {
			return s.DB.ListAccess(r.Context(), f)
		}, f, cw, 5000, maxAuditExport)
	}
	if err == nil {
		err = cw.Flush()
	}
	if err != nil {
		s.Log.ErrorContext(r.Context(), "audit export aborted", "error", err)
		panic(http.ErrAbortHandler)
	}
}

// unknownParam names the first parameter not in allowed, or one given twice.
func unknownParam(v url.Values, allowed []string) (string, string) {
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	for name, vals := range v {
		if !ok[name] {
			return quoteField(name), "is not a parameter of this endpoint"
		}
		if len(vals) > 1 {
			return name, "must be given at most once"
		}
	}
	return "", ""
}
