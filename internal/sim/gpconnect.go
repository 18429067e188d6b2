package sim

import (
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Operations a practice serves, as named in Fault.Only and Federation.Calls.
const (
	OpMetadata            = "metadata"
	OpSearchSlots         = "search-slots"
	OpFindPatient         = "find-patient"
	OpRegisterPatient     = "register-patient"
	OpBook                = "book"
	OpReadAppointment     = "read-appointment"
	OpCancel              = "cancel"
	OpPatientAppointments = "patient-appointments"
)

// route is one GP Connect interaction: the Ssp-InteractionID and JWT scope it demands.
type route struct {
	op, interaction, scope string
	serve                  func(f *Federation, c *callCtx) *apiError
}

// callCtx is one accepted request.
type callCtx struct {
	w      http.ResponseWriter
	r      *http.Request
	p      *practice
	claims *jwtClaims
	args   []string // path parts after the resource type
}

var (
	routeMetadata = route{OpMetadata, interactionMetadata, scopeOrgRead, (*Federation).serveMetadata}
	routeSlots    = route{OpSearchSlots, interactionSlotSearch, scopeOrgRead, (*Federation).serveSlots}
	routeFind     = route{OpFindPatient, interactionFindPatient, scopePatRead, (*Federation).serveFindPatient}
	routeRegister = route{OpRegisterPatient, interactionRegister, scopePatWrite, (*Federation).serveRegister}
	routeBook     = route{OpBook, interactionBook, scopePatWrite, (*Federation).serveBook}
	routeRead     = route{OpReadAppointment, interactionReadAppt, scopePatRead, (*Federation).serveReadAppointment}
	routeCancel   = route{OpCancel, interactionCancel, scopePatWrite, (*Federation).serveCancel}
	routeRetrieve = route{OpPatientAppointments, interactionRetrieve, scopePatRead, (*Federation).servePatientAppointments}
)

// match finds the route for a method and the path below the service root.
func match(method string, parts []string) (route, *apiError) {
	var rt *route
	var allowed []string
	try := func(m string, r route) {
		allowed = append(allowed, m)
		if method == m {
			rt = &r
		}
	}
	switch {
	case len(parts) == 1 && parts[0] == "metadata":
		try(http.MethodGet, routeMetadata)
	case len(parts) == 1 && parts[0] == "Slot":
		try(http.MethodGet, routeSlots)
	case len(parts) == 1 && parts[0] == "Patient":
		try(http.MethodGet, routeFind)
	case len(parts) == 2 && parts[0] == "Patient" && parts[1] == "$gpc.registerpatient":
		try(http.MethodPost, routeRegister)
	case len(parts) == 1 && parts[0] == "Appointment":
		try(http.MethodPost, routeBook)
	case len(parts) == 2 && parts[0] == "Appointment" && parts[1] != "":
		try(http.MethodGet, routeRead)
		try(http.MethodPut, routeCancel)
	case len(parts) == 3 && parts[0] == "Patient" && parts[2] == "Appointment" && parts[1] != "":
		try(http.MethodGet, routeRetrieve)
	default:
		return route{}, &apiError{status: http.StatusNotFound, code: codeNoRecord,
			diagnostics: "Unknown path below the service root"}
	}
	if rt == nil {
		return route{}, &apiError{status: http.StatusMethodNotAllowed, code: codeBadRequest,
			diagnostics: "Method not allowed here; allowed: " + strings.Join(allowed, ", ")}
	}
	return *rt, nil
}

// serveGPConnect answers one request below a practice's service root.
func (f *Federation) serveGPConnect(w http.ResponseWriter, r *http.Request, p *practice, parts []string) {
	p.st.requests.Add(1)
	rt, e := match(r.Method, parts)
	if e == nil {
		p.st.count(rt.op)
	}
	lw := f.applyFault(w, r, p, rt.op)
	if lw == nil {
		return
	}
	defer lw.finish()
	w = lw
	if e != nil {
		writeError(w, e)
		return
	}
	if rt.op == OpCancel && r.Header.Get("Ssp-InteractionID") == interactionAmend {
		writeOutcome(w, http.StatusNotImplemented, codeNotImplemented, "Amend an appointment is not supported by this simulator")
		return
	}
	c := &callCtx{w: w, r: r, p: p, args: parts[1:]}
	if e := f.checkRequest(c, rt); e != nil {
		f.log.Debug("request rejected", "ods", p.ods, "op", rt.op, "status", e.status, "spine_code", e.code, "diagnostics", e.diagnostics)
		writeError(w, e)
		return
	}
	if e := rt.serve(f, c); e != nil {
		f.log.Debug("request refused", "ods", p.ods, "op", rt.op, "status", e.status, "spine_code", e.code, "diagnostics", e.diagnostics)
		writeError(w, e)
		return
	}
	lw.applied()
}

func (f *Federation) checkRequest(c *callCtx, rt route) *apiError {
	if e := checkHeaders(c.r, c.p, rt.interaction); e != nil {
		return e
	}
	if c.r.Method == http.MethodPost || c.r.Method == http.MethodPut {
		mt, _, err := mime.ParseMediaType(c.r.Header.Get(headerContentType))
		if err != nil || (mt != "application/fhir+json" && mt != "application/json+fhir") {
			return &apiError{status: http.StatusUnsupportedMediaType, code: codeBadRequest,
				diagnostics: "Content-Type must be application/fhir+json"}
		}
	}
	claims, e := checkJWT(c.r, f.serviceRoot(c.r, c.p), rt.scope, f.cfg.Now())
	c.claims = claims
	return e
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

func (f *Federation) serveMetadata(c *callCtx) *apiError {
	writeFHIR(c.w, http.StatusOK, capabilityJSON)
	return nil
}

func (f *Federation) serveSlots(c *callCtx) *apiError {
	sq, e := parseSlotQuery(c.r.URL.RawQuery)
	if e != nil {
		return e
	}
	if body := f.preEncodedBody(c.p, sq); body != nil {
		writeFHIR(c.w, http.StatusOK, body)
		return nil
	}
	body, err := encodeBundle(f.slotBundle(c.p, sq))
	if err != nil {
		return &apiError{status: http.StatusInternalServerError, code: codeInternal, diagnostics: "encode bundle: " + err.Error()}
	}
	writeFHIR(c.w, http.StatusOK, body)
	return nil
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
