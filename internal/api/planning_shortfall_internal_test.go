package api

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// week builds four weeks of cells from Monday with the given minutes per
// weekday (Mon..Sun); -1 is an unknown day.
func weeks(n int, perDay [7]int) []dayCell {
	var out []dayCell
	for i := range n * 7 {
		m := perDay[i%7]
		out = append(out, dayCell{Known: m >= 0, Minutes: max(m, 0), Weekday: time.Weekday((i + 1) % 7)})
	}
	return out
}

func classesOf(cells []dayCell, ref reference, closed map[time.Weekday]bool, allClosed []bool) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = shortfallClass(c, isClosed(c, closed, allClosed[i]), ref)
	}
	return out
}

// Without a threshold a day is measured against the practice's usual level
// for that weekday: a quiet Saturday is normal, a Tuesday with a third of a
// usual Tuesday is short, a Sunday with nothing every week is closed, an
// open Wednesday with nothing is the worst case, and unknown stays unknown.
func TestShortfallAgainstUsualLevel(t *testing.T) {
	t.Parallel()
	cells := weeks(4, [7]int{100, 100, 100, 100, 100, 30, 0})
	cells[8].Minutes = 30  // Tuesday of week 2
	cells[9].Minutes = 0   // Wednesday of week 2
	cells[10].Minutes = 60 // Thursday of week 2
	cells[18].Known = false
	cells[18].Minutes = 0
	allClosed := make([]bool, len(cells))
	closed := closedWeekdays(cells)
	if diff := cmp.Diff(map[time.Weekday]bool{time.Sunday: true}, closed); diff != "" {
		t.Fatalf("closed weekdays (-want +got):\n%s", diff)
	}
	ref := dailyReference(nil, 7, cells, closed, allClosed)
	if ref.Source != "usual" || ref.barOn(time.Tuesday) != 75 || ref.barOn(time.Saturday) != 22 {
		t.Fatalf("reference %+v: want usual, Tuesday bar 75, Saturday bar 22", ref)
	}
	got := classesOf(cells, ref, closed, allClosed)
	want := []string{
		"q3", "q3", "q3", "q3", "q3", "q3", "qc",
		"q3", "q1", "q0", "q2", "q3", "q3", "qc",
		"q3", "q3", "q3", "q3", "nd", "q3", "qc",
		"q3", "q3", "q3", "q3", "q3", "q3", "qc",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("classes (-want +got):\n%s", diff)
	}
}

// A threshold over 7 days is shared out over the practice's usual week, so
// a practice whose week falls short of it is short on every day, and one
// comfortably above it is not.
func TestShortfallAgainstThreshold(t *testing.T) {
	t.Parallel()
	cells := weeks(4, [7]int{100, 100, 100, 100, 100, 0, 0}) // 500 a week, closed weekends
	allClosed := make([]bool, len(cells))
	closed := closedWeekdays(cells)
	high, low := 800, 200
	ref := dailyReference(&high, 7, cells, closed, allClosed)
	if ref.Source != "threshold" || ref.barOn(time.Monday) != 160 || ref.barOn(time.Saturday) != 0 {
		t.Fatalf("reference %+v: want threshold, Monday bar 160, none on Saturday", ref)
	}
	if c := shortfallClass(cells[0], false, ref); c != clsShort {
		t.Errorf("100 against a bar of 160: %s, want %s", c, clsShort)
	}
	ref = dailyReference(&low, 7, cells, closed, allClosed)
	if c := shortfallClass(cells[0], false, ref); c != clsPlenty {
		t.Errorf("100 against a bar of 40: %s, want %s", c, clsPlenty)
	}
}

// A day on which no practice has anything free (a bank holiday) is closed
// for everyone; one practice alone with nothing is short.
func TestFederationClosedDay(t *testing.T) {
	t.Parallel()
	a, b, c := weeks(1, [7]int{50, 0, 50, 50, 50, 0, 0}), weeks(1, [7]int{60, 0, 60, 60, 60, 0, 0}), weeks(1, [7]int{70, 0, 0, 70, 70, 0, 0})
	got := federationClosed([][]dayCell{a, b, c})
	if diff := cmp.Diff([]bool{false, true, false, false, false, true, true}, got); diff != "" {
		t.Errorf("federation closed days (-want +got):\n%s", diff)
	}
	if federationClosed([][]dayCell{a, b})[1] {
		t.Error("two practices with nothing free made a federation closed day")
	}
}
