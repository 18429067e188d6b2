package api

import (
	"context"
	"net/http"
	"time"
	_ "time/tzdata" // UK dates must not depend on the host's zoneinfo (scratch images have none)

	"github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"

	gpmetrics "github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/store"
)

// london is the zone every capacity date is reckoned in.
var london = mustLoadLondon()

func mustLoadLondon() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic("load Europe/London: " + err.Error())
	}
	return loc
}

// routesOps registers the federation-admin API, the dashboard, health
// endpoints and /metrics.
func (s *Server) routesOps(mux router) {
	if s.SessionTTL <= 0 {
		s.SessionTTL = 8 * time.Hour
	}
	admin := func(h http.HandlerFunc) http.HandlerFunc { return s.requireRole(store.RoleAdmin, h) }
	mux.HandleFunc("GET /v1/capacity", admin(s.handleCapacity))
	mux.HandleFunc("GET /v1/practices", admin(s.handlePractices))
	mux.HandleFunc("GET /v1/sync-runs", admin(s.handleSyncRuns))
	mux.HandleFunc("GET /v1/sync-runs/{id}", admin(s.handleSyncRun))
	mux.HandleFunc("GET /v1/admin/notifications", admin(s.listAdminNotifications))
	mux.HandleFunc("POST /v1/admin/notifications/{id}/ack", admin(s.ackAdminNotification))

	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", s.metricsHandler())

	s.routesDashboard(mux)
}

// metricsHandler serves the process-wide registry plus this server's
// scrape-time collectors (database gauges, asynq queues). They live in a
// registry of their own so that several servers (tests) never collide.
func (s *Server) metricsHandler() http.Handler {
	local := prometheus.NewRegistry()
	dbc := gpmetrics.NewDBCollector(s.metricsSnapshot, 5*time.Second, s.Log)
	dbc.Now = s.Now
	local.MustRegister(dbc)
	if s.Inspector != nil {
		local.MustRegister(metrics.NewQueueMetricsCollector(s.Inspector))
	}
	return promHandler(prometheus.Gatherers{gpmetrics.Registry, local})
}

func (s *Server) metricsSnapshot(ctx context.Context) (gpmetrics.Snapshot, error) {
	f, err := s.DB.TaskFlowSummary(ctx)
	if err != nil {
		return gpmetrics.Snapshot{}, err
	}
	g, err := s.DB.SyncGaugeSummary(ctx)
	if err != nil {
		return gpmetrics.Snapshot{}, err
	}
	eps, err := s.DB.EndpointStatuses(ctx)
	if err != nil {
		return gpmetrics.Snapshot{}, err
	}
	gauges := make([]gpmetrics.EndpointGauge, 0, len(eps))
	for _, e := range eps {
		gauges = append(gauges, gpmetrics.EndpointGauge{ODS: e.ODSCode, Open: e.State == store.CircuitOpen,
			InFlight: e.InFlight, Queued: e.Queued})
	}
	return gpmetrics.Snapshot{
		TasksByState: f.TasksByState, NotificationsByState: f.NotificationsByState,
		OldestUndelivered: f.OldestUndelivered, OldestPendingNotification: f.OldestPendingNotification,
		QueueBacklog: f.QueueBacklog, Endpoints: gauges, ActivePractices: g.ActivePractices,
		StalePractices: g.StalePractices, NeverSynced: g.NeverSynced, LastCompletedRunAt: g.LastCompletedRunAt,
	}, nil
}

// todayUK is the UK local date of now, at midnight in London.
func (s *Server) todayUK() time.Time {
	n := s.Now().In(london)
	return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, london)
}
