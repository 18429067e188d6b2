package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/slot"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// bookingSetup is two practices and a snapshot of future slots at the second.
func bookingSetup(t *testing.T) (*store.DB, []slot.Slot, func(...slot.Slot)) {
	t.Helper()
	db, _ := testdb.New(t)
	ctx := context.Background()
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk("A20047", "Legg"), mk("B81016", "Riverside")}, false); err != nil {
		t.Fatal(err)
	}
	day := time.Now().AddDate(0, 0, 2).UTC()
	var slots []slot.Slot
	for i, role := range []string{"R0260", "R0260", "R0620", "R0260"} {
		start := time.Date(day.Year(), day.Month(), day.Day(), 9+i, 0, 0, 0, time.UTC)
		s := slot.Slot{ID: "s" + string(rune('1'+i)), Start: start, End: start.Add(15 * time.Minute),
			StartText: start.Format("2006-01-02T15:04:05-07:00"), EndText: start.Add(15 * time.Minute).Format("2006-01-02T15:04:05-07:00"),
			LocalDate: start.Format(time.DateOnly), DurationMinutes: 15, RoleCode: role, DeliveryChannel: []string{"In-person", "Telephone"}[i%2],
			LocationID: "L1", SiteName: "Main"}
		slots = append(slots, s)
	}
	save := func(ss ...slot.Slot) {
		t.Helper()
		from, to := day.AddDate(0, 0, -2), day.AddDate(0, 0, 5)
		run, _, err := db.CreateSyncRun(ctx, "manual", from, to, []string{"B81016"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.SaveSnapshot(ctx, store.FetchOutcome{RunID: run.ID, ODSCode: "B81016", Duration: time.Second}, from, to, ss); err != nil {
			t.Fatal(err)
		}
		if _, err := db.FinishRunIfDone(ctx, run.ID); err != nil {
			t.Fatal(err)
		}
	}
	save(slots...)
	return db, slots, save
}

func claimSlot(t *testing.T, db *store.DB, slotID, key string) (store.Booking, bool, error) {
	t.Helper()
	f, _, err := db.GetFreeSlot(context.Background(), "B81016", slotID)
	if err != nil {
		t.Fatal(err)
	}
	return db.ClaimBooking(context.Background(), store.Booking{ID: uuid.New(), BookingODS: "A20047", Slot: f.BookedSlot,
		OrgType: "gp-practice", PatientNHSNumber: "9658218873", Description: "x", BookedBy: store.Person{SDSUserID: "1"},
		IdempotencyKey: key, RequestHash: []byte(slotID)})
}

func capacityRows(t *testing.T, db *store.DB) []map[string]any {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT jsonb_build_object('date', local_date, 'slots', free_slots,
		'minutes', free_minutes, 'ch', by_delivery_channel, 'role', by_role, 'site', by_site,
		'mch', minutes_by_delivery_channel, 'mrole', minutes_by_role) FROM capacity_daily ORDER BY local_date`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var m map[string]any
		if err := rows.Scan(&m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// TestBookedSlotLeavesCapacityAsASyncWould: after a booking the capacity
// aggregates are exactly what a sync of the remaining slots builds, and a
// sync that still lists the slot (it fetched before the booking) does not
// bring it back.
func TestBookedSlotLeavesCapacityAsASyncWould(t *testing.T) {
	t.Parallel()
	db, slots, save := bookingSetup(t)
	ctx := context.Background()
	b, _, err := claimSlot(t, db, "s2", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MarkRequested(ctx, b.ID, "P1", false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordBooked(ctx, b.ID, "A1", "v1", store.BookingOutcome{Actor: "system", Action: "booked"}); err != nil {
		t.Fatal(err)
	}
	afterBooking := capacityRows(t, db)
	save(slots[0], slots[2], slots[3])
	if diff := cmp.Diff(capacityRows(t, db), afterBooking); diff != "" {
		t.Errorf("capacity after a booking differs from a sync's (-sync +booking):\n%s", diff)
	}
	save(slots...) // a fetch in flight during the booking still lists s2
	if _, held, err := db.GetFreeSlot(ctx, "B81016", "s2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the booked slot came back with a sync that fetched before it was booked (held %v, err %v)", held, err)
	}
	if diff := cmp.Diff(capacityRows(t, db), afterBooking); diff != "" {
		t.Errorf("capacity after that sync (-got +want):\n%s", diff)
	}
}

// TestBookingClaims: one live booking per slot; a key replays or conflicts;
// transitions only from the states they name; the audit trail is append-only.
func TestBookingClaims(t *testing.T) {
	t.Parallel()
	db, _, _ := bookingSetup(t)
	ctx := context.Background()
	first, created, err := claimSlot(t, db, "s1", "k1")
	if err != nil || !created {
		t.Fatalf("claim: %v %v", created, err)
	}
	if _, _, err := claimSlot(t, db, "s1", "k2"); !errors.Is(err, store.ErrSlotHeld) {
		t.Errorf("a second claim on the slot: %v, want ErrSlotHeld", err)
	}
	if _, _, err := claimSlot(t, db, "s1", "k1"); !errors.Is(err, store.ErrBookingInProgress) {
		t.Errorf("the same key while pending: %v", err)
	}
	if _, _, err := claimSlot(t, db, "s3", "k1"); !errors.Is(err, store.ErrIdempotencyMismatch) {
		t.Errorf("the same key for another slot: %v", err)
	}
	if _, err := db.RecordCancelled(ctx, first.ID, "", store.BookingOutcome{Actor: "system", Action: "cancelled"}); !errors.Is(err, store.ErrWrongState) {
		t.Errorf("cancelled from pending: %v", err)
	}
	if err := db.MarkRequested(ctx, first.ID, "P1", false, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.ReleaseClaim(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetBooking(ctx, first.ID); err != nil {
		t.Errorf("a requested booking was released: %v", err)
	}
	failed, err := db.RecordFailed(ctx, first.ID, store.BookingOutcome{Actor: "system", Action: "rejected", Status: 422, Code: "INVALID_RESOURCE"})
	if err != nil || failed.State != store.BookingFailed || failed.FailureStatus != 422 {
		t.Fatalf("failed: %+v %v", failed, err)
	}
	if _, _, err := claimSlot(t, db, "s1", "k3"); err != nil {
		t.Errorf("a failed booking still holds its slot: %v", err)
	}
	replay, created, err := claimSlot(t, db, "s1", "k1")
	if err != nil || created || replay.ID != first.ID {
		t.Errorf("replay of a finished booking: %v %v", created, err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE booking_events SET action = 'x'`); err == nil {
		t.Error("booking_events accepted an UPDATE")
	}
	events, err := db.BookingEvents(ctx, first.ID)
	if err != nil || len(events) != 2 || events[0].Action != "requested" || events[1].FromState != "pending" || events[1].ToState != "failed" {
		t.Errorf("events %+v %v", events, err)
	}
}
