package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/slot"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// TestSaveGroupFailureSavesEachAlone gives the saver a group in which one
// practice's data Postgres would refuse: the group's transaction fails, and
// then each practice is saved alone, so only that one fails.
func TestSaveGroupFailureSavesEachAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := testdb.New(t)
	var ps []practice.Practice
	for _, ods := range []string{"A10001", "B20002", "C30003"} {
		ps = append(ps, practice.Practice{ODSCode: ods, Name: ods, ASID: "918999198993", Endpoint: "https://p.example/" + ods})
	}
	if _, err := db.ImportPractices(ctx, ps, false); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 21, 0, 0, 0, 0, time.UTC)
	run, codes, err := db.CreateSyncRun(ctx, "manual", from, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	var saves []store.SnapshotSave
	for _, ods := range codes {
		start := from.Add(33 * time.Hour)
		free := slot.Slot{ID: "s1", Start: start, End: start.Add(10 * time.Minute), LocalDate: "2026-11-24",
			DurationMinutes: 10, SiteName: "Main"}
		if ods == "B20002" {
			free.LocalDate = "2026-13-01" // no such day: its COPY fails
		}
		saves = append(saves, store.SnapshotSave{Outcome: store.FetchOutcome{RunID: run.ID, ODSCode: ods}, From: from, To: to,
			Slots: []slot.Slot{free}})
	}
	s := NewSnapshotSaver(db, nil)
	rs, err := s.saveGroup(ctx, saves)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		bad := saves[i].Outcome.ODSCode == "B20002"
		if (r.Err != nil) != bad {
			t.Errorf("%s: %v", saves[i].Outcome.ODSCode, r.Err)
		}
		if !bad && r.Changes != (store.SnapshotChanges{Added: 1}) {
			t.Errorf("%s: %+v, want one slot added", saves[i].Outcome.ODSCode, r.Changes)
		}
	}
	if groups, practices := s.Groups(); groups != 1 || practices != 3 {
		t.Errorf("saver counted %d groups of %d practices, want 1 of 3", groups, practices)
	}
	stored := testdb.Strings(t, db.Pool, `SELECT ods_code FROM slots ORDER BY 1`)
	if len(stored) != 2 || stored[0] != "A10001" || stored[1] != "C30003" {
		t.Errorf("stored slots of %v, want A10001 and C30003", stored)
	}
	for i, sv := range saves {
		if sv.Outcome.ODSCode == "B20002" && (rs[i].Err == nil || errors.Is(rs[i].Err, store.ErrLeaseLost)) {
			t.Errorf("B20002: %v, want its own data's error", rs[i].Err)
		}
	}
}
