package api

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gpfed/gpfed/internal/capacity"
	"github.com/gpfed/gpfed/internal/store"
)

// handleCapacity serves GET /v1/capacity: the same rows as `gpfed capacity`,
// as JSON or (Accept: text/csv) CSV.
func (s *Server) handleCapacity(w http.ResponseWriter, r *http.Request) {
	asCSV, ok := wantsCSV(r.Header.Get("Accept"))
	if !ok {
		writeProblem(w, http.StatusNotAcceptable, "Not Acceptable", "capacity is available as application/json or text/csv", nil)
		return
	}
	f, errs := s.capacityFilter(r)
	if len(errs) == 0 && len(f.Practices) > 0 {
		s.checkMembers(r, f.Practices, errs)
	}
	if len(errs) > 0 {
		writeProblem(w, http.StatusBadRequest, "Bad Request", "some query parameters are invalid; see errors", errs)
		return
	}
	rows, err := s.DB.Capacity(r.Context(), f)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	if asCSV {
		name := fmt.Sprintf("capacity-%s-to-%s.csv", f.From.Format(time.DateOnly), f.To.Format(time.DateOnly))
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		w.Header().Set("Vary", "Accept")
		if err := capacity.WriteCSV(w, rows); err != nil {
			s.Log.WarnContext(r.Context(), "write capacity csv", "error", err)
		}
		return
	}
	w.Header().Set("Vary", "Accept")
	writeJSON(w, http.StatusOK, rows)
}

func (s *Server) capacityFilter(r *http.Request) (store.CapacityFilter, paramErrors) {
	q := r.URL.Query()
	errs := paramErrors{}
	rejectUnknown(q, errs, "from", "to", "practice", "role", "channel", "site")
	var f store.CapacityFilter
	f.From, f.To = dateRange(q, s.todayUK(), errs)
	f.Practices = practiceCodes(q, errs)
	f.Role = shortText(q, "role", 64, errs)
	f.DeliveryChannel = shortText(q, "channel", 64, errs)
	f.Site = shortText(q, "site", 200, errs)
	return f, errs
}

// checkMembers flags practice codes that are not active federation members,
// so a mistyped code is an error rather than an empty answer.
func (s *Server) checkMembers(r *http.Request, codes []string, errs paramErrors) {
	ps, err := s.DB.PracticeStatuses(r.Context(), false)
	if err != nil {
		return // the capacity query reports the outage
	}
	active := make(map[string]bool, len(ps))
	for _, p := range ps {
		active[p.ODSCode] = true
	}
	var missing []string
	for _, c := range codes {
		if !active[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		errs.add("practice", "not an active federation member: %s", strings.Join(missing, ", "))
	}
}

// wantsCSV negotiates the capacity format. It reports false in ok when the
// client accepts neither JSON nor CSV.
func wantsCSV(accept string) (csvOut, ok bool) {
	if strings.TrimSpace(accept) == "" {
		return false, true
	}
	var jsonQ, csvQ float64 = -1, -1
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, err := strconv.ParseFloat(params["q"], 64); err == nil {
			q = v
		}
		switch mt {
		case "text/csv":
			csvQ = max(csvQ, q)
		case "application/json", "application/*", "*/*":
			jsonQ = max(jsonQ, q)
		case "text/*":
			csvQ = max(csvQ, q)
		}
	}
	switch {
	case csvQ > 0 && csvQ > jsonQ:
		return true, true
	case jsonQ > 0:
		return false, true
	}
	return false, false
}
