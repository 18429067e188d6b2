package api

import (
	"fmt"
	"strings"
)

// sparkline is a tiny inline SVG polyline of a row's known points.
type sparkline struct {
	Points string // SVG polyline points, empty with fewer than two known values
	Label  string
}

const (
	sparkW, sparkH = 90, 22
	chartW, chartH = 760, 170
	chartL, chartT = 60, 12 // plot area offsets
	chartPW        = chartW - chartL - 20
	chartPH        = chartH - chartT - 34
)

// spark scales the known values of cells to a sparkline; unknown points
// are left out, never drawn as zero.
func spark(cells []trendCell) sparkline {
	lo, hi, known := 0, 0, 0
	for _, c := range cells {
		if !c.Known {
			continue
		}
		if known == 0 || c.Minutes < lo {
			lo = c.Minutes
		}
		hi = max(hi, c.Minutes)
		known++
	}
	if known < 2 || len(cells) < 2 {
		return sparkline{}
	}
	span := max(hi-lo, 1)
	var pts []string
	for i, c := range cells {
		if !c.Known {
			continue
		}
		x := i * (sparkW - 4) / (len(cells) - 1)
		y := (sparkH - 3) - (c.Minutes-lo)*(sparkH-6)/span
		pts = append(pts, fmt.Sprintf("%d,%d", x+2, y))
	}
	return sparkline{Points: strings.Join(pts, " "),
		Label: fmt.Sprintf("from %s to %s free minutes", numText(lo), numText(hi))}
}

// lineChart is the federation trend: one point per sync run.
type lineChart struct {
	Points string
	Dots   []chartDot
	Ticks  []chartTick
	Max    string
	Desc   string
	W, H   int
	Bottom int
}

type chartDot struct {
	X, Y  int
	Label string
}

type chartTick struct {
	X      int
	Text   string
	Anchor string // SVG text-anchor: the first and last labels stay inside the chart
}

func federationChart(runs []trendRun, cells []trendCell) lineChart {
	ch := lineChart{W: chartW, H: chartH, Bottom: chartT + chartPH}
	top := 1
	for _, c := range cells {
		top = max(top, c.Minutes)
	}
	ch.Max = numText(top)
	var pts []string
	for i, c := range cells {
		x := chartL
		if len(cells) > 1 {
			x += i * chartPW / (len(cells) - 1)
		}
		if i == 0 || i == len(cells)-1 || len(cells) <= 10 || i%2 == 0 {
			anchor := "middle"
			switch {
			case i == len(cells)-1 && i > 0:
				anchor = "end"
			case i == 0 && len(cells) > 1:
				anchor = "start"
			}
			ch.Ticks = append(ch.Ticks, chartTick{X: x, Text: runs[i].Label, Anchor: anchor})
		}
		if !c.Known {
			continue
		}
		y := chartT + chartPH - c.Minutes*chartPH/top
		pts = append(pts, fmt.Sprintf("%d,%d", x, y))
		ch.Dots = append(ch.Dots, chartDot{X: x, Y: y, Label: c.Title})
	}
	ch.Points = strings.Join(pts, " ")
	if len(ch.Dots) > 0 {
		ch.Desc = fmt.Sprintf("%d sync runs; the first: %s; the latest: %s.", len(runs), ch.Dots[0].Label, ch.Dots[len(ch.Dots)-1].Label)
	}
	return ch
}
