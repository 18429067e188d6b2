package booking

import (
	"testing"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/store"
)

// TestOurs: settling recognises the booking's own appointment by slot and
// booking organisation (falling back to start and end), prefers a booked
// one, and never takes another organisation's booking of the slot for ours.
func TestOurs(t *testing.T) {
	t.Parallel()
	b := store.Booking{BookingODS: "B81016", Slot: store.BookedSlot{SlotID: "7", Start: "2026-12-01T09:00:00+00:00",
		End: "2026-12-01T09:10:00+00:00"}}
	appt := func(id, status, booker string, slots []string, start string) gpconnect.Appointment {
		return gpconnect.Appointment{ID: id, Status: status, BookingODS: booker, SlotIDs: slots, Start: start,
			End: "2026-12-01T09:10:00+00:00"}
	}
	tests := []struct {
		name  string
		appts []gpconnect.Appointment
		want  string
	}{
		{"none", nil, ""},
		{"by slot", []gpconnect.Appointment{appt("1", "booked", "B81016", []string{"7"}, "x")}, "1"},
		{"by start and end", []gpconnect.Appointment{appt("2", "booked", "B81016", []string{"8"}, b.Slot.Start)}, "2"},
		{"another organisation's", []gpconnect.Appointment{appt("3", "booked", "A20047", []string{"7"}, b.Slot.Start)}, ""},
		{"booked over cancelled", []gpconnect.Appointment{appt("4", "cancelled", "B81016", []string{"7"}, "x"),
			appt("5", "booked", "B81016", []string{"7"}, "x")}, "5"},
		{"other slot, other time", []gpconnect.Appointment{appt("6", "booked", "B81016", []string{"9"}, "y")}, ""},
	}
	for _, tc := range tests {
		got := ours(b, tc.appts)
		if (got == nil && tc.want != "") || (got != nil && got.ID != tc.want) {
			t.Errorf("%s: got %+v, want %q", tc.name, got, tc.want)
		}
	}
}

func TestScrubRemovesNHSNumbers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Patient 9658218873 is not registered": "Patient [number removed] is not registered",
		"Patient 965 821 8873 unknown":         "Patient [number removed] unknown",
		"Slot/98300049 is already booked":      "Slot/98300049 is already booked",
	} {
		if got := scrub(in); got != want {
			t.Errorf("scrub(%q) = %q, want %q", in, got, want)
		}
	}
}
