package api

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gpfed/gpfed/internal/practice"
)

// maxCapacityDays bounds one capacity query (a year and a day).
const maxCapacityDays = 366

// paramErrors collects per-parameter reasons for one 400 answer.
type paramErrors map[string]string

func (e paramErrors) add(name, format string, args ...any) {
	if _, ok := e[name]; !ok {
		e[name] = fmt.Sprintf(format, args...)
	}
}

// rejectUnknown flags query parameters the endpoint does not know, so a
// typo such as ?practices= fails loudly instead of being ignored.
func rejectUnknown(q url.Values, errs paramErrors, known ...string) {
	for name := range q {
		ok := false
		for _, k := range known {
			ok = ok || name == k
		}
		if !ok {
			errs.add(name, "unknown parameter (allowed: %s)", strings.Join(known, ", "))
		}
	}
}

// single returns the one value of a parameter, flagging repeats.
func single(q url.Values, name string, errs paramErrors) string {
	vs := q[name]
	if len(vs) > 1 {
		errs.add(name, "give %s at most once", name)
	}
	if len(vs) == 0 {
		return ""
	}
	return strings.TrimSpace(vs[0])
}

// parseDate reads a UK local date as YYYY-MM-DD.
func parseDate(v, name string, errs paramErrors) (time.Time, bool) {
	d, err := time.ParseInLocation(time.DateOnly, v, london)
	if err != nil {
		errs.add(name, "must be a date as YYYY-MM-DD, got %q", truncate(v, 40))
		return time.Time{}, false
	}
	return d, true
}

// dateRange reads from/to (To inclusive). A missing from is today (UK); a
// missing to is from + 27 days, the dashboard's four weeks.
func dateRange(q url.Values, today time.Time, errs paramErrors) (from, to time.Time) {
	from, to = today, time.Time{}
	okFrom, okTo := true, true
	if v := single(q, "from", errs); v != "" {
		from, okFrom = parseDate(v, "from", errs)
	}
	if v := single(q, "to", errs); v != "" {
		to, okTo = parseDate(v, "to", errs)
	} else if okFrom {
		to = from.AddDate(0, 0, 27)
	}
	if !okFrom || !okTo {
		return from, to
	}
	if to.Before(from) {
		errs.add("to", "must not be before from (%s)", from.Format(time.DateOnly))
	} else if days := daysBetween(from, to) + 1; days > maxCapacityDays {
		errs.add("to", "the range covers %d days; ask for at most %d at a time", days, maxCapacityDays)
	}
	return from, to
}

// daysBetween counts calendar days, immune to the 23/25-hour days at the
// clock changes.
func daysBetween(from, to time.Time) int {
	a := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	b := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, time.UTC)
	return int(b.Sub(a).Hours() / 24)
}

// practiceCodes reads repeatable (or comma-separated) practice parameters.
func practiceCodes(q url.Values, errs paramErrors) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range q["practice"] {
		for _, code := range strings.Split(v, ",") {
			code = strings.ToUpper(strings.TrimSpace(code))
			if code == "" {
				continue
			}
			if !practice.ValidODS(code) {
				errs.add("practice", "%q is not an ODS code (3-10 letters and digits)", truncate(code, 20))
				continue
			}
			if !seen[code] {
				seen[code] = true
				out = append(out, code)
			}
		}
	}
	return out
}

// shortText reads an optional free-form filter value with a length cap.
func shortText(q url.Values, name string, max int, errs paramErrors) string {
	v := single(q, name, errs)
	if len(v) > max {
		errs.add(name, "must be at most %d characters", max)
		return ""
	}
	return v
}

// truncate shortens s to at most n runes for echoing in an error.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
