package api

import (
	"fmt"
	"slices"
	"time"
)

// The planning view's rule for what counts as short: each practice is
// measured against its own bar, so a small practice's bad day stands out
// as much as a large one's.
//
// The bar is the practice's low-capacity threshold (free minutes over
// GPFED_LOW_CAPACITY_DAYS, 7 by default) shared out over its usual week,
// or, with no threshold, three quarters of its usual level for that
// weekday (see dailyReference). A day is closed when the
// practice has nothing free on every such weekday in view (its Sundays,
// say) or when no practice has anything free (a bank holiday): closed days
// are quiet, not shortfalls. A day nobody fetched is unknown, never zero.

// dayCell is one practice-day for classification.
type dayCell struct {
	Known   bool
	Minutes int
	Weekday time.Weekday
}

// reference is a practice's bar for each weekday and how it was found.
type reference struct {
	Bar       map[time.Weekday]int // free minutes under which a day is short; none = no basis
	Source    string               // "threshold", "usual" or ""
	Threshold *int                 // the practice's threshold over thresholdDays
	Text      string               // for people
}

// barOn is the bar for a day, 0 when there is no basis.
func (r reference) barOn(wd time.Weekday) int { return r.Bar[wd] }

// Shortfall classes, most severe first, and their legend.
const (
	clsNone    = "q0" // open and nothing free
	clsLow     = "q1" // under half the bar
	clsShort   = "q2" // under the bar
	clsOK      = "q3" // around the bar
	clsPlenty  = "q4" // well above it
	clsClosed  = "qc" // closed day
	clsUnknown = "nd" // not fetched
)

var shortfallLegend = []legendItem{
	{clsNone, "Open, nothing free"}, {clsLow, "Under half the practice's bar"},
	{clsShort, "Short: under the bar"}, {clsOK, "Enough"}, {clsPlenty, "Twice the bar or more"},
	{clsClosed, "Closed"}, {clsUnknown, "Unknown (not synced)"},
}

// closedWeekdays finds the weekdays a practice is closed: every known day
// of that weekday has nothing free, and there are at least two of them.
func closedWeekdays(cells []dayCell) map[time.Weekday]bool {
	seen, free := map[time.Weekday]int{}, map[time.Weekday]int{}
	for _, c := range cells {
		if c.Known {
			seen[c.Weekday]++
			free[c.Weekday] += c.Minutes
		}
	}
	out := map[time.Weekday]bool{}
	for wd, n := range seen {
		if n >= 2 && free[wd] == 0 {
			out[wd] = true
		}
	}
	return out
}

// isClosed says whether cell i is a closed day: the practice's closed
// weekday, or a day the whole federation had nothing free (allClosed).
func isClosed(c dayCell, closed map[time.Weekday]bool, allClosed bool) bool {
	return c.Known && c.Minutes == 0 && (closed[c.Weekday] || allClosed)
}

// dailyReference finds a practice's bar per weekday. Its usual level for
// a weekday is the median free minutes of its open days of that weekday in
// view (Saturdays are not held to a Tuesday's level). With a threshold, the
// threshold is shared out over a span of thresholdDays in proportion to
// those usual levels; without one, a day is short under three quarters of
// its usual level.
func dailyReference(threshold *int, thresholdDays int, cells []dayCell, closed map[time.Weekday]bool, allClosed []bool) reference {
	byDay := map[time.Weekday][]int{}
	var all []int
	for i, c := range cells {
		if c.Known && !isClosed(c, closed, allClosed[i]) {
			byDay[c.Weekday] = append(byDay[c.Weekday], c.Minutes)
			all = append(all, c.Minutes)
		}
	}
	if len(all) == 0 {
		return reference{}
	}
	overall := median(all)
	usual := map[time.Weekday]int{}
	week := 0
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		if closed[wd] {
			continue
		}
		usual[wd] = overall
		if len(byDay[wd]) >= 2 {
			usual[wd] = median(byDay[wd])
		}
		week += usual[wd]
	}
	ref := reference{Bar: map[time.Weekday]int{}}
	if threshold != nil && *threshold > 0 && thresholdDays > 0 && week > 0 {
		span := week * thresholdDays / 7 // usual free minutes over the threshold's span
		for wd, u := range usual {
			ref.Bar[wd] = max(1, *threshold*u/max(span, 1))
		}
		ref.Source, ref.Threshold = "threshold", threshold
		ref.Text = fmt.Sprintf("threshold %s min / %d days", numText(*threshold), thresholdDays)
		return ref
	}
	for wd, u := range usual {
		ref.Bar[wd] = u * 3 / 4
	}
	ref.Source = "usual"
	ref.Text = fmt.Sprintf("usual ≈ %s min a day", numText(overall))
	return ref
}

func median(vs []int) int {
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2]
}

// shortfallClass is the colour class of one cell against its bar.
func shortfallClass(c dayCell, closed bool, ref reference) string {
	bar := ref.barOn(c.Weekday)
	switch {
	case !c.Known:
		return clsUnknown
	case closed:
		return clsClosed
	case c.Minutes == 0:
		return clsNone
	case bar <= 0:
		return clsOK
	case c.Minutes*2 < bar:
		return clsLow
	case c.Minutes < bar:
		return clsShort
	case c.Minutes >= bar*2:
		return clsPlenty
	}
	return clsOK
}

// isShort reports whether a class counts as a day below the bar.
func isShort(class string) bool { return class == clsNone || class == clsLow || class == clsShort }

// federationClosed marks the days on which no practice with data had
// anything free: bank holidays and the like.
func federationClosed(rows [][]dayCell) []bool {
	if len(rows) == 0 {
		return nil
	}
	out := make([]bool, len(rows[0]))
	for i := range out {
		known, free := 0, 0
		for _, r := range rows {
			if r[i].Known {
				known++
				free += r[i].Minutes
			}
		}
		out[i] = known >= 3 && free == 0 // one or two practices closing is their own pattern
	}
	return out
}
