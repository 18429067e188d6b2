package api_test

import (
	"net/http"
	"testing"

	"github.com/gpfed/gpfed/internal/sim"
)

// A federation imported by ODS code books through SDS: each GP Connect call
// of a booking looks up its own interaction at the practice (no endpoint is
// stored, none carried across bookings). A practice SDS lists no endpoint
// for is a 422 naming SDS_NO_ENDPOINT, an SDS outage a 503; in both cases
// nothing reaches the practice and nothing is booked.
func TestBookingThroughSDS(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{sds: true})
	caller, host, disabled, down := f.ods[0], f.ods[1], f.ods[2], f.ods[3]
	before := f.fed.Sim.SDSRequests(host)
	b := f.booked(caller, host, 0)
	if b.State != "booked" || b.AppointmentID == nil {
		t.Fatalf("booking through SDS: %+v", b)
	}
	// Find the patient, then book: two interactions, each an Endpoint and a Device search.
	if n := f.fed.Sim.SDSRequests(host) - before; n < 4 {
		t.Errorf("%d SDS requests for %s's booking, want at least 4 (two interactions, two steps each)", n, host)
	}
	if n := f.fed.Sim.Calls(host, sim.OpBook); n != 1 {
		t.Errorf("%d book calls at %s, want 1", n, host)
	}

	f.fed.Sim.SetSDSFault(disabled, sim.SDSFault{NoEndpoint: true})
	f.fed.Sim.SetSDSFault(down, sim.SDSFault{Status: http.StatusServiceUnavailable})
	for _, c := range []struct {
		ods    string
		status int
		code   string
	}{{disabled, http.StatusUnprocessableEntity, "SDS_NO_ENDPOINT"}, {down, http.StatusServiceUnavailable, "SDS_UNAVAILABLE"}} {
		slot := f.freeSlot(c.ods, 0)
		res := f.do("POST", "/v1/bookings", f.keys[caller], bookingBody(slot.ID, f.fed.Sim.Patients(c.ods)[0]))
		var p bookingProblemView
		res.json(t, &p)
		if res.status != c.status || p.SpineCode != c.code {
			t.Errorf("%s: %d %s, want %d %s: %s", c.ods, res.status, p.SpineCode, c.status, c.code, res.body)
		}
		if f.fed.Sim.Calls(c.ods, sim.OpFindPatient)+f.fed.Sim.Calls(c.ods, sim.OpBook) != 0 {
			t.Errorf("%s was called although its endpoint is unknown", c.ods)
		}
		if again := f.slots("practice=" + c.ods + "&limit=1"); len(again.Items) == 0 || again.Items[0].ID != slot.ID {
			t.Errorf("%s: the slot left the snapshot although nothing was booked", c.ods)
		}
	}
}
