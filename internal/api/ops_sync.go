package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// practiceJSON is a practice with its sync and delivery status in GET /v1/practices.
type practiceJSON struct {
	ODSCode string `json:"ods_code"`
	Name    string `json:"name"`
	Active  bool   `json:"active"`
	// LowCapacityThresholdMinutes is the practices CSV's threshold (free
	// minutes over GPFED_LOW_CAPACITY_DAYS), null when it has none.
	LowCapacityThresholdMinutes *int         `json:"low_capacity_threshold_minutes"`
	Sync                        syncJSON     `json:"sync"`
	Delivery                    deliveryJSON `json:"delivery"`
}

// deliveryJSON is the practice's endpoint as the delivery engine sees it:
// its circuit and its queue.
type deliveryJSON struct {
	// Circuit is closed (deliveries flow) or open (deferred until next_probe_at).
	Circuit             string     `json:"circuit"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	OpenedAt            *time.Time `json:"opened_at,omitempty"`
	NextProbeAt         *time.Time `json:"next_probe_at,omitempty"`
	LastStatus          *int       `json:"last_status,omitempty"`
	LastError           *string    `json:"last_error,omitempty"`
	LastFailureAt       *time.Time `json:"last_failure_at,omitempty"`
	InFlight            int        `json:"in_flight"`
	Queued              int        `json:"queued"`
	OldestQueuedAt      *time.Time `json:"oldest_queued_at,omitempty"`
}

func toDeliveryJSON(e store.EndpointStatus) deliveryJSON {
	d := deliveryJSON{Circuit: e.State, ConsecutiveFailures: e.ConsecutiveFailures, InFlight: e.InFlight, Queued: e.Queued,
		LastFailureAt: utc(e.LastFailureAt), OldestQueuedAt: utc(e.OldestQueued), LastError: nullable(e.LastError)}
	if d.Circuit == "" {
		d.Circuit = store.CircuitClosed
	}
	if e.State == store.CircuitOpen {
		d.OpenedAt, d.NextProbeAt = utc(e.OpenedAt), utc(e.NextProbeAt)
	}
	if e.LastStatus != 0 {
		d.LastStatus = &e.LastStatus
	}
	return d
}

type syncJSON struct {
	// Status is ok (last fetch succeeded), stale (last fetch failed; the
	// previous snapshot is served), not_enabled (SDS lists no GP Connect
	// slot search endpoint for the practice; any previous snapshot is
	// served, marked stale) or never (no fetch has succeeded yet).
	Status string `json:"status"`
	// EndpointSource is sds (resolved at every run) or override (the
	// practices CSV's endpoint and ASID).
	EndpointSource  string         `json:"endpoint_source"`
	NotEnabledSince *time.Time     `json:"not_enabled_since,omitempty"`
	LastRunID       *int64         `json:"last_run_id,omitempty"`
	LastAttemptAt   *time.Time     `json:"last_attempt_at,omitempty"`
	LastSuccessAt   *time.Time     `json:"last_success_at,omitempty"`
	StaleSince      *time.Time     `json:"stale_since,omitempty"`
	WindowFrom      string         `json:"window_from,omitempty"`
	WindowTo        string         `json:"window_to,omitempty"` // exclusive
	SlotCount       int            `json:"slot_count"`
	LastError       *syncErrorJSON `json:"last_error,omitempty"`
}

type syncErrorJSON struct {
	HTTPStatus  *int   `json:"http_status,omitempty"` // absent for timeouts and network errors
	SpineCode   string `json:"spine_code,omitempty"`
	Diagnostics string `json:"diagnostics,omitempty"`
}

// syncStatus is never before stale: a practice whose fetches have all
// failed has no snapshot to serve, so its capacity is unknown, not stale.
func syncStatus(p store.PracticeStatus) string {
	switch {
	case p.NotEnabledSince != nil:
		return "not_enabled"
	case p.LastSuccessAt == nil:
		return "never"
	case p.Stale:
		return "stale"
	}
	return "ok"
}

func toPracticeJSON(p store.PracticeStatus) practiceJSON {
	source := "sds"
	if p.HasOverride {
		source = "override"
	}
	out := practiceJSON{ODSCode: p.ODSCode, Name: p.Name, Active: p.Active, LowCapacityThresholdMinutes: p.ThresholdMinutes, Sync: syncJSON{
		Status: syncStatus(p), EndpointSource: source, NotEnabledSince: p.NotEnabledSince,
		LastRunID: p.LastRunID, LastAttemptAt: p.LastAttemptAt,
		LastSuccessAt: p.LastSuccessAt, StaleSince: p.StaleSince, WindowFrom: p.WindowFrom,
		WindowTo: p.WindowTo, SlotCount: p.SlotCount,
	}}
	if p.LastHTTPStatus != nil || p.LastSpineCode != "" || p.LastError != "" {
		out.Sync.LastError = &syncErrorJSON{HTTPStatus: p.LastHTTPStatus, SpineCode: p.LastSpineCode, Diagnostics: p.LastError}
	}
	return out
}

// handlePractices serves GET /v1/practices[?include_inactive=true].
func (s *Server) handlePractices(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	errs := paramErrors{}
	rejectUnknown(q, errs, "include_inactive")
	all := false
	if v := single(q, "include_inactive", errs); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs.add("include_inactive", "must be true or false")
		}
		all = b
	}
	if len(errs) > 0 {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "some query parameters are invalid; see errors", errs)
		return
	}
	ps, err := s.DB.PracticeStatuses(r.Context(), all)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	eps, err := s.DB.EndpointStatuses(r.Context())
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	out := make([]practiceJSON, 0, len(ps))
	for _, p := range ps {
		pj := toPracticeJSON(p)
		pj.Delivery = toDeliveryJSON(eps[p.ODSCode])
		out = append(out, pj)
	}
	writeJSON(w, http.StatusOK, out)
}

type syncRunsPage struct {
	Items []store.SyncRun `json:"items"`
	// NextBefore is the cursor for the next (older) page: pass it as ?before=.
	NextBefore int64 `json:"next_before,omitempty"`
}

// handleSyncRuns serves GET /v1/sync-runs?limit=&before=, newest first.
func (s *Server) handleSyncRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	errs := paramErrors{}
	rejectUnknown(q, errs, "limit", "before")
	limit, before := 50, int64(0)
	if v := single(q, "limit", errs); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			errs.add("limit", "must be a whole number from 1 to 200")
		}
		limit = n
	}
	if v := single(q, "before", errs); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			errs.add("before", "must be a run id (a positive whole number) from next_before")
		}
		before = n
	}
	if len(errs) > 0 {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "some query parameters are invalid; see errors", errs)
		return
	}
	runs, err := s.DB.ListSyncRuns(r.Context(), limit+1, before)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	page := syncRunsPage{Items: runs}
	if len(runs) > limit {
		page.Items = runs[:limit]
		page.NextBefore = runs[limit-1].ID
		w.Header().Set("Link", `</v1/sync-runs?limit=`+strconv.Itoa(limit)+`&before=`+
			strconv.FormatInt(page.NextBefore, 10)+`>; rel="next"`)
	}
	writeJSON(w, http.StatusOK, page)
}

type outcomeJSON struct {
	ODSCode      string `json:"ods_code"`
	PracticeName string `json:"practice_name"`
	// Status is pending, ok, failed, not_enabled (no GP Connect endpoint in
	// SDS: not a failure) or skipped (another run saved the practice after
	// this one started: skipped_for_run).
	Status        string         `json:"status"`
	SkippedForRun *int64         `json:"skipped_for_run,omitempty"`
	Note          string         `json:"note,omitempty"` // why, for not_enabled and skipped
	Attempts      int            `json:"attempts"`
	Slots         *int           `json:"slots,omitempty"`
	Calls         *int           `json:"calls,omitempty"`
	DurationMS    *int           `json:"duration_ms,omitempty"`
	FinishedAt    *time.Time     `json:"finished_at,omitempty"`
	Error         *syncErrorJSON `json:"error,omitempty"`
}

type syncRunJSON struct {
	store.SyncRun
	Practices []outcomeJSON `json:"practices"`
}

// handleSyncRun serves GET /v1/sync-runs/{id}: the run and every practice's
// outcome, failed first.
func (s *Server) handleSyncRun(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "a sync run id is a positive whole number", nil)
		return
	}
	run, err := s.DB.SyncRunByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeProblem(w, http.StatusNotFound, "Not Found", "no sync run has id "+strconv.FormatInt(id, 10), nil)
		return
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	outcomes, err := s.DB.SyncRunOutcomes(r.Context(), id)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	out := syncRunJSON{SyncRun: run, Practices: make([]outcomeJSON, 0, len(outcomes))}
	for _, o := range outcomes {
		oj := outcomeJSON{ODSCode: o.ODSCode, PracticeName: o.PracticeName, Status: o.Status, Attempts: o.Attempts,
			Slots: o.Slots, Calls: o.Calls, DurationMS: o.DurationMS, FinishedAt: o.FinishedAt, SkippedForRun: o.SkippedForRun}
		switch o.Status {
		case store.OutcomeFailed:
			oj.Error = &syncErrorJSON{HTTPStatus: o.HTTPStatus, SpineCode: o.SpineCode, Diagnostics: o.Diagnostics}
		case store.OutcomeNotEnabled, store.OutcomeSkipped:
			oj.Note = o.Diagnostics
		}
		out.Practices = append(out.Practices, oj)
	}
	writeJSON(w, http.StatusOK, out)
}
