package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/gpfed/gpfed/internal/booking"
)

// router is what the route files register on: the server's
// *http.ServeMux, or the recorder behind Routes.
type router interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
	Handle(pattern string, handler http.Handler)
}

// routeRecorder keeps the patterns it is given and serves nothing.
type routeRecorder struct{ patterns []string }

func (r *routeRecorder) HandleFunc(pattern string, _ func(http.ResponseWriter, *http.Request)) {
	r.patterns = append(r.patterns, pattern)
}

func (r *routeRecorder) Handle(pattern string, _ http.Handler) {
	r.patterns = append(r.patterns, pattern)
}

// Routes lists every pattern Handler and OpsHandler register for the API
// ("GET /v1/tasks", health and metrics included) and for the dashboard's HTML
// pages, from the same route functions, method-less 405 fallbacks left
// out. The test that keeps docs/openapi.yaml complete compares api with
// the document, so a route added without its description fails it.
func Routes() (api, pages []string) {
	// A booking service only so that the booking routes are registered (serve always has one).
	s := &Server{Now: time.Now, Booking: &booking.Service{}}
	var all, dash routeRecorder
	s.routesTasks(&all)
	s.routesBookings(&all)
	s.routesOps(&all)
	s.routesAudit(&all)
	s.routesOpsListener(&all)
	s.routesDashboard(&dash)
	isPage := map[string]bool{}
	for _, p := range dash.patterns {
		isPage[p] = true
	}
	seen := map[string]bool{}
	for _, p := range all.patterns {
		if seen[p] {
			continue // GET /healthz is on both listeners
		}
		seen[p] = true
		switch {
		case !strings.Contains(p, " "): // a 405 fallback
		case isPage[p]:
			pages = append(pages, p)
		default:
			api = append(api, p)
		}
	}
	return api, pages
}
