package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/slot"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// Three runs: A is fetched in each (losing a slot to a booking in run 2),
// B's fetch fails in run 2 (its run-1 snapshot still stands, stale), C is
// never fetched (unknown, never zero).
func TestPlanningReadModels(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	ctx := context.Background()
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk("A20047", "Legg"), mk("B81016", "Brook"), mk("C12551", "Castle")}, false); err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(london(t))
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC) // today (UK)
	to := from.AddDate(0, 0, 28)
	at := func(id string, day, hour int) slot.Slot {
		start := from.AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour)
		return slot.Slot{ID: id, Start: start, End: start.Add(10 * time.Minute),
			LocalDate: start.Format(time.DateOnly), DurationMinutes: 10, RoleCode: "R0260"}
	}
	run := func(saves map[string][]slot.Slot) int64 {
		t.Helper()
		r, _, err := db.CreateSyncRun(ctx, "manual", from, to, nil)
		if err != nil {
			t.Fatal(err)
		}
		for ods, slots := range saves {
			if _, err := db.SaveSnapshot(ctx, store.FetchOutcome{RunID: r.ID, ODSCode: ods}, from, to, slots); err != nil {
				t.Fatal(err)
			}
		}
		return r.ID
	}
	a1 := []slot.Slot{at("a1", 0, 9), at("a2", 1, 9), at("a3", 10, 9)}
	b1 := []slot.Slot{at("b1", 2, 9), at("b2", 2, 10)}
	r1 := run(map[string][]slot.Slot{"A20047": a1, "B81016": b1})
	r2 := run(map[string][]slot.Slot{"A20047": a1[:2]}) // a3 booked
	r3 := run(map[string][]slot.Slot{"A20047": a1[:2], "B81016": b1[:1]})

	// Horizon 10 days from today: a3 (day 10) is outside it, so A has 20 minutes throughout.
	points, err := db.CapacityTrend(ctx, 5, 10)
	if err != nil {
		t.Fatal(err)
	}
	type pt struct {
		Run              int64
		ODS              string
		Known, Stale     bool
		Minutes, Covered int
	}
	var got []pt
	for _, p := range points {
		got = append(got, pt{p.RunID, p.ODSCode, p.Known, p.Stale, p.FreeMinutes, p.CoveredDays})
	}
	want := []pt{
		{r1, "A20047", true, false, 20, 10}, {r1, "B81016", true, false, 20, 10}, {r1, "C12551", false, false, 0, 0},
		{r2, "A20047", true, false, 20, 10}, {r2, "B81016", true, true, 20, 10}, {r2, "C12551", false, false, 0, 0},
		{r3, "A20047", true, false, 20, 10}, {r3, "B81016", true, false, 10, 10}, {r3, "C12551", false, false, 0, 0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("trend (-want +got):\n%s", diff)
	}

	day := from
	cons, err := db.Consumption(ctx, day, day)
	if err != nil {
		t.Fatal(err)
	}
	wantCons := []store.ConsumedDay{
		{ODSCode: "A20047", Date: day.Format(time.DateOnly), Fetched: true, Slots: 1, Minutes: 10},
		{ODSCode: "B81016", Date: day.Format(time.DateOnly), Fetched: true, Slots: 1, Minutes: 10},
		{ODSCode: "C12551", Date: day.Format(time.DateOnly)},
	}
	if diff := cmp.Diff(wantCons, cons); diff != "" {
		t.Errorf("consumption (-want +got):\n%s", diff)
	}

	// All fetches were recorded today, so day 2 shows the latest snapshot:
	// A has nothing free that day (known zero), B one slot, C is unknown.
	d := from.AddDate(0, 0, 2)
	days, err := db.CapacityAsSynced(ctx, d, d)
	if err != nil {
		t.Fatal(err)
	}
	wantDays := []store.SyncedDay{
		{ODSCode: "A20047", Date: d.Format(time.DateOnly), Known: true},
		{ODSCode: "B81016", Date: d.Format(time.DateOnly), Known: true, FreeMinutes: 10, FreeSlots: 1},
		{ODSCode: "C12551", Date: d.Format(time.DateOnly)},
	}
	if diff := cmp.Diff(wantDays, days); diff != "" {
		t.Errorf("as synced (-want +got):\n%s", diff)
	}

	weeks, err := db.SyncReliability(ctx, from.AddDate(0, 0, -7), from)
	if err != nil {
		t.Fatal(err)
	}
	monday := from.AddDate(0, 0, -((int(from.Weekday()) + 6) % 7)).Format(time.DateOnly)
	wantWeeks := []store.SyncWeek{
		{ODSCode: "A20047", WeekStart: monday, OK: 3},
		{ODSCode: "B81016", WeekStart: monday, OK: 2, Pending: 1},
		{ODSCode: "C12551", WeekStart: monday, Pending: 3},
	}
	if diff := cmp.Diff(wantWeeks, weeks); diff != "" {
		t.Errorf("reliability (-want +got):\n%s", diff)
	}
}

func london(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
