package api

import "net/http"

// routesTasks registers the practice-facing task and notification API.
// Placeholder until the task API lands (issue 3).
func (s *Server) routesTasks(mux *http.ServeMux) {}
