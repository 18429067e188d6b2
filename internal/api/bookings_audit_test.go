package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Booking routes join the access audit like every other route: one
// record per request naming the action, the key and the bookings touched,
// and never the patient's NHS number or the booking's free text.
func TestBookingAccessAudited(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host := f.ods[0], f.ods[1]
	nhs := f.fed.Sim.Patients(host)[0]
	slot := f.freeSlot(host, 0)
	before := lastAccessID(t, f.fed.DB)
	res, b := f.book(caller, bookingBody(slot.ID, nhs))
	if res.status != http.StatusCreated {
		t.Fatalf("book: %d %s", res.status, res.body)
	}
	for _, c := range []struct {
		method, path, key, body string
		status                  int
	}{
		{"GET", "/v1/bookings/" + b.ID, f.keys[caller], "", 200},
		{"GET", "/v1/bookings", f.keys[host], "", 200},
		{"GET", "/v1/bookings/" + b.ID, f.keys[f.ods[2]], "", 404},
		{"POST", "/v1/bookings/" + b.ID + "/cancel", f.keys[caller], cancelBody(), 202},
		{"GET", "/v1/slots?practice=" + host, f.keys["admin"], "", 200},
		{"POST", "/v1/bookings", f.keys["admin"], bookingBody(slot.ID, nhs), 403},
	} {
		if res := f.do(c.method, c.path, c.key, c.body); res.status != c.status {
			t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, res.status, res.body, c.status)
		}
	}
	rows := accessRowsSince(t, f.fed.DB, before)
	type want struct {
		action, ods string
		status      int
		names       bool // the record names the booking
	}
	wants := []want{
		{"booking.create", caller, 201, true},
		{"booking.read", caller, 200, true},
		{"booking.list", host, 200, true},
		{"booking.read", f.ods[2], 404, true},
		{"booking.cancel", caller, 202, true},
		{"slot.search", "", 200, false},
		{"auth.failed", "", 403, false},
	}
	if len(rows) != len(wants) {
		t.Fatalf("%d access records, want %d: %+v", len(rows), len(wants), rows)
	}
	for i, w := range wants {
		r := rows[i]
		if r.Action != w.action || r.ODS != w.ods || r.Status != w.status || r.KeyID == "" ||
			w.names != slices.Contains(r.Resources, b.ID) {
			t.Errorf("record %d = %+v, want %+v", i, r, w)
		}
		for _, p := range []string{nhs, "bloods review", "Booked from the hub", "Patient feels better"} {
			if strings.Contains(r.All, p) {
				t.Errorf("record %d (%s) holds patient data %q", i, r.Action, p)
			}
		}
	}
}
