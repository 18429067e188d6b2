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
	Class, Title   string
}

type heatRow struct {
	ODS, Name, Status string
	StaleSince        *time.Time
	Cells             []heatCell
	Total             heatCell
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
	LastRun                             *store.SyncRun
	FromText, ToText                    string
	Now                                 time.Time
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
		FromText: from.Format("Mon 2 Jan 2006"), ToText: to.Format("Mon 2 Jan 2006")}
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
// fetch window, and as "no data" otherwise.
func (v *heatmapView) build(ps []store.PracticeStatus, rows []store.CapacityRow) {
	byKey := make(map[string]store.CapacityRow, len(rows))
	for _, r := range rows {
		byKey[r.ODSCode+"|"+r.Date] = r
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	v.Totals = make([]heatCell, len(v.Days))
	maxMinutes := 0
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
			if c.HasData {
				row.Total.Minutes += c.Minutes
				row.Total.Slots += c.Slots
				v.Totals[i].Minutes += c.Minutes
				v.Totals[i].Slots += c.Slots
				v.Totals[i].HasData = true
				maxMinutes = max(maxMinutes, c.Minutes)
			}
			c.Title = cellTitle(p.Name+" ("+p.ODSCode+"), "+d.Full, *c)
		}
		row.Total.HasData = true
		row.Total.Title = cellTitle(p.Name+", next 28 days", row.Total)
		v.Grand.Minutes += row.Total.Minutes
		v.Grand.Slots += row.Total.Slots
		v.Rows = append(v.Rows, row)
	}
	v.Practices = len(ps)
	v.Legend = classify(v.Rows, maxMinutes)
	for i := range v.Totals {
		v.Totals[i].Title = cellTitle("Federation, "+v.Days[i].Full, v.Totals[i])
	}
}

func cellTitle(what string, c heatCell) string {
	if !c.HasData {
		return what + ": no data (never fetched for this date)"
	}
	return fmt.Sprintf("%s: %s free minutes in %s", what, numText(c.Minutes), plural(c.Slots, "slot", "slots"))
}

// heatLevels is the number of colour steps above zero.
const heatLevels = 6

// classify assigns colour classes in equal steps up to the largest cell and
// returns the legend that names each step's range in words.
func classify(rows []heatRow, maxMinutes int) []legendItem {
	step := (maxMinutes + heatLevels - 1) / heatLevels
	if step < 1 {
		step = 1
	}
	for i := range rows {
		for j := range rows[i].Cells {
			c := &rows[i].Cells[j]
			switch {
			case !c.HasData:
				c.Class = "nd"
			case c.Minutes == 0:
				c.Class = "h0"
			default:
				c.Class = fmt.Sprintf("h%d", min(heatLevels, (c.Minutes+step-1)/step))
			}
		}
	}
	legend := []legendItem{{"nd", "no data"}, {"h0", "0 min"}}
	for l := 1; l <= heatLevels; l++ {
		legend = append(legend, legendItem{fmt.Sprintf("h%d", l), fmt.Sprintf("%s–%s min", numText((l-1)*step+1), numText(l*step))})
	}
	return legend
}
