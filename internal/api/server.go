// Package api is gpfed's HTTP surface: the task, notification and booking
// API for practices, free slot search, the capacity/sync API and dashboard
// for federation admins, health endpoints and Prometheus metrics.
package api

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/booking"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
)

// Server holds what the handlers need.
type Server struct {
	DB  *store.DB
	Log *slog.Logger
	// Intake stores accepted tasks in groups and wakes the delivery
	// engine (queue.Intake); it must be running while the server serves.
	Intake *queue.Intake
	// Waker wakes the delivery engine after other commits that create
	// deliveries (acknowledgements); nil leaves them to the sweeper.
	Waker      *queue.Waker
	Inspector  *asynq.Inspector // may be nil: readiness then skips Redis
	TaskMaxAge time.Duration
	Now        func() time.Time
	// SessionTTL bounds a dashboard login (default 8h).
	SessionTTL time.Duration
	// SecureCookies forces the Secure cookie flag when TLS terminates at a
	// proxy in front of gpfed; it is set automatically for direct TLS.
	SecureCookies bool
	// LowCapacityDays is GPFED_LOW_CAPACITY_DAYS, the span each practice's
	// low-capacity threshold covers; the planning view spreads the
	// threshold over it (default 7).
	LowCapacityDays int
	// KeyCacheTTL, when positive, caches valid API keys that long in this
	// process (a revoked key keeps working for at most the TTL).
	KeyCacheTTL time.Duration
	// Booking books and cancels appointments; nil leaves the booking
	// routes out (GET /v1/slots is always served).
	Booking *booking.Service

	keysOnce sync.Once
	keys     *keyCache
}

// Handler builds the router. Each route group lives in its own file.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	mux := http.NewServeMux()
	s.routesTasks(mux)
	s.routesBookings(mux)
	s.routesOps(mux)
	return s.withRecover(mux)
}

func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.Log.ErrorContext(r.Context(), "handler panic", "path", r.URL.Path, "panic", v)
				writeProblem(w, http.StatusInternalServerError, "Internal Server Error", "the request failed", nil)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
