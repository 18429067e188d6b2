package api

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// The weekly report for the federation board: per practice and UK week
// (Monday to Sunday), the free capacity as synced, the days short of the
// practice's bar, and how reliably its syncs worked. Past days count the
// capacity the last sync before the day ended saw (the morning's free
// capacity after a nightly sync); coming days the latest snapshot.

const (
	reportWeeksBack    = 2 // full weeks before the current one
	reportWeeksDefault = 6
	reportWeeksMax     = 12
)

type reportWeek struct {
	Start, End time.Time
	Label      string // "23 Nov – 29 Nov"
	Past       bool   // ended before today
	Current    bool
	Future     bool // starts after today: no syncs to report yet
}

// reportCell is one practice's week.
type reportCell struct {
	FreeMinutes, FreeSlots       int
	KnownDays, ClosedDays, Short int
	SyncOK, SyncFailed, Pending  int
	Synced                       bool // any fetch attempted in runs that week
}

func (c reportCell) Reliability() string {
	n := c.SyncOK + c.SyncFailed + c.Pending
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%d%%", c.SyncOK*100/n)
}

type reportRow struct {
	ODS, Name string
	Ref       reference
	Weeks     []reportCell
}

type reportView struct {
	pageBase
	Now           time.Time
	From, To      time.Time
	FromText      string
	Weeks         []reportWeek
	Rows          []reportRow
	Totals        []reportCell
	ThresholdDays int
	FromDate      string // YYYY-MM-DD, for the CSV link
}

// reportRange reads ?from=YYYY-MM-DD (any day; its week is used) and
// ?weeks=N, defaulting to two weeks back and four ahead.
func (s *Server) reportRange(r *http.Request) (time.Time, int) {
	today := s.todayUK()
	monday := func(d time.Time) time.Time { return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7)) }
	from := monday(today).AddDate(0, 0, -7*reportWeeksBack)
	weeks := reportWeeksDefault
	q := r.URL.Query()
	if v := q.Get("from"); v != "" {
		if d, err := time.ParseInLocation(time.DateOnly, v, london); err == nil {
			from = monday(d)
		}
	}
	if v := q.Get("weeks"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= reportWeeksMax {
			weeks = n
		}
	}
	return from, weeks
}

func (s *Server) buildReport(r *http.Request) (*reportView, error) {
	ctx := r.Context()
	from, weeks := s.reportRange(r)
	to := from.AddDate(0, 0, 7*weeks-1)
	today := s.todayUK()
	v := &reportView{pageBase: pageBase{Title: "Weekly report", Nav: "report"}, Now: s.Now(), From: from, To: to,
		FromText: from.Format("Mon 2 Jan 2006"), ThresholdDays: s.lowCapacityDays(), FromDate: from.Format(time.DateOnly)}
	for w := range weeks {
		start := from.AddDate(0, 0, 7*w)
		end := start.AddDate(0, 0, 6)
		v.Weeks = append(v.Weeks, reportWeek{Start: start, End: end, Label: start.Format("2 Jan") + " – " + end.Format("2 Jan"),
			Past: end.Before(today), Current: !today.Before(start) && !today.After(end), Future: start.After(today)})
	}
	ps, err := s.DB.PracticeStatuses(ctx, false)
	if err != nil {
		return nil, err
	}
	days, err := s.DB.CapacityAsSynced(ctx, from, to)
	if err != nil {
		return nil, err
	}
	syncs, err := s.DB.SyncReliability(ctx, from, to)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	v.build(ps, days, syncs)
	return v, nil
}

func (v *reportView) build(ps []store.PracticeStatus, days []store.SyncedDay, syncs []store.SyncWeek) {
	n := len(v.Weeks) * 7
	byKey := map[string]store.SyncedDay{}
	for _, d := range days {
		byKey[d.ODSCode+"|"+d.Date] = d
	}
	grid := make([][]dayCell, len(ps))
	for i, p := range ps {
		grid[i] = make([]dayCell, n)
		for j := range n {
			day := v.From.AddDate(0, 0, j)
			d := byKey[p.ODSCode+"|"+day.Format(time.DateOnly)]
			grid[i][j] = dayCell{Known: d.Known, Minutes: d.FreeMinutes, Weekday: day.Weekday()}
		}
	}
	allClosed := federationClosed(grid)
	syncBy := map[string]store.SyncWeek{}
	for _, s := range syncs {
		syncBy[s.ODSCode+"|"+s.WeekStart] = s
	}
	v.Totals = make([]reportCell, len(v.Weeks))
	for i, p := range ps {
		closed := closedWeekdays(grid[i])
		row := reportRow{ODS: p.ODSCode, Name: p.Name, Weeks: make([]reportCell, len(v.Weeks)),
			Ref: dailyReference(p.ThresholdMinutes, v.ThresholdDays, grid[i], closed, allClosed)}
		for j, c := range grid[i] {
			w := &row.Weeks[j/7]
			if !c.Known {
				continue
			}
			w.KnownDays++
			w.FreeMinutes += c.Minutes
			w.FreeSlots += byKey[p.ODSCode+"|"+v.From.AddDate(0, 0, j).Format(time.DateOnly)].FreeSlots
			shut := isClosed(c, closed, allClosed[j])
			if shut {
				w.ClosedDays++
			} else if isShort(shortfallClass(c, false, row.Ref)) {
				w.Short++
			}
		}
		for k, wk := range v.Weeks {
			sw := syncBy[p.ODSCode+"|"+wk.Start.Format(time.DateOnly)]
			w := &row.Weeks[k]
			w.SyncOK, w.SyncFailed, w.Pending = sw.OK, sw.Failed, sw.Pending
			w.Synced = sw.OK+sw.Failed+sw.Pending > 0
			t := &v.Totals[k]
			t.FreeMinutes += w.FreeMinutes
			t.FreeSlots += w.FreeSlots
			t.KnownDays += w.KnownDays
			t.ClosedDays += w.ClosedDays
			t.Short += w.Short
			t.SyncOK += w.SyncOK
			t.SyncFailed += w.SyncFailed
			t.Pending += w.Pending
		}
		v.Rows = append(v.Rows, row)
	}
}

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	v, err := s.buildReport(r)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "report", v)
}

// reportCSVHeader is the weekly report's CSV: one row per practice and week.
var reportCSVHeader = []string{"week_start", "week_end", "ods_code", "practice_name", "free_minutes", "free_slots",
	"days_known", "days_closed", "days_short", "bar", "threshold_minutes", "threshold_days",
	"syncs_ok", "syncs_failed", "syncs_unfinished", "sync_reliability_pct"}

// handleReportCSV serves the weekly report as CSV (same rows as the page).
func (s *Server) handleReportCSV(w http.ResponseWriter, r *http.Request) {
	v, err := s.buildReport(r)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	name := fmt.Sprintf("gpfed-weekly-%s-to-%s.csv", v.From.Format(time.DateOnly), v.To.Format(time.DateOnly))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	_ = cw.Write(reportCSVHeader)
	for _, row := range v.Rows {
		threshold := ""
		if row.Ref.Threshold != nil {
			threshold = strconv.Itoa(*row.Ref.Threshold)
		}
		for k, wk := range v.Weeks {
			c := row.Weeks[k]
			rel := ""
			if n := c.SyncOK + c.SyncFailed + c.Pending; n > 0 {
				rel = strconv.Itoa(c.SyncOK * 100 / n)
			}
			_ = cw.Write([]string{wk.Start.Format(time.DateOnly), wk.End.Format(time.DateOnly), row.ODS, row.Name,
				strconv.Itoa(c.FreeMinutes), strconv.Itoa(c.FreeSlots), strconv.Itoa(c.KnownDays), strconv.Itoa(c.ClosedDays),
				strconv.Itoa(c.Short), row.Ref.Source, threshold, strconv.Itoa(v.ThresholdDays),
				strconv.Itoa(c.SyncOK), strconv.Itoa(c.SyncFailed), strconv.Itoa(c.Pending), rel})
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.Log.WarnContext(r.Context(), "write weekly report csv", "error", err)
	}
}
