package api

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// trendHorizon is how far ahead each trend point looks: "free capacity for
// the coming two weeks as it stood at each sync".
const trendHorizon = 14

// consumptionDays is how many UK days the consumption table shows.
const consumptionDays = 14

type trendRun struct {
	ID              int64
	Label, Full     string
	Known, Practice int // practices with a snapshot at this run, of all
}

type trendCell struct {
	Known, Stale, Partial bool
	Minutes               int
	Title                 string
}

type trendRow struct {
	ODS, Name string
	Cells     []trendCell
	Spark     sparkline
	Change    changeText
}

// changeText compares the newest known point with the oldest.
type changeText struct {
	Text, Class string
}

type consRow struct {
	ODS, Name string
	Cells     []consCell
	Total     consCell
}

type consCell struct {
	Known          bool
	Slots, Minutes int
	Title          string
}

type trendView struct {
	pageBase
	Now         time.Time
	Runs        []trendRun
	Rows        []trendRow
	Federation  trendRow
	Chart       lineChart
	N           int
	Horizon     int
	ConsDays    []dayCol
	ConsRows    []consRow
	ConsTotals  []consCell
	ConsGrand   consCell
	RunsOptions []option
}

// handleTrend renders the trend (capacity for the next two weeks at each of
// the last N syncs) and consumption (slots gone between syncs) page.
func (s *Server) handleTrend(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	n := 10
	if v := r.URL.Query().Get("runs"); v != "" {
		if k, err := strconv.Atoi(v); err == nil && k >= 2 && k <= 30 {
			n = k
		}
	}
	ps, err := s.DB.PracticeStatuses(ctx, false)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	points, err := s.DB.CapacityTrend(ctx, n, trendHorizon)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	today := s.todayUK()
	from := today.AddDate(0, 0, -(consumptionDays - 1))
	cons, err := s.DB.Consumption(ctx, from, today)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	v := &trendView{pageBase: pageBase{Title: "Trend and consumption", Nav: "trend"}, Now: s.Now(), N: n,
		Horizon: trendHorizon, ConsDays: makeDays(from, consumptionDays)}
	for _, k := range []int{5, 10, 20, 30} {
		v.RunsOptions = append(v.RunsOptions, option{Value: strconv.Itoa(k), Label: fmt.Sprintf("last %d syncs", k), Selected: k == n})
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	v.buildTrend(ps, points)
	v.buildConsumption(ps, cons)
	s.render(w, r, http.StatusOK, "trend", v)
}

func (v *trendView) buildTrend(ps []store.PracticeStatus, points []store.TrendPoint) {
	runIndex := map[int64]int{}
	byKey := map[string]store.TrendPoint{}
	for _, p := range points {
		if _, ok := runIndex[p.RunID]; !ok {
			runIndex[p.RunID] = len(v.Runs)
			t := p.StartedAt.In(london)
			v.Runs = append(v.Runs, trendRun{ID: p.RunID, Label: t.Format("Mon 2 Jan"),
				Full: fmt.Sprintf("sync run #%d, %s", p.RunID, t.Format("Mon 2 Jan 2006 15:04"))})
		}
		byKey[p.ODSCode+"|"+strconv.FormatInt(p.RunID, 10)] = p
	}
	v.Federation = trendRow{Name: "Federation", Cells: make([]trendCell, len(v.Runs))}
	for _, p := range ps {
		row := trendRow{ODS: p.ODSCode, Name: p.Name, Cells: make([]trendCell, len(v.Runs))}
		for i, run := range v.Runs {
			pt := byKey[p.ODSCode+"|"+strconv.FormatInt(run.ID, 10)]
			c := trendCell{Known: pt.Known, Stale: pt.Stale, Partial: pt.Known && pt.CoveredDays < trendHorizon, Minutes: pt.FreeMinutes}
			c.Title = trendTitle(p.Name, run, c, pt.CoveredDays)
			row.Cells[i] = c
			v.Runs[i].Practice++
			if c.Known {
				v.Runs[i].Known++
				f := &v.Federation.Cells[i]
				f.Known, f.Minutes = true, f.Minutes+c.Minutes
				f.Partial = f.Partial || c.Stale || c.Partial
			}
		}
		row.Spark, row.Change = spark(row.Cells), change(row.Cells)
		v.Rows = append(v.Rows, row)
	}
	for i, run := range v.Runs {
		f := &v.Federation.Cells[i]
		f.Title = fmt.Sprintf("Federation at %s: %s free minutes over the next %d days from that day, %d of %d practices known",
			run.Full, numText(f.Minutes), trendHorizon, run.Known, run.Practice)
	}
	v.Federation.Spark, v.Federation.Change = spark(v.Federation.Cells), change(v.Federation.Cells)
	v.Chart = federationChart(v.Runs, v.Federation.Cells)
}

func trendTitle(name string, run trendRun, c trendCell, covered int) string {
	switch {
	case !c.Known:
		return fmt.Sprintf("%s at %s: unknown (no successful sync yet)", name, run.Full)
	case c.Stale:
		return fmt.Sprintf("%s at %s: %s free minutes, from an earlier sync (this one failed or left it out)", name, run.Full, numText(c.Minutes))
	case c.Partial:
		return fmt.Sprintf("%s at %s: %s free minutes; its snapshot covered only %d of the %d days", name, run.Full, numText(c.Minutes), covered, trendHorizon)
	}
	return fmt.Sprintf("%s at %s: %s free minutes over the next %d days", name, run.Full, numText(c.Minutes), trendHorizon)
}

// change says how the newest known point compares with the oldest; a fall
// of a tenth or more is flagged.
func change(cells []trendCell) changeText {
	first, last := -1, -1
	for i, c := range cells {
		if c.Known {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || first == last {
		return changeText{Text: "–"}
	}
	a, b := cells[first].Minutes, cells[last].Minutes
	if a == 0 {
		if b == 0 {
			return changeText{Text: "no change"}
		}
		return changeText{Text: "▲ from 0", Class: "up"}
	}
	pct := (b - a) * 100 / a
	switch {
	case pct <= -10:
		return changeText{Text: fmt.Sprintf("▼ %d%%", -pct), Class: "down"}
	case pct >= 10:
		return changeText{Text: fmt.Sprintf("▲ %d%%", pct), Class: "up"}
	}
	return changeText{Text: fmt.Sprintf("%+d%%", pct)}
}

func (v *trendView) buildConsumption(ps []store.PracticeStatus, cons []store.ConsumedDay) {
	byKey := map[string]store.ConsumedDay{}
	for _, c := range cons {
		byKey[c.ODSCode+"|"+c.Date] = c
	}
	v.ConsTotals = make([]consCell, len(v.ConsDays))
	for _, p := range ps {
		row := consRow{ODS: p.ODSCode, Name: p.Name, Cells: make([]consCell, len(v.ConsDays))}
		for i, d := range v.ConsDays {
			c := byKey[p.ODSCode+"|"+d.Date]
			cell := consCell{Known: c.Fetched, Slots: c.Slots, Minutes: c.Minutes}
			if cell.Known {
				cell.Title = fmt.Sprintf("%s, %s: %s gone between syncs (%s min), booked or withdrawn", p.Name, d.Full,
					plural(c.Slots, "slot", "slots"), numText(c.Minutes))
				row.Total.Known = true
				row.Total.Slots += c.Slots
				row.Total.Minutes += c.Minutes
				t := &v.ConsTotals[i]
				t.Known, t.Slots, t.Minutes = true, t.Slots+c.Slots, t.Minutes+c.Minutes
			} else {
				cell.Title = fmt.Sprintf("%s, %s: unknown (no sync compared its capacity that day)", p.Name, d.Full)
			}
			row.Cells[i] = cell
		}
		row.Total.Title = fmt.Sprintf("%s: %s gone in %d days (%s min)", p.Name, plural(row.Total.Slots, "slot", "slots"),
			consumptionDays, numText(row.Total.Minutes))
		v.ConsGrand.Slots += row.Total.Slots
		v.ConsGrand.Minutes += row.Total.Minutes
		v.ConsRows = append(v.ConsRows, row)
	}
	for i := range v.ConsTotals {
		t := &v.ConsTotals[i]
		t.Title = fmt.Sprintf("Federation, %s: %s gone (%s min)", v.ConsDays[i].Full, plural(t.Slots, "slot", "slots"), numText(t.Minutes))
	}
}
