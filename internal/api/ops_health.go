package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func promHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, Timeout: 10 * time.Second, MaxRequestsInFlight: 4,
	})
}

// handleHealthz reports that the process is alive and serving; it checks no
// dependency, so a database outage never gets the process restarted.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status string           `json:"status"` // ready | not_ready
	Checks map[string]check `json:"checks"`
}

type check struct {
	Status string `json:"status"` // ok | failed | skipped
	Detail string `json:"detail,omitempty"`
}

// handleReadyz answers 200 only when Postgres answers, Redis answers (when
// the server has a queue inspector) and the schema has every migration.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	res := readiness{Status: "ready", Checks: map[string]check{
		"postgres":   s.checkPostgres(ctx),
		"redis":      s.checkRedis(ctx),
		"migrations": s.checkMigrations(ctx),
	}}
	status := http.StatusOK
	for _, c := range res.Checks {
		if c.Status == "failed" {
			res.Status, status = "not_ready", http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, res)
}

func (s *Server) checkPostgres(ctx context.Context) check {
	if err := s.DB.Ping(ctx); err != nil {
		s.Log.WarnContext(ctx, "readiness: postgres", "error", err)
		return check{Status: "failed", Detail: "postgres unreachable"}
	}
	return check{Status: "ok"}
}

func (s *Server) checkRedis(ctx context.Context) check {
	if s.Inspector == nil {
		return check{Status: "skipped", Detail: "no queue configured"}
	}
	// Queues() is one SMEMBERS round trip; the inspector has no ping and
	// takes no context, so the deadline is enforced here.
	errc := make(chan error, 1)
	go func() { _, err := s.Inspector.Queues(); errc <- err }()
	select {
	case err := <-errc:
		if err != nil {
			s.Log.WarnContext(ctx, "readiness: redis", "error", err)
			return check{Status: "failed", Detail: "redis unreachable"}
		}
		return check{Status: "ok"}
	case <-ctx.Done():
		return check{Status: "failed", Detail: "redis did not answer in time"}
	}
}

func (s *Server) checkMigrations(ctx context.Context) check {
	pending, err := s.DB.PendingMigrations(ctx)
	if err != nil {
		return check{Status: "failed", Detail: "cannot read schema_migrations"}
	}
	if len(pending) > 0 {
		return check{Status: "failed", Detail: "pending migrations: " + strings.Join(pending, ", ") + " (run gpfed migrate)"}
	}
	return check{Status: "ok"}
}
