package api_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/sim"
)

// booked makes a booking of host's n-th free slot by caller for host's
// patient k and returns it.
func (f *bookingFixture) booked(caller, host string, k int) bookingView {
	f.t.Helper()
	res, b := f.book(caller, bookingBody(f.freeSlot(host, 0).ID, f.fed.Sim.Patients(host)[k]))
	if res.status != http.StatusCreated {
		f.t.Fatalf("book: %d %s", res.status, res.body)
	}
	return b
}

// appointment is the practice's copy of a booking's appointment.
func (f *bookingFixture) appointment(host, id string) sim.Appointment {
	f.t.Helper()
	for _, a := range f.fed.Sim.Appointments(host) {
		if a.ID == id {
			return a
		}
	}
	f.t.Fatalf("no appointment %s at %s", id, host)
	return sim.Appointment{}
}

func TestCancelBooking(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host := f.ods[0], f.ods[1]
	b := f.booked(caller, host, 0)
	for _, tc := range []struct {
		name, body string
		status     int
		reason     string
	}{
		{"no reason", cancelBody(del("reason")), 422, "reason: is required"},
		{"blank reason", cancelBody(set("reason", " ")), 422, "reason: must not be blank"},
		{"no person", cancelBody(del("cancelled_by")), 422, "cancelled_by: is required"},
		{"unknown field", cancelBody(set("force", true)), 400, "unknown field force"},
	} {
		res := f.do("POST", "/v1/bookings/"+b.ID+"/cancel", f.keys[caller], tc.body)
		if res.status != tc.status || !contains(res.reason(t), tc.reason) {
			t.Errorf("%s: %d %s", tc.name, res.status, res.body)
		}
	}
	if f.fed.Sim.Calls(host, sim.OpCancel) != 0 {
		t.Fatal("a refused cancel reached the practice")
	}
	// The host practice may cancel a booking made into its slots.
	res := f.do("POST", "/v1/bookings/"+b.ID+"/cancel", f.keys[host], cancelBody())
	if res.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", res.status, res.body)
	}
	if again := f.do("POST", "/v1/bookings/"+b.ID+"/cancel", f.keys[caller], cancelBody()); again.status != http.StatusAccepted &&
		again.status != http.StatusOK {
		t.Errorf("cancel again: %d %s", again.status, again.body)
	}
	done := f.waitState(caller, b.ID, "cancelled", 30*time.Second)
	a := f.appointment(host, *b.AppointmentID)
	if a.Status != "cancelled" || a.CancellationReason != "Patient feels better" || a.CancelBy.FamilyName != "Okafor" ||
		a.CancelBy.Scope != "patient/*.write" || a.CancelBy.OrganisationODS != host {
		t.Errorf("the practice's appointment: %+v", a)
	}
	if diff := slices.Compare(done.actions(), []string{"requested", "booked", "cancel_requested", "cancelled"}); diff != 0 {
		t.Errorf("audit trail %v", done.actions())
	}
	for _, ods := range []string{caller, host} {
		if got := f.notificationsTo(ods, b.ID); !slices.Contains(got, "booking.cancelled") {
			t.Errorf("%s notifications %v lack booking.cancelled", ods, got)
		}
	}
	if res := f.do("POST", "/v1/bookings/"+b.ID+"/cancel", f.keys[caller], cancelBody()); res.status != http.StatusOK {
		t.Errorf("cancelling a cancelled booking: %d", res.status)
	}
	if n := f.fed.Sim.Calls(host, sim.OpCancel); n != 1 {
		t.Errorf("%d cancel calls, want 1", n)
	}
}

func TestCancelBookingNotBooked(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host := f.ods[0], f.ods[1]
	f.fed.Sim.SetFault(host, sim.Fault{Status: 422, SpineCode: "INVALID_RESOURCE", Only: sim.OpBook, Times: 1})
	res := f.do("POST", "/v1/bookings", f.keys[caller], bookingBody(f.freeSlot(host, 0).ID, f.fed.Sim.Patients(host)[0]))
	var p bookingProblemView
	res.json(t, &p)
	if res.status != 422 || p.BookingID == "" {
		t.Fatalf("refused booking: %d %s", res.status, res.body)
	}
	res = f.do("POST", "/v1/bookings/"+p.BookingID+"/cancel", f.keys[caller], cancelBody())
	if res.status != http.StatusConflict || !contains(res.reason(t), "the booking is failed") {
		t.Errorf("cancel a failed booking: %d %s", res.status, res.body)
	}
}

// TestCancelLostResponse: the practice cancels and the answer is lost. The
// job retries, reads the appointment first, finds it cancelled and is done:
// one cancel at the practice.
func TestCancelLostResponse(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host := f.ods[0], f.ods[1]
	b := f.booked(caller, host, 0)
	f.fed.Sim.SetFault(host, sim.Fault{Lost: true, Only: sim.OpCancel, Times: 1})
	if res := f.do("POST", "/v1/bookings/"+b.ID+"/cancel", f.keys[caller], cancelBody()); res.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", res.status, res.body)
	}
	f.waitState(caller, b.ID, "cancelled", 30*time.Second)
	if a := f.appointment(host, *b.AppointmentID); a.Status != "cancelled" {
		t.Errorf("appointment %+v", a)
	}
	if n := f.fed.Sim.Calls(host, sim.OpCancel); n != 1 {
		t.Errorf("%d cancel calls, want 1 (the retry reads first)", n)
	}
	if n := f.fed.Sim.Calls(host, sim.OpReadAppointment); n < 2 {
		t.Errorf("%d reads, want at least 2", n)
	}
}

// TestCancelVersionConflict: a stale version is re-read and cancelled once
// more; a second conflict is reported and the booking stays booked.
func TestCancelVersionConflict(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host := f.ods[0], f.ods[1]
	conflict := sim.Fault{Status: http.StatusConflict, SpineCode: "FHIR_CONSTRAINT_VIOLATION", Only: sim.OpCancel}

	once := f.booked(caller, host, 0)
	conflict.Times = 1
	f.fed.Sim.SetFault(host, conflict)
	if res := f.do("POST", "/v1/bookings/"+once.ID+"/cancel", f.keys[caller], cancelBody()); res.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", res.status, res.body)
	}
	done := f.waitState(caller, once.ID, "cancelled", 30*time.Second)
	if !slices.Contains(done.actions(), "version_conflict") {
		t.Errorf("audit trail %v lacks the version conflict", done.actions())
	}

	twice := f.booked(caller, host, 1)
	conflict.Times = 2
	f.fed.Sim.SetFault(host, conflict)
	if res := f.do("POST", "/v1/bookings/"+twice.ID+"/cancel", f.keys[host], cancelBody()); res.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", res.status, res.body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Contains(f.get(caller, twice.ID).actions(), "cancel_failed") {
		if time.Now().After(deadline) {
			t.Fatal("the second conflict was never reported")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b := f.get(caller, twice.ID)
	if b.State != "booked" || b.Failure == nil || b.Failure.SpineCode != "VERSION_CONFLICT" {
		t.Errorf("after two conflicts: %+v", b)
	}
	if a := f.appointment(host, *twice.AppointmentID); a.Status != "booked" {
		t.Errorf("the appointment is %s at the practice", a.Status)
	}
	if got := f.notificationsTo(host, twice.ID); !slices.Contains(got, "booking.cancel_failed") {
		t.Errorf("the host asked and was not told: %v", got)
	}
}

// TestBookingRedactedAfterRetention: a finished booking's patient data is
// blanked by retention; its metadata and audit trail stay.
func TestBookingRedactedAfterRetention(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host := f.ods[0], f.ods[1]
	b := f.booked(caller, host, 0)
	f.do("POST", "/v1/bookings/"+b.ID+"/cancel", f.keys[caller], cancelBody())
	f.waitState(caller, b.ID, "cancelled", 30*time.Second)
	n, err := f.fed.DB.RedactFinishedBookings(context.Background(), time.Now().Add(time.Minute), 10)
	if err != nil || n != 1 {
		t.Fatalf("redacted %d: %v", n, err)
	}
	res := f.do("GET", "/v1/bookings/"+b.ID, f.keys[caller], "")
	var got struct {
		PatientNHSNumber *string    `json:"patient_nhs_number"`
		Description      string     `json:"description"`
		Comment          *string    `json:"comment"`
		RedactedAt       *time.Time `json:"redacted_at"`
		Cancel           struct {
			Reason *string `json:"reason"`
		} `json:"cancel"`
		Events []struct{ Action string }
	}
	res.json(t, &got)
	if got.PatientNHSNumber != nil || got.Description != "" || got.Comment != nil || got.Cancel.Reason != nil ||
		got.RedactedAt == nil || got.Events[len(got.Events)-1].Action != "redacted" {
		t.Errorf("redacted booking: %s", res.body)
	}
}
