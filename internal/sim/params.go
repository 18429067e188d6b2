package sim

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

const (
	includeSchedule          = "Slot:schedule"
	includeActorPractitioner = "Schedule:actor:Practitioner"
	includeActorLocation     = "Schedule:actor:Location"
	includeManagingOrg       = "Location:managingOrganization"

	maxWindow = 14 * 24 * time.Hour
)

// slotQuery is a validated Slot search.
type slotQuery struct {
	start, end    time.Time
	practitioners bool
	locations     bool
	filter        SearchFilter
}

// parseSlotQuery validates the query as the reference provider does: a missing mandatory
// parameter is 400 BAD_REQUEST, a present but wrong one is 422 INVALID_PARAMETER.
func parseSlotQuery(rawQuery string) (*slotQuery, *apiError) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest("Malformed query string: " + err.Error())
	}
	for k := range q {
		switch k {
		case "start", "end", "status", "_include", "_include:recurse", "searchFilter", "_format":
		default:
			return nil, invalidParam("Unknown or unsupported search parameter: " + k)
		}
	}
	sq := &slotQuery{}
	checks := []func(url.Values, *slotQuery) *apiError{checkDates, checkStatus, checkIncludes, checkSearchFilter, checkFormat}
	for _, check := range checks {
		if e := check(q, sq); e != nil {
			return nil, e
		}
	}
	return sq, nil
}

func single(q url.Values, name string) (string, *apiError) {
	vs := q[name]
	switch {
	case len(vs) == 0:
		return "", badRequest("Missing mandatory parameter: " + name)
	case len(vs) > 1:
		return "", invalidParam(fmt.Sprintf("Parameter %s must be sent exactly once, got %d", name, len(vs)))
	}
	return vs[0], nil
}

func checkDates(q url.Values, sq *slotQuery) *apiError {
	var e *apiError
	if sq.start, e = prefixedDate(q, "start", "ge"); e != nil {
		return e
	}
	if sq.end, e = prefixedDate(q, "end", "le"); e != nil {
		return e
	}
	if sq.end.Before(sq.start) {
		return invalidParam("Invalid time period: end is before start")
	}
	if d := sq.end.Sub(sq.start); d > maxWindow {
		return invalidParam(fmt.Sprintf("Invalid time period, was %s between start and end (max is 14 days)", d))
	}
	return nil
}

func prefixedDate(q url.Values, name, prefix string) (time.Time, *apiError) {
	v, e := single(q, name)
	if e != nil {
		return time.Time{}, e
	}
	if !strings.HasPrefix(v, prefix) {
		return time.Time{}, invalidParam(fmt.Sprintf("Invalid Prefix used: %s must use the %q prefix", name, prefix))
	}
	t, err := parseFHIRDate(v[len(prefix):])
	if err != nil {
		return time.Time{}, invalidParam(fmt.Sprintf("Invalid %s date %q: %v", name, v[len(prefix):], err))
	}
	return t, nil
}

// parseFHIRDate accepts the two forms GP Connect allows: yyyy-mm-dd (local midnight) and
// yyyy-mm-ddThh:mm:ss+hh:mm where the offset is the UK's on that date.
func parseFHIRDate(v string) (time.Time, error) {
	switch {
	case len(v) == len(time.DateOnly):
		if !shaped(v, "dddd-dd-dd") {
			return time.Time{}, fmt.Errorf("not yyyy-mm-dd")
		}
		return time.ParseInLocation(time.DateOnly, v, london)
	case strings.HasSuffix(v, "Z"):
		return time.Time{}, fmt.Errorf("UTC designator Z is not accepted; use the UK offset +00:00 or +01:00")
	case len(v) != len(fhirDateTime) || !shaped(v, "dddd-dd-ddTdd:dd:dd?dd:dd"):
		return time.Time{}, fmt.Errorf("must be yyyy-mm-dd or yyyy-mm-ddThh:mm:ss+hh:mm")
	}
	t, err := time.Parse(fhirDateTime, v)
	if err != nil {
		return time.Time{}, err
	}
	offset := v[19:]
	if offset != "+00:00" && offset != "+01:00" {
		return time.Time{}, fmt.Errorf("invalid offset %s: UK local time is +00:00 (GMT) or +01:00 (BST)", offset)
	}
	if want := t.In(london).Format("-07:00"); want != offset {
		return time.Time{}, fmt.Errorf("offset %s is wrong for that date; UK local time is %s", offset, want)
	}
	return t, nil
}

// shaped matches v against a pattern where d is a digit, ? is + or -, and anything else is literal.
func shaped(v, pattern string) bool {
	if len(v) != len(pattern) {
		return false
	}
	for i := range len(v) {
		c := v[i]
		switch pattern[i] {
		case 'd':
			if c < '0' || c > '9' {
				return false
			}
		case '?':
			if c != '+' && c != '-' {
				return false
			}
		default:
			if c != pattern[i] {
				return false
			}
		}
	}
	return true
}

func checkStatus(q url.Values, _ *slotQuery) *apiError {
	v, e := single(q, "status")
	if e != nil {
		return e
	}
	if v != "free" {
		return invalidParam("Status incorrect: Must be equal to free")
	}
	return nil
}

func checkIncludes(q url.Values, sq *slotQuery) *apiError {
	found := false
	for _, v := range q["_include"] {
		if v != includeSchedule {
			return invalidParam("Unsupported _include value: " + v)
		}
		found = true
	}
	if !found {
		return badRequest("No include Slot:schedule parameter has been provided")
	}
	for _, v := range q["_include:recurse"] {
		switch v {
		case includeActorPractitioner:
			sq.practitioners = true
		case includeActorLocation:
			sq.locations = true
		case includeManagingOrg:
			// The Organization is returned whenever any slot is, so this changes nothing.
		default:
			return invalidParam("Unsupported _include:recurse value: " + v)
		}
	}
	return nil
}

// checkSearchFilter accepts only the two GP Connect systems, each at most once. (The reference
// test suite tolerates other systems; this simulator is stricter so that a consumer sending a
// misspelt system fails loudly instead of silently seeing fewer slots.)
func checkSearchFilter(q url.Values, sq *slotQuery) *apiError {
	seen := map[string]bool{}
	for _, v := range q["searchFilter"] {
		system, value, ok := strings.Cut(v, "|")
		if !ok || system == "" || value == "" {
			return invalidParam("searchFilter must be system|value, got " + v)
		}
		if seen[system] {
			return invalidParam("searchFilter system sent more than once: " + system)
		}
		seen[system] = true
		switch system {
		case systemODS:
			if !validODS(value) {
				return invalidParam("searchFilter ODS code is not valid: " + value)
			}
			sq.filter.ODS = value
		case systemOrgType:
			sq.filter.OrgType = value
		default:
			return invalidParam("Unsupported searchFilter system: " + system)
		}
	}
	return nil
}

func validODS(v string) bool {
	if len(v) < 3 || len(v) > 10 {
		return false
	}
	for _, c := range v {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func checkFormat(q url.Values, _ *slotQuery) *apiError {
	for _, v := range q["_format"] {
		switch v {
		case "json", "application/json", "application/fhir+json", "application/json+fhir":
		default:
			return invalidParam("Unsupported _format (this simulator serves JSON only): " + v)
		}
	}
	return nil
}
