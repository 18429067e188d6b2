package api

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// heatmapDays is the dashboard's horizon: four weeks from today (UK).
const heatmapDays = 28

type dayCol struct {
	Date, Weekday, Day, Month, Full string
	Weekend, MonthStart             bool
}

type heatCell struct {
	Minutes, Slots int
	HasData        bool
	Closed         bool
	Class, Title   string
}

type heatRow struct {
	ODS, Name, Status string
	StaleSince        *time.Time
	Cells             []heatCell
	Total             heatCell
	Unknown           int // days with no data
	Ref               reference
	// Below is true when the free minutes over the threshold's span from
	// today fall short of the practice's threshold (capacity.low's rule).
	Below     bool
	ShortDays int
}

type option struct {
	Value, Label string
	Selected     bool
}

type legendItem struct{ Class, Label string }

type heatmapView struct {
	pageBase
	Days                                []dayCol
	Rows                                []heatRow
	Totals                              []heatCell
	Grand                               heatCell
	Roles, Channels                     []option
	Role, Channel                       string
	Legend                              []legendItem
	Practices, Stale, Never, NotEnabled int
	Short, BelowThreshold               int // practices with a day under their bar; under their threshold
	ThresholdDays                       int
	LastRun                             *store.SyncRun
	FromText, ToText                    string
	Now                                 time.Time
}

func (d dayCol) weekday() time.Weekday {
	t, _ := time.Parse(time.DateOnly, d.Date)
	return t.Weekday()
}

func makeDays(from time.Time, n int) []dayCol {
	days := make([]dayCol, n)
	for i := range days {
		d := from.AddDate(0, 0, i)
		days[i] = dayCol{Date: d.Format(time.DateOnly), Weekday: d.Format("Mon"), Day: d.Format("2"),
			Month: d.Format("Jan"), Full: d.Format("Monday 2 January 2006"),
			Weekend: d.Weekday() == time.Saturday || d.Weekday() == time.Sunday, MonthStart: i == 0 || d.Day() == 1}
	}
	return days
}

// handleHeatmap renders the capacity heatmap: active practices by the next
// 28 UK days, each cell the free minutes.
func (s *Server) handleHeatmap(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	from := s.todayUK()
	to := from.AddDate(0, 0, heatmapDays-1)
	v := &heatmapView{pageBase: pageBase{Title: "Capacity", Nav: "heatmap"}, Now: s.Now(),
		Role: trimLen(r.URL.Query().Get("role"), 64), Channel: trimLen(r.URL.Query().Get("channel"), 64),
		FromText: from.Format("Mon 2 Jan 2006"), ToText: to.Format("Mon 2 Jan 2006"), ThresholdDays: s.lowCapacityDays()}
	ps, err := s.DB.PracticeStatuses(ctx, false)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	rows, err := s.DB.Capacity(ctx, store.CapacityFilter{From: from, To: to, Role: v.Role, DeliveryChannel: v.Channel})
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	roles, channels, err := s.DB.CapacityFacets(ctx, from, to)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	runs, err := s.DB.ListSyncRuns(ctx, 1, 0)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	if len(runs) > 0 {
		v.LastRun = &runs[0]
	}
	v.Days = makeDays(from, heatmapDays)
	v.Roles = options(roles, v.Role, roleName, "All roles")
	v.Channels = options(channels, v.Channel, func(c string) string { return c }, "All channels")
	v.build(ps, rows)
	s.render(w, r, http.StatusOK, "heatmap", v)
}

func trimLen(s string, n int) string {
	if len(s) > n {
		return ""
	}
	return s
}

func options(values []string, selected string, label func(string) string, all string) []option {
	out := []option{{Value: "", Label: all, Selected: selected == ""}}
	found := selected == ""
	for _, val := range values {
		out = append(out, option{Value: val, Label: label(val), Selected: val == selected})
		found = found || val == selected
	}
	if !found { // keep an unknown selection visible rather than silently dropping it
		out = append(out, option{Value: selected, Label: label(selected), Selected: true})
	}
	return out
}

// build lays the capacity rows onto the practice x day grid. A day with no
// row counts as zero when it lies inside the practice's last successful
// fetch window, and as unknown otherwise; totals add known days only.
func (v *heatmapView) build(ps []store.PracticeStatus, rows []store.CapacityRow) {
	byKey := make(map[string]store.CapacityRow, len(rows))
	for _, r := range rows {
		byKey[r.ODSCode+"|"+r.Date] = r
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	v.Totals = make([]heatCell, len(v.Days))
	for _, p := range ps {
		row := heatRow{ODS: p.ODSCode, Name: p.Name, Status: syncStatus(p), StaleSince: p.StaleSince,
			Cells: make([]heatCell, len(v.Days))}
		switch row.Status {
		case "stale":
			v.Stale++
		case "never":
			v.Never++
		case "not_enabled":
			v.NotEnabled++
		}
		for i, d := range v.Days {
			c := &row.Cells[i]
			if cr, ok := byKey[p.ODSCode+"|"+d.Date]; ok {
				c.Minutes, c.Slots, c.HasData = cr.FreeMinutes, cr.FreeSlots, true
			} else {
				c.HasData = p.WindowFrom != "" && d.Date >= p.WindowFrom && d.Date < p.WindowTo
			}
			if !c.HasData {
				row.Unknown++
				continue
			}
			row.Total.Minutes += c.Minutes
			row.Total.Slots += c.Slots
			row.Total.HasData = true
			v.Totals[i].Minutes += c.Minutes
			v.Totals[i].Slots += c.Slots
			v.Totals[i].HasData = true
		}
		v.Rows = append(v.Rows, row)
	}
	v.Practices = len(ps)
	v.classify(ps)
	v.titles()
}

// classify colours every cell against its practice's bar (see
// planning_shortfall.go); a role or channel filter drops the threshold,
// which is about all of a practice's capacity, for the usual level.
func (v *heatmapView) classify(ps []store.PracticeStatus) {
	grid := make([][]dayCell, len(v.Rows))
	for i, r := range v.Rows {
		grid[i] = v.dayCells(r.Cells)
	}
	allClosed := federationClosed(grid)
	fedBar := map[time.Weekday]int{}
	for i := range v.Rows {
		r := &v.Rows[i]
		threshold := ps[i].ThresholdMinutes
		if v.Role != "" || v.Channel != "" {
			threshold = nil
		}
		closed := closedWeekdays(grid[i])
		r.Ref = dailyReference(threshold, v.ThresholdDays, grid[i], closed, allClosed)
		for wd, b := range r.Ref.Bar {
			fedBar[wd] += b
		}
		next := 0
		for j := range r.Cells {
			c := &r.Cells[j]
			c.Closed = isClosed(grid[i][j], closed, allClosed[j])
			c.Class = shortfallClass(grid[i][j], c.Closed, r.Ref)
			if isShort(c.Class) {
				r.ShortDays++
			}
			if j < v.ThresholdDays {
				next += c.Minutes
			}
		}
		r.Below = threshold != nil && r.Total.HasData && next < *threshold
		if r.ShortDays > 0 {
			v.Short++
		}
		if r.Below {
			v.BelowThreshold++
		}
	}
	fed := v.dayCells(v.Totals)
	for j := range v.Totals {
		v.Totals[j].Closed = allClosed[j]
		v.Totals[j].Class = shortfallClass(fed[j], allClosed[j], reference{Bar: fedBar})
	}
	v.Legend = shortfallLegend
}

func (v *heatmapView) dayCells(cells []heatCell) []dayCell {
	out := make([]dayCell, len(cells))
	for j, c := range cells {
		out[j] = dayCell{Known: c.HasData, Minutes: c.Minutes, Weekday: v.Days[j].weekday()}
	}
	return out
}

func (v *heatmapView) titles() {
	for i := range v.Rows {
		r := &v.Rows[i]
		for j := range r.Cells {
			r.Cells[j].Title = cellTitle(r.Name+" ("+r.ODS+"), "+v.Days[j].Full, r.Cells[j], r.Ref, v.Days[j].weekday())
		}
		r.Total.Title = cellTitle(r.Name+", next 28 days", r.Total, reference{}, 0)
		if r.Unknown > 0 && r.Total.HasData {
			r.Total.Title += fmt.Sprintf(" (%d days unknown, not counted)", r.Unknown)
		}
		v.Grand.Minutes += r.Total.Minutes
		v.Grand.Slots += r.Total.Slots
	}
	for i := range v.Totals {
		v.Totals[i].Title = cellTitle("Federation, "+v.Days[i].Full, v.Totals[i], reference{}, 0)
	}
}

func cellTitle(what string, c heatCell, ref reference, wd time.Weekday) string {
	switch {
	case !c.HasData:
		return what + ": unknown (no successful sync covers this date)"
	case c.Closed:
		return what + ": closed (nothing free, as on every such day)"
	}
	t := fmt.Sprintf("%s: %s free minutes in %s", what, numText(c.Minutes), plural(c.Slots, "slot", "slots"))
	if ref.barOn(wd) > 0 {
		t += fmt.Sprintf("; short under %s (%s)", numText(ref.barOn(wd)), ref.Source)
	}
	return t
}

// lowCapacityDays is the span of the practices' thresholds.
func (s *Server) lowCapacityDays() int {
	if s.LowCapacityDays > 0 {
		return s.LowCapacityDays
	}
	return 7
}
