package sim

import (
	"net/http"
	"slices"
	"time"
)

// serveGPConnect answers one request to a practice's service root.
func (f *Federation) serveGPConnect(w http.ResponseWriter, r *http.Request, p *practice, resource string) {
	p.st.requests.Add(1)
	if f.applyFault(w, r, p) {
		return
	}
	var interaction string
	switch resource {
	case "Slot":
		interaction = interactionSlotSearch
	case "metadata":
		interaction = interactionMetadata
	default:
		writeOutcome(w, http.StatusNotFound, codeNoRecord, "This simulator serves only Slot search and metadata")
		return
	}
	if e := f.checkRequest(r, p, interaction); e != nil {
		f.log.Debug("request rejected", "ods", p.ods, "status", e.status, "spine_code", e.code, "diagnostics", e.diagnostics)
		writeError(w, e)
		return
	}
	if resource == "metadata" {
		writeFHIR(w, http.StatusOK, capabilityJSON)
		return
	}
	sq, e := parseSlotQuery(r.URL.RawQuery)
	if e != nil {
		f.log.Debug("slot search rejected", "ods", p.ods, "status", e.status, "spine_code", e.code, "diagnostics", e.diagnostics)
		writeError(w, e)
		return
	}
	body, err := encodeBundle(f.slotBundle(p, sq))
	if err != nil {
		writeOutcome(w, http.StatusInternalServerError, codeInternal, "encode bundle: "+err.Error())
		return
	}
	writeFHIR(w, http.StatusOK, body)
}

func (f *Federation) checkRequest(r *http.Request, p *practice, interaction string) *apiError {
	if r.Method != http.MethodGet {
		return &apiError{status: http.StatusMethodNotAllowed, code: codeBadRequest, diagnostics: "Only GET is supported here"}
	}
	if e := checkHeaders(r, p, interaction); e != nil {
		return e
	}
	return checkJWT(r, f.serviceRoot(r, p), f.cfg.Now())
}

// serviceRoot is the JWT aud this practice expects. Without a configured BaseURL it trusts the
// request's Host, so the simulator also works behind an unknown listener.
func (f *Federation) serviceRoot(r *http.Request, p *practice) string {
	base := f.BaseURL()
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + "/" + p.ods + "/STU3/1/gpconnect"
}

// slotBundle assembles the searchset: slots in start order, then the Schedules they reference,
// then the included Practitioners and Locations, then the Organization.
func (f *Federation) slotBundle(p *practice, sq *slotQuery) bundle {
	b := bundle{ResourceType: "Bundle", Type: "searchset", Entry: []bundleEntry{}}
	var scheds []int
	seen := make(map[int]bool)
	f.visibleSlots(p, sq.start, sq.end, sq.filter, func(s *slot) bool {
		b.Entry = append(b.Entry, bundleEntry{Resource: p.slotResource(s)})
		if !seen[s.sched] {
			seen[s.sched] = true
			scheds = append(scheds, s.sched)
		}
		return true
	})
	if len(scheds) == 0 {
		return b
	}
	slices.Sort(scheds)
	first, last := f.horizon()
	horizon := period{Start: first.Format(fhirDateTime), End: last.AddDate(0, 0, 1).Format(fhirDateTime)}
	var staff, sites []int
	for _, si := range scheds {
		b.Entry = append(b.Entry, bundleEntry{Resource: p.scheduleResource(si, horizon)})
		s := &p.schedules[si]
		if s.staff >= 0 && !slices.Contains(staff, s.staff) {
			staff = append(staff, s.staff)
		}
		if !slices.Contains(sites, s.site) {
			sites = append(sites, s.site)
		}
	}
	slices.Sort(staff)
	slices.Sort(sites)
	if sq.practitioners {
		for _, i := range staff {
			b.Entry = append(b.Entry, bundleEntry{Resource: p.practitionerResource(i)})
		}
	}
	if sq.locations {
		for _, i := range sites {
			b.Entry = append(b.Entry, bundleEntry{Resource: p.locationResource(i)})
		}
	}
	b.Entry = append(b.Entry, bundleEntry{Resource: p.organizationResource()})
	return b
}

// SearchBody is the body the simulated practice ods answers a Slot search of [start, end] with
// (every include, consumer filter sf), without the HTTP exchange: for benchmarks that need the
// provider's bytes themselves.
func (f *Federation) SearchBody(ods string, start, end time.Time, sf SearchFilter) ([]byte, bool) {
	p := f.byODS[ods]
	if p == nil {
		return nil, false
	}
	b, err := encodeBundle(f.slotBundle(p, &slotQuery{start: start, end: end, practitioners: true, locations: true, filter: sf}))
	return b, err == nil
}
