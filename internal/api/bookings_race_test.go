package api_test

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/sim"
)

// TestBookingConcurrentSameSlot: 20 practices book one slot at the same
// moment. Exactly one booking reaches the practice and is booked; the 19
// others are answered 409 with alternatives from a snapshot the slot has
// already left.
func TestBookingConcurrentSameSlot(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{practices: 21})
	host := f.ods[0]
	s := f.freeSlot(host, 0)
	patients := f.fed.Sim.Patients(host)
	type answer struct {
		status int
		p      bookingProblemView
	}
	answers := make([]answer, 20)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res := f.do("POST", "/v1/bookings", f.keys[f.ods[i+1]], bookingBody(s.ID, patients[i]))
			answers[i].status = res.status
			if res.status == http.StatusConflict {
				res.json(t, &answers[i].p)
			}
		}()
	}
	close(start)
	wg.Wait()
	booked, taken := 0, 0
	for i, a := range answers {
		switch a.status {
		case http.StatusCreated:
			booked++
		case http.StatusConflict:
			taken++
			if len(a.p.Alternatives) == 0 || len(a.p.Alternatives) > 5 {
				t.Errorf("caller %d: %d alternatives, want 1 to 5", i, len(a.p.Alternatives))
			}
			for _, alt := range a.p.Alternatives {
				if alt.ID == s.ID {
					t.Errorf("caller %d was offered the taken slot as an alternative", i)
				}
				if !sameRoleChannel(alt, s) {
					t.Errorf("caller %d: alternative %s has another role or channel", i, alt.ID)
				}
			}
		default:
			t.Errorf("caller %d: %d", i, a.status)
		}
	}
	if booked != 1 || taken != 19 {
		t.Fatalf("%d booked, %d taken; want 1 and 19", booked, taken)
	}
	appts := f.fed.Sim.Appointments(host)
	if len(appts) != 1 || !slices.Equal(appts[0].SlotIDs, []string{strings.TrimPrefix(s.ID, host+":")}) {
		t.Errorf("appointments at the practice: %+v", appts)
	}
	if n := f.fed.Sim.Calls(host, sim.OpBook); n != 1 {
		t.Errorf("%d booking calls reached the practice, want 1", n)
	}
}

func sameRoleChannel(a, b slotView) bool {
	role := func(s slotView) string {
		if s.Role == nil {
			return ""
		}
		return s.Role.Code
	}
	ch := func(s slotView) string {
		if s.DeliveryChannel == nil {
			return ""
		}
		return *s.DeliveryChannel
	}
	return role(a) == role(b) && ch(a) == ch(b)
}

// TestBookingTakenAtPractice: the practice answers DUPLICATE_REJECTED (someone
// booked the slot outside gpfed): 409 with alternatives, and the slot leaves
// the snapshot at once.
func TestBookingTakenAtPractice(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host := f.ods[0], f.ods[1]
	s := f.freeSlot(host, 0)
	f.fed.Sim.SetFault(host, sim.Fault{Status: http.StatusConflict, SpineCode: "DUPLICATE_REJECTED", Only: sim.OpBook, Times: 1})
	res := f.do("POST", "/v1/bookings", f.keys[caller], bookingBody(s.ID, f.fed.Sim.Patients(host)[0]))
	var p bookingProblemView
	res.json(t, &p)
	if res.status != 409 || p.SpineCode != "DUPLICATE_REJECTED" || len(p.Alternatives) == 0 || p.BookingID == "" {
		t.Fatalf("409 from the practice: %d %s", res.status, res.body)
	}
	for _, it := range f.slots("practice=" + host + "&limit=200").Items {
		if it.ID == s.ID {
			t.Error("the taken slot is still offered")
		}
	}
	if b := f.get(caller, p.BookingID); b.State != "failed" {
		t.Errorf("the booking is %s, want failed", b.State)
	}
}

// TestBookingLostResponse: the practice books and the answer is lost (the
// connection drops, or a 500 after it committed). gpfed answers 202
// unconfirmed, never posts again, and a job settles the booking by reading
// the patient's appointments: booked, exactly one appointment, the caller
// and the host told. An answer lost before the practice acted (an SSP 502)
// settles as failed, with no appointment.
func TestBookingLostResponse(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host := f.ods[0], f.ods[1]
	tests := []struct {
		name      string
		fault     sim.Fault
		wantState string
		wantAppts int
		wantNote  string
	}{
		{"connection dropped after booking", sim.Fault{Lost: true, Only: sim.OpBook, Times: 1}, "booked", 1, "booking.confirmed"},
		{"500 after booking", sim.Fault{Status: 500, Applied: true, Only: sim.OpBook, Times: 1}, "booked", 1, "booking.confirmed"},
		{"SSP 502 before the practice", sim.Fault{Status: 502, Only: sim.OpBook, Times: 1}, "failed", 0, "booking.failed"},
		{"no answer in time", sim.Fault{Latency: 6 * time.Second, Only: sim.OpBook}, "failed", 0, "booking.failed"},
	}
	patients := f.fed.Sim.Patients(host)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nhs := patients[10+i]
			s := f.freeSlot(host, 0)
			f.fed.Sim.SetFault(host, tc.fault)
			calls := f.fed.Sim.Calls(host, sim.OpBook)
			res, b := f.book(caller, bookingBody(s.ID, nhs))
			if res.status != http.StatusAccepted || b.State != "unconfirmed" {
				t.Fatalf("lost answer: %d %s, want 202 unconfirmed", res.status, res.body)
			}
			done := f.waitState(caller, b.ID, tc.wantState, 30*time.Second)
			mine := 0
			for _, a := range f.fed.Sim.Appointments(host) {
				if a.PatientNHS == nhs {
					mine++
					if done.AppointmentID == nil || a.ID != *done.AppointmentID {
						t.Errorf("settled to appointment %v, the practice has %s", done.AppointmentID, a.ID)
					}
				}
			}
			if mine != tc.wantAppts {
				t.Errorf("%d appointments at the practice, want %d", mine, tc.wantAppts)
			}
			if n := f.fed.Sim.Calls(host, sim.OpBook) - calls; n != 1 {
				t.Errorf("%d booking calls, want exactly 1 (never posted twice)", n)
			}
			if got := f.notificationsTo(caller, b.ID); !slices.Equal(got, []string{tc.wantNote}) {
				t.Errorf("caller notifications %v, want %s", got, tc.wantNote)
			}
			wantHost := []string{"booking.created"}
			if tc.wantState != "booked" {
				wantHost = nil
			}
			if got := f.notificationsTo(host, b.ID); !slices.Equal(got, wantHost) {
				t.Errorf("host notifications %v, want %v", got, wantHost)
			}
			if !slices.Contains(done.actions(), "settled") {
				t.Errorf("audit trail %v lacks the settle", done.actions())
			}
		})
	}
	f.checkLogsFree(patients[10], patients[11], patients[12], patients[13])
}
