package api

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
)

type splitCell struct {
	Minutes, Slots int
	Title          string
}

type practiceDay struct {
	Day                    dayCol
	Total                  splitCell
	Sites, Roles, Channels []splitCell
}

// bar is one day in the practice page's inline SVG chart.
type bar struct {
	X, Y, H int
	Label   string
	Tick    string // axis label on Mondays
	Weekend bool
}

type practiceView struct {
	pageBase
	Now                    time.Time
	P                      statusRow
	Sites, Roles, Channels []string
	Days                   []practiceDay
	Total                  splitCell
	Bars                   []bar
	ChartMax               int
	ChartSummary           string
	History                []store.SyncOutcome
	Channel                []store.ChannelChange
}

const chartHeight = 120

func (s *Server) handlePracticePage(w http.ResponseWriter, r *http.Request) {
	ods := strings.ToUpper(r.PathValue("ods"))
	if !practice.ValidODS(ods) {
		s.renderError(w, r, http.StatusNotFound, "No such practice", "That is not an ODS code.")
		return
	}
	p, err := s.DB.PracticeStatusByODS(r.Context(), ods)
	if errors.Is(err, store.ErrNotFound) {
		s.renderError(w, r, http.StatusNotFound, "No such practice", "No federation practice has ODS code "+ods+".")
		return
	}
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	from := s.todayUK()
	splits, err := s.DB.PracticeCapacitySplits(r.Context(), ods, from, from.AddDate(0, 0, heatmapDays-1))
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	history, err := s.DB.PracticeSyncHistory(r.Context(), ods, 10)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	channel, err := s.DB.ChannelChanges(r.Context(), ods, 20)
	if err != nil {
		s.pageUnavailable(w, r, err)
		return
	}
	v := &practiceView{pageBase: pageBase{Title: p.Name, Nav: "heatmap"}, Now: s.Now(),
		P: classifyPractice(p, s.Now()), History: history, Channel: channel}
	v.build(makeDays(from, heatmapDays), splits)
	s.render(w, r, http.StatusOK, "practice", v)
}

func distinct(splits []store.CapacitySplit, key func(store.CapacitySplit) string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range splits {
		if k := key(c); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func orUnspecified(s string) string {
	if s == "" {
		return "unspecified"
	}
	return s
}

// build pivots the splits into one row per day with a column per site, role
// and channel, and scales the daily bar chart.
func (v *practiceView) build(days []dayCol, splits []store.CapacitySplit) {
	site := func(c store.CapacitySplit) string { return orUnspecified(c.Site) }
	role := func(c store.CapacitySplit) string { return orUnspecified(c.RoleCode) }
	channel := func(c store.CapacitySplit) string { return orUnspecified(c.Channel) }
	v.Sites, v.Roles, v.Channels = distinct(splits, site), distinct(splits, role), distinct(splits, channel)
	index := map[string]int{}
	for i, d := range days {
		index[d.Date] = i
		v.Days = append(v.Days, practiceDay{Day: d, Sites: make([]splitCell, len(v.Sites)),
			Roles: make([]splitCell, len(v.Roles)), Channels: make([]splitCell, len(v.Channels))})
	}
	for _, c := range splits {
		i, ok := index[c.Date]
		if !ok {
			continue
		}
		d := &v.Days[i]
		add(&d.Total, c)
		add(&d.Sites[indexOf(v.Sites, site(c))], c)
		add(&d.Roles[indexOf(v.Roles, role(c))], c)
		add(&d.Channels[indexOf(v.Channels, channel(c))], c)
		add(&v.Total, c)
	}
	for i := range v.Days {
		d := &v.Days[i]
		d.Total.Title = splitTitle(d.Day.Full, d.Total)
		for j, n := range v.Sites {
			d.Sites[j].Title = splitTitle(d.Day.Full+", "+n, d.Sites[j])
		}
		for j, n := range v.Roles {
			d.Roles[j].Title = splitTitle(d.Day.Full+", "+roleName(n), d.Roles[j])
		}
		for j, n := range v.Channels {
			d.Channels[j].Title = splitTitle(d.Day.Full+", "+n, d.Channels[j])
		}
		v.ChartMax = max(v.ChartMax, d.Total.Minutes)
	}
	v.chart()
}

func (v *practiceView) chart() {
	top := max(v.ChartMax, 1)
	for i, d := range v.Days {
		h := chartHeight * d.Total.Minutes / top
		b := bar{X: 40 + i*22, Y: 10 + chartHeight - h, H: h, Weekend: d.Day.Weekend,
			Label: fmt.Sprintf("%s %s %s: %s free minutes", d.Day.Weekday, d.Day.Day, d.Day.Month, numText(d.Total.Minutes))}
		if d.Day.Weekday == "Mon" || i == 0 {
			b.Tick = d.Day.Day + " " + d.Day.Month
		}
		v.Bars = append(v.Bars, b)
	}
	v.ChartSummary = fmt.Sprintf("Free minutes per day for the next %d days: %s in total, at most %s on one day.",
		len(v.Days), numText(v.Total.Minutes), numText(v.ChartMax))
}

func add(c *splitCell, s store.CapacitySplit) {
	c.Minutes += s.Minutes
	c.Slots += s.Slots
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func splitTitle(what string, c splitCell) string {
	return fmt.Sprintf("%s: %s free minutes in %s", what, numText(c.Minutes), plural(c.Slots, "slot", "slots"))
}
