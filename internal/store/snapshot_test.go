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

func slotAt(id string, day, hour int, role string) slot.Slot {
	start := time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC)
	return slot.Slot{ID: id, Start: start, End: start.Add(10 * time.Minute),
		LocalDate: start.Format(time.DateOnly), DurationMinutes: 10, RoleCode: role, DeliveryChannel: "In-person",
		LocationID: "L1", SiteName: "Main"}
}

// TestSaveSnapshotDiff checks the snapshot replacement: first save records
// no changes, a later save records added/removed/expired slots, a changed
// slot keeps its first_seen, and saving the same data again changes nothing.
func TestSaveSnapshotDiff(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	ctx := context.Background()
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk("A20047", "Legg")}, false); err != nil {
		t.Fatal(err)
	}
	from1, to := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 18, 0, 0, 0, 0, time.UTC)
	save := func(from time.Time, slots ...slot.Slot) (int64, store.SnapshotChanges) {
		t.Helper()
		run, _, err := db.CreateSyncRun(ctx, "manual", from, to, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := db.SaveSnapshot(ctx, store.FetchOutcome{RunID: run.ID, ODSCode: "A20047"}, from, to, slots)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.FinishRunIfDone(ctx, run.ID); err != nil {
			t.Fatal(err)
		}
		return run.ID, ch
	}
	changes := func(run int64) map[string]string {
		t.Helper()
		rows, err := db.Pool.Query(ctx, `SELECT slot_id, change FROM slot_changes WHERE run_id = $1`, run)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var id, c string
			if err := rows.Scan(&id, &c); err != nil {
				t.Fatal(err)
			}
			out[id] = c
		}
		return out
	}

	r1, ch1 := save(from1, slotAt("a", 20, 9, "R0260"), slotAt("b", 23, 9, "R0260"), slotAt("c", 24, 9, "R0620"), slotAt("d", 25, 9, "R0260"))
	if diff := cmp.Diff(store.SnapshotChanges{Added: 4}, ch1); diff != "" {
		t.Errorf("first save (-want +got):\n%s", diff)
	}
	if got := changes(r1); len(got) != 0 {
		t.Errorf("first snapshot recorded changes: %v", got)
	}
	var firstSeenC time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT first_seen_at FROM slots WHERE slot_id = 'c'`).Scan(&firstSeenC); err != nil {
		t.Fatal(err)
	}

	// Next sync starts on the 22nd: "a" expired, "b" was booked, "c" changed role, "e" is new.
	from2 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	r2, ch2 := save(from2, slotAt("c", 24, 9, "R1480"), slotAt("d", 25, 9, "R0260"), slotAt("e", 26, 9, "R0260"))
	if diff := cmp.Diff(store.SnapshotChanges{Added: 1, Removed: 1, Expired: 1, Changed: 1, Kept: 1}, ch2); diff != "" {
		t.Errorf("second save (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"a": "expired", "b": "removed", "e": "added"}, changes(r2)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	var role string
	var firstSeen time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT role_code, first_seen_at FROM slots WHERE slot_id = 'c'`).Scan(&role, &firstSeen); err != nil {
		t.Fatal(err)
	}
	if role != "R1480" || !firstSeen.Equal(firstSeenC) {
		t.Errorf("changed slot: role %s first_seen %v, want R1480 and %v", role, firstSeen, firstSeenC)
	}

	r3, ch3 := save(from2, slotAt("c", 24, 9, "R1480"), slotAt("d", 25, 9, "R0260"), slotAt("e", 26, 9, "R0260"))
	if diff := cmp.Diff(store.SnapshotChanges{Kept: 3}, ch3); diff != "" {
		t.Errorf("identical save (-want +got):\n%s", diff)
	}
	if got := changes(r3); len(got) != 0 {
		t.Errorf("identical save recorded changes: %v", got)
	}
	rows, err := db.Capacity(ctx, store.CapacityFilter{From: from2, To: to})
	if err != nil {
		t.Fatal(err)
	}
	var slots int
	for _, r := range rows {
		slots += r.FreeSlots
	}
	if slots != 3 {
		t.Errorf("capacity has %d slots, want 3", slots)
	}
}
