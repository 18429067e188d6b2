package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// routesDashboard registers the server-rendered dashboard. Every page but
// the login form needs a session; GET / is the exact root only.
func (s *Server) routesDashboard(mux router) {
	mux.HandleFunc("GET /login", s.handleLoginPage)
	mux.HandleFunc("POST /login", s.handleLogin)
	mux.HandleFunc("POST /logout", s.requireSession(s.handleLogout))
	mux.HandleFunc("GET /{$}", s.requireSession(s.handleHeatmap))
	mux.HandleFunc("GET /practices/{ods}", s.requireSession(s.handlePracticePage))
	mux.HandleFunc("GET /sync", s.requireSession(s.handleSyncPage))
	mux.HandleFunc("GET /sync/runs/{id}", s.requireSession(s.handleRunPage))
	mux.HandleFunc("GET /tasks", s.requireSession(s.handleTasksPage))
	mux.HandleFunc("GET /trend", s.requireSession(s.handleTrend))
	mux.HandleFunc("GET /report", s.requireSession(s.handleReport))
	mux.HandleFunc("GET /report.csv", s.requireSession(s.handleReportCSV))
}

// staleAfter flags a practice whose last success is this old even though
// its last attempt did not fail (for example it was left out of recent runs).
const staleAfter = 36 * time.Hour

type statusRow struct {
	store.PracticeStatus
	Label, Class string
	rank         int
}

func classifyPractice(p store.PracticeStatus, now time.Time) statusRow {
	switch {
	case p.NotEnabledSince != nil:
		// Its own state, not a failure: SDS lists no GP Connect slot search endpoint for it.
		return statusRow{p, "Not GP Connect enabled (SDS)", "warn", 2}
	case p.LastSuccessAt == nil && p.Stale:
		return statusRow{p, "Never synced: fetches failing, capacity unknown", "bad", 0}
	case p.LastSuccessAt == nil:
		return statusRow{p, "Never synced, capacity unknown", "bad", 1}
	case p.Stale:
		return statusRow{p, "Failing, serving stale data", "bad", 0}
	case now.Sub(*p.LastSuccessAt) > staleAfter:
		return statusRow{p, "Out of date", "warn", 3}
	}
	return statusRow{p, "OK", "ok", 4}
}

// attentionOrder puts failing and stale practices first, oldest problem first.
func attentionOrder(ps []store.PracticeStatus, now time.Time) []statusRow {
	out := make([]statusRow, 0, len(ps))
	for _, p := range ps {
		out = append(out, classifyPractice(p, now))
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		ta, tb := sinceOf(a), sinceOf(b)
		if !ta.Equal(tb) {
			return ta.Before(tb)
		}
		return a.ODSCode < b.ODSCode
	})
	return out
}

func sinceOf(r statusRow) time.Time {
	if r.NotEnabledSince != nil {
		return *r.NotEnabledSince
	}
	if r.StaleSince != nil {
		return *r.StaleSince
	}
	if r.LastSuccessAt != nil {
		return *r.LastSuccessAt
	}
	return time.Time{}
}

type syncView struct {
	pageBase
	Now       time.Time
	Last      *store.SyncRun
	Practices []statusRow
	Attention int
	Runs      []store.SyncRun
}

func (s *Server) handleSyncPage(w http.ResponseWriter, r *http.Request) {
	ps, err := s.DB.PracticeStatuses(r.Context(), false)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	runs, err := s.DB.ListSyncRuns(r.Context(), 15, 0)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	v := &syncView{pageBase: pageBase{Title: "Sync health", Nav: "sync"}, Now: s.Now(), Runs: runs,
		Practices: attentionOrder(ps, s.Now())}
	if len(runs) > 0 {
		v.Last = &runs[0]
	}
	for _, p := range v.Practices {
		if p.Class != "ok" {
			v.Attention++
		}
	}
	s.render(w, r, http.StatusOK, "sync", v)
}

type runView struct {
	pageBase
	Now      time.Time
	Run      store.SyncRun
	Outcomes []store.SyncOutcome
}

func (s *Server) handleRunPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		s.renderError(w, r, http.StatusBadRequest, "Bad run id", "A sync run id is a positive whole number.")
		return
	}
	run, err := s.DB.SyncRunByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.renderError(w, r, http.StatusNotFound, "No such sync run", "There is no sync run #"+strconv.FormatInt(id, 10)+".")
		return
	}
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	outcomes, err := s.DB.SyncRunOutcomes(r.Context(), id)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "run", &runView{pageBase: pageBase{Title: "Sync run #" + strconv.FormatInt(id, 10), Nav: "sync"},
		Now: s.Now(), Run: run, Outcomes: outcomes})
}

// runDuration is how long a run took, or has been running.
func runDuration(now time.Time, r store.SyncRun) string {
	end := now
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	return durationText(end.Sub(r.StartedAt))
}

type stateBar struct {
	State string
	Count int
	Width int // px of a 200 px bar
}

type tasksView struct {
	pageBase
	Now                   time.Time
	Flow                  store.TaskFlow
	Tasks, Notifications  []stateBar
	Failed                []store.FailedDelivery
	Waiting               []store.WaitingDelivery
	Endpoints             []store.EndpointStatus // open circuits, failures or work waiting
	Alerts                []store.Notification   // unacknowledged admin notifications
	TotalTasks, TotalNtfs int
}

func bars(states []string, counts map[string]int) ([]stateBar, int) {
	total, top := 0, 0
	for _, s := range states {
		total += counts[s]
		top = max(top, counts[s])
	}
	out := make([]stateBar, 0, len(states))
	for _, s := range states {
		b := stateBar{State: s, Count: counts[s]}
		if top > 0 && b.Count > 0 {
			b.Width = max(2, 200*b.Count/top)
		}
		out = append(out, b)
	}
	return out, total
}

func (s *Server) handleTasksPage(w http.ResponseWriter, r *http.Request) {
	flow, err := s.DB.TaskFlowSummary(r.Context())
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	failed, err := s.DB.FailedDeliveries(r.Context(), 50)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	v := &tasksView{pageBase: pageBase{Title: "Task flow", Nav: "tasks"}, Now: s.Now(), Flow: flow, Failed: failed}
	if err := s.loadDeliveryState(r.Context(), v); err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	v.Tasks, v.TotalTasks = bars(store.TaskStates, flow.TasksByState)
	v.Notifications, v.TotalNtfs = bars(store.NotificationStates, flow.NotificationsByState)
	s.render(w, r, http.StatusOK, "tasks", v)
}

// shortError keeps a stored delivery error to one readable line.
func shortError(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return truncate(s, 160)
}

// loadDeliveryState adds what is on its way to the task flow page: the
// endpoints worth a look, the deliveries waiting, and the admins' alerts.
func (s *Server) loadDeliveryState(ctx context.Context, v *tasksView) error {
	eps, err := s.DB.EndpointStatuses(ctx)
	if err != nil {
		return err
	}
	for _, e := range eps {
		if e.State == store.CircuitOpen || e.ConsecutiveFailures > 0 || e.InFlight > 0 || e.Queued > 0 {
			v.Endpoints = append(v.Endpoints, e)
		}
	}
	slices.SortFunc(v.Endpoints, func(a, b store.EndpointStatus) int {
		if (a.State == store.CircuitOpen) != (b.State == store.CircuitOpen) {
			if a.State == store.CircuitOpen {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ODSCode, b.ODSCode)
	})
	if v.Waiting, err = s.DB.WaitingDeliveries(ctx, 50); err != nil {
		return err
	}
	v.Alerts, err = s.DB.ListAdminNotifications(ctx, true, nil, 20)
	return err
}
