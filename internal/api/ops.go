package api

import "net/http"

// routesOps registers the admin API, dashboard, health and metrics.
// Placeholder until the operations surface lands (issue 4).
func (s *Server) routesOps(mux *http.ServeMux) {}
