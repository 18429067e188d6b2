package gpconnect

import (
	"net/url"
	"strings"
	"time"
)

const (
	// maxWindow is the longest absolute span of one slot search. Providers check "at most 14 days"
	// as a duration, so the October clock change (a 337h fortnight) must be clipped.
	maxWindow = 14 * 24 * time.Hour
	// maxWindowDays is the calendar form of the same rule, which providers may check on dates.
	maxWindowDays = 14
	// windowOverlap lets a slot that crosses a mid-day seam fall fully inside the next window.
	windowOverlap = time.Hour
)

// fhirDateTime is yyyy-mm-ddThh:mm:ss+hh:mm; providers reject Z, so "-07:00" (not "Z07:00").
const fhirDateTime = "2006-01-02T15:04:05-07:00"

type window struct {
	Start, End time.Time
}

// localMidnight returns the start of t's Europe/London calendar day.
func localMidnight(t time.Time) time.Time {
	y, m, d := t.In(london).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, london)
}

// splitWindows covers [from, to) with windows that are each at most 14 calendar days and at most
// 336 hours long. Windows meet exactly at local midnight; a window that had to be clipped mid-day
// is followed by one starting windowOverlap earlier, so a slot across that seam is still seen.
func splitWindows(from, to time.Time) []window {
	from, to = from.In(london), to.In(london)
	var out []window
	for start := from; start.Before(to); {
		end := start.AddDate(0, 0, maxWindowDays)
		if limit := start.Add(maxWindow); end.After(limit) {
			end = limit
		}
		if end.After(to) {
			end = to
		}
		out = append(out, window{Start: start, End: end})
		if !end.Before(to) {
			break
		}
		start = end
		if !end.Equal(localMidnight(end)) {
			// A seam inside a day (the October clip) could split a slot: overlap and rely on dedup.
			// Seams at local midnight are left exact, so 28 days cost two calls, not three.
			start = end.Add(-windowOverlap)
		}
	}
	return out
}

func formatFHIRDateTime(t time.Time) string {
	return t.In(london).Format(fhirDateTime)
}

// slotQuery builds the Slot search query string. Keys are written literally (":" is legal in a
// query and some providers match "_include:recurse" byte for byte); values are percent-encoded so
// "|", ":" and the "+" of an offset survive.
func slotQuery(w window, consumerODS, orgType string) string {
	params := [][2]string{
		{"start", "ge" + formatFHIRDateTime(w.Start)},
		{"end", "le" + formatFHIRDateTime(w.End)},
		{"status", "free"},
		{"_include", "Slot:schedule"},
		{"_include:recurse", "Schedule:actor:Practitioner"},
		{"_include:recurse", "Schedule:actor:Location"},
		{"_include:recurse", "Location:managingOrganization"},
		{"searchFilter", systemODS + "|" + consumerODS},
		{"searchFilter", systemOrgType + "|" + orgType},
	}
	var b strings.Builder
	for i, kv := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(kv[0])
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[1]))
	}
	return b.String()
}
