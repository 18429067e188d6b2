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
	// AccessLog writes access records in groups; it must be running while
	// the server serves. nil writes each record on its own.
	AccessLog *AccessLog
	// Waker wakes the delivery engine after other commits that create
	// deliveries (acknowledgements); nil leaves them to the sweeper.
	Waker      *queue.Waker
	Inspector  *asynq.Inspector // may be nil: readiness then skips Redis
	TaskMaxAge time.Duration
	Now        func() time.Time
	// SessionTTL bounds a dashboard login (default 8h).
	SessionTTL time.Duration
	// LowCapacityDays is GPFED_LOW_CAPACITY_DAYS, the span each practice's
	// low-capacity threshold covers; the planning view spreads the
	// threshold over it (default 7).
	LowCapacityDays int
	// KeyCacheTTL, when positive, caches valid API keys that long in this
	// process (a revoked key keeps working for at most the TTL).
	KeyCacheTTL time.Duration
	// InsecureCookies drops the Secure flag from dashboard cookies: only
	// for a dashboard served over plain http on a loopback address (the
	// demo, tests). Direct TLS always sets it.
	InsecureCookies bool
	// SessionIdle ends a dashboard session unused this long (default 30m).
	SessionIdle time.Duration
	// RateLimitPerMinute bounds requests per API key when the key's
	// practice has no limit of its own (0: unlimited).
	RateLimitPerMinute int
	// Booking books and cancels appointments; nil leaves the booking
	// routes out (GET /v1/slots is always served).
	Booking *booking.Service

	keysOnce   sync.Once
	keys       *keyCache
	limitsOnce sync.Once
	limits     *keyLimiter
	cursorMu   sync.Mutex
	cursorKey  []byte
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
	s.routesAudit(mux)
	mux.HandleFunc("/", s.notFound)
	return s.withRecover(withSecurityHeaders(mux))
}

// OpsHandler serves /metrics, /readyz and /healthz for the operations
// listener (GPFED_METRICS_ADDR), away from the public API: queue sizes,
// task counts and dependency health are for the federation's monitoring,
// not for anyone who can reach the API.
func (s *Server) OpsHandler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	mux := http.NewServeMux()
	s.routesOpsListener(mux)
	mux.HandleFunc("/", s.notFound)
	return s.withRecover(withSecurityHeaders(mux))
}

// routesOpsListener registers the operations listener's routes.
func (s *Server) routesOpsListener(mux router) {
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", s.metricsHandler())
}

// withSecurityHeaders sets what every response needs: API answers carry
// patient data, so nothing may cache them or sniff their type, and
// nothing may frame them. Pages set their own stricter policy on top.
func withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// notFound answers unknown paths as a problem, like every other API error.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeProblem(w, http.StatusNotFound, "Not Found", "no such endpoint; see docs/API.md", nil)
}

func (s *Server) withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v) // a deliberate abort: net/http drops the connection quietly
				}
				s.Log.ErrorContext(r.Context(), "handler panic", "path", r.URL.Path, "panic", v)
				writeProblem(w, http.StatusInternalServerError, "Internal Server Error", "the request failed", nil)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
