package sim

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The simulated Spine Directory Service FHIR API (SDS.md), served at
// <BaseURL>/spine-directory/FHIR/R4/{Endpoint,Device}. It checks requests
// as strictly as the real service: GET only, the apikey header, Accept, a
// UUID X-Correlation-Id (echoed), case-sensitive paths, no unknown
// parameters, the right identifier systems and the accepted combinations.

const (
	sdsPrefix            = "/spine-directory/FHIR/R4"
	sdsSystemODS         = "https://fhir.nhs.uk/Id/ods-organization-code"
	sdsSystemInteraction = "https://fhir.nhs.uk/Id/nhsServiceInteractionId"
	sdsSystemPartyKey    = "https://fhir.nhs.uk/Id/nhsMhsPartyKey"
	sdsSystemASID        = "https://fhir.nhs.uk/Id/nhsSpineASID"
)

// SDSFault makes the directory misbehave for one practice.
type SDSFault struct {
	NoEndpoint   bool          // no MHS record: the practice is not GP Connect enabled
	TwoEndpoints bool          // a second MHS record with another address (bad directory data)
	NoDevice     bool          // an MHS record whose party key has no accredited system
	Status       int           // answer this practice's lookups with this status (e.g. 503)
	Times        int           // Status applies to the first Times lookups, then stops (0: every lookup)
	Latency      time.Duration // added to every lookup of this practice
}

// SDSBaseURL is the FHIR base of the simulated SDS (GPFED_SDS_URL).
func (f *Federation) SDSBaseURL() string { return f.BaseURL() + sdsPrefix }

// SetSDSFault replaces a practice's directory fault (the zero SDSFault
// clears it). Unknown ODS codes are ignored.
func (f *Federation) SetSDSFault(ods string, ft SDSFault) {
	p := f.byODS[ods]
	if p == nil {
		return
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.sdsFault, p.st.sdsFaultLeft = ft, ft.Times
}

// SDSRequests counts the SDS requests that named a practice.
func (f *Federation) SDSRequests(ods string) int {
	p := f.byODS[ods]
	if p == nil {
		return 0
	}
	return int(p.st.sdsRequests.Load())
}

// takeSDSFault returns the practice's directory fault and whether its
// status applies to this request.
func (s *state) takeSDSFault() (SDSFault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ft := s.sdsFault
	switch {
	case ft.Status == 0:
		return ft, false
	case ft.Times == 0:
		return ft, true
	case s.sdsFaultLeft > 0:
		s.sdsFaultLeft--
		return ft, true
	}
	return ft, false
}

// serveSDS answers /spine-directory/FHIR/R4/<resource>.
func (f *Federation) serveSDS(w http.ResponseWriter, r *http.Request, resource string) {
	if id := r.Header.Get("X-Correlation-Id"); id != "" {
		if !isUUID(id) {
			writeSDSError(w, http.StatusBadRequest, "BAD_REQUEST", "Invalid X-Correlation-Id header: must be a UUID")
			return
		}
		w.Header().Set("X-Correlation-Id", id)
	}
	if e := f.checkSDSRequest(r, resource); e != nil {
		writeSDSError(w, e.status, e.code, e.diagnostics)
		return
	}
	q, e := parseSDSQuery(r.URL.RawQuery, resource)
	if e != nil {
		writeSDSError(w, e.status, e.code, e.diagnostics)
		return
	}
	p := f.sdsPractice(q)
	var entries []any
	if p != nil {
		p.st.sdsRequests.Add(1)
		ft, fail := p.st.takeSDSFault()
		if !sleep(r.Context(), ft.Latency) {
			return
		}
		if fail {
			writeSDSError(w, ft.Status, "INTERNAL_SERVER_ERROR", "Simulated SDS fault")
			return
		}
		if resource == "Endpoint" {
			entries = f.endpointEntries(p, q, ft)
		} else {
			entries = f.deviceEntries(p, q, ft)
		}
	}
	writeSDSBundle(w, f.SDSBaseURL(), resource, r.URL.RawQuery, entries)
}

// checkSDSRequest applies the gateway's and the service's request rules.
func (f *Federation) checkSDSRequest(r *http.Request, resource string) *apiError {
	key := r.Header.Get("apikey")
	switch {
	case resource != "Endpoint" && resource != "Device":
		return &apiError{status: http.StatusNotFound, code: "NO_RECORD_FOUND", diagnostics: "Unknown path (paths are case-sensitive): " + resource}
	case key == "" || (f.cfg.SDSAPIKey != "" && key != f.cfg.SDSAPIKey):
		return &apiError{status: http.StatusUnauthorized, code: "ACCESS_DENIED", diagnostics: "Invalid access token: missing or unknown apikey"}
	case r.Method != http.MethodGet:
		return &apiError{status: http.StatusMethodNotAllowed, code: "BAD_REQUEST", diagnostics: "Only GET is supported"}
	case !sdsAccepts(r.Header.Values("Accept")):
		return &apiError{status: http.StatusNotAcceptable, code: "BAD_REQUEST", diagnostics: "Accept must be application/fhir+json, application/json or */*"}
	}
	return nil
}

func sdsAccepts(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			switch strings.TrimSpace(mt) {
			case "application/fhir+json", "application/json", "*/*":
				return true
			}
		}
	}
	return false
}

// sdsQuery is a validated search: the values without their systems.
type sdsQuery struct {
	ods, interaction, partyKey, manufacturer string
}

// parseSDSQuery checks parameter names, systems and combinations.
func parseSDSQuery(raw, resource string) (sdsQuery, *apiError) {
	var q sdsQuery
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return q, badRequest("Malformed query string: " + err.Error())
	}
	for name, vs := range vals {
		if e := q.add(resource, name, vs); e != nil {
			return q, e
		}
	}
	ok := false
	if resource == "Endpoint" {
		ok = (q.ods != "" && q.interaction != "") || (q.ods != "" && q.partyKey != "") || (q.interaction != "" && q.partyKey != "")
	} else {
		ok = q.ods != "" && q.interaction != ""
	}
	if !ok {
		return q, badRequest("Missing or invalid parameter combination for " + resource + " search")
	}
	return q, nil
}

func (q *sdsQuery) add(resource, name string, vs []string) *apiError {
	switch {
	case name == "organization":
		return setSystemValue(vs, sdsSystemODS, name, &q.ods)
	case name == "manufacturing-organization" && resource == "Device":
		return setSystemValue(vs, sdsSystemODS, name, &q.manufacturer)
	case name != "identifier":
		return badRequest("Unknown query parameter: " + name)
	}
	for _, v := range vs {
		system, value, _ := strings.Cut(v, "|")
		var target *string
		switch system {
		case sdsSystemInteraction:
			target = &q.interaction
		case sdsSystemPartyKey:
			target = &q.partyKey
		default:
			return badRequest("Invalid value - " + v + " in field 'identifier'")
		}
		if *target != "" || value == "" {
			return badRequest("Invalid value - " + v + " in field 'identifier'")
		}
		*target = value
	}
	return nil
}

func setSystemValue(vs []string, system, name string, into *string) *apiError {
	if len(vs) != 1 {
		return badRequest("Parameter " + name + " must be given once")
	}
	value, ok := strings.CutPrefix(vs[0], system+"|")
	if !ok || value == "" {
		return badRequest("Invalid value - " + vs[0] + " in field '" + name + "'")
	}
	*into = value
	return nil
}

// sdsPractice is the practice a search concerns (by ODS code, or by the
// party key's ODS prefix), or nil for codes the directory does not know.
func (f *Federation) sdsPractice(q sdsQuery) *practice {
	ods := q.ods
	if ods == "" {
		ods, _, _ = strings.Cut(q.partyKey, "-")
	}
	return f.byODS[ods]
}
