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
)

// Server holds what the handlers need.
type Server struct {
	DB  *store.DB
	Log *slog.Logger
	// Enqueuer queues an accepted task right after its commit; its outbox
	// row lets the relay take over if that fails. May be nil: the outbox
	// relay then moves accepted work at once.
	Enqueuer *asynq.Client
	// TaskTimeout is asynq's per-attempt timeout for the entries it queues.
	TaskTimeout time.Duration
	Inspector   *asynq.Inspector // may be nil: readiness then skips Redis
	TaskMaxAge  time.Duration
	Now         func() time.Time
	// Kick, when set, wakes the outbox relay after a commit (lower latency).
	Kick func()
	// SessionTTL bounds a dashboard login (default 8h).
	SessionTTL time.Duration
	// SecureCookies forces the Secure cookie flag when TLS terminates at a
	// proxy in front of gpfed; it is set automatically for direct TLS.
	SecureCookies bool
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
