package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/sim"
)

// TestCreateBookingRejects: every bad request gets its status and reason,
// stores nothing and sends nothing to any practice.
func TestCreateBookingRejects(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	host, caller := f.ods[1], f.ods[0]
	s := f.freeSlot(host, 0)
	nhs := f.fed.Sim.Patients(host)[0]
	long := strings.Repeat
	// A slot that has started: in the snapshot, but its start is moved into the past.
	past := f.freeSlot(host, 1)
	if _, err := f.fed.DB.Pool.Exec(context.Background(), `UPDATE slots SET start_at = now() - interval '1 hour'
		WHERE ods_code = $1 AND slot_id = $2`, host, strings.TrimPrefix(past.ID, host+":")); err != nil {
		t.Fatal(err)
	}
	person := func(k string, v any) func(map[string]any) {
		return func(m map[string]any) {
			p := map[string]any{}
			for kk, vv := range clerk {
				p[kk] = vv
			}
			if v == nil {
				delete(p, k)
			} else {
				p[k] = v
			}
			m["booked_by"] = p
		}
	}
	tests := []struct {
		name       string
		key        string
		body       string
		headers    []string
		wantStatus int
		wantReason string
	}{
		{"no key", "", bookingBody(s.ID, nhs), nil, 401, "API key is required"},
		{"admin key", "admin", bookingBody(s.ID, nhs), nil, 403, "needs a practice key"},
		{"form content type", caller, bookingBody(s.ID, nhs), []string{"Content-Type", "<unset>", "Content-Type", "text/plain"}, 415, "application/json"},
		{"malformed JSON", caller, `{"slot_id": "` + s.ID + `",`, nil, 400, "ends early"},
		{"not an object", caller, `[]`, nil, 400, "must be a JSON object"},
		{"unknown field", caller, bookingBody(s.ID, nhs, set("patient_name", "Jane")), nil, 400, "unknown field patient_name"},
		{"unknown field in booked_by", caller, bookingBody(s.ID, nhs, person("role", "GP")), nil, 400, "booked_by: unknown field role"},
		{"field in the wrong case", caller, bookingBody(s.ID, nhs, del("description"), set("Description", "x")), nil, 400, "unknown field Description"},
		{"NHS number as a number", caller, bookingBody(s.ID, nhs, set("patient_nhs_number", 9658218873)), nil, 400, "patient_nhs_number: must be a JSON string"},
		{"register_if_needed as a string", caller, bookingBody(s.ID, nhs, set("register_if_needed", "yes")), nil, 400, "register_if_needed: must be true or false"},
		{"booked_by as a string", caller, bookingBody(s.ID, nhs, set("booked_by", "Dr Who")), nil, 400, "booked_by: must be a JSON object"},
		{"missing slot", caller, bookingBody(s.ID, nhs, del("slot_id")), nil, 422, "slot_id: is required"},
		{"slot id without practice", caller, bookingBody("12345", nhs), nil, 422, "slot_id: must be a slot id from GET /v1/slots"},
		{"unknown slot", caller, bookingBody(host+":999999999", nhs), nil, 422, "slot_id: is not a free slot"},
		{"slot of no member practice", caller, bookingBody("Y12345:1", nhs), nil, 422, "slot_id: is not a free slot"},
		{"slot that has started", caller, bookingBody(past.ID, nhs), nil, 422, "slot_id: has started"},
		{"NHS number check digit", caller, bookingBody(s.ID, "9658218874"), nil, 422, "patient_nhs_number: fails the Modulus 11"},
		{"NHS number placeholder", caller, bookingBody(s.ID, "0000000000"), nil, 422, "placeholder"},
		{"missing description", caller, bookingBody(s.ID, nhs, del("description")), nil, 422, "description: is required"},
		{"blank description", caller, bookingBody(s.ID, nhs, set("description", "  ")), nil, 422, "description: must not be blank"},
		{"description of 101", caller, bookingBody(s.ID, nhs, set("description", long("é", 101))), nil, 422, "description: must be at most 100 characters (got 101)"},
		{"comment of 501", caller, bookingBody(s.ID, nhs, set("comment", long("c", 501))), nil, 422, "comment: must be at most 500 characters"},
		{"comment with NUL", caller, bookingBody(s.ID, nhs, set("comment", "a\x00b")), nil, 422, "comment: must not contain control characters"},
		{"no booked_by", caller, bookingBody(s.ID, nhs, del("booked_by")), nil, 422, "booked_by: is required"},
		{"booked by UNK", caller, bookingBody(s.ID, nhs, person("sds_user_id", "UNK")), nil, 422, "booked_by.sds_user_id: must be the person's SDS user id"},
		{"booked by nobody", caller, bookingBody(s.ID, nhs, person("family_name", " ")), nil, 422, "booked_by.family_name: is required"},
		{"no role profile", caller, bookingBody(s.ID, nhs, person("sds_role_profile_id", nil)), nil, 422, "booked_by.sds_role_profile_id"},
		{"patient birth date", caller, bookingBody(s.ID, nhs, set("patient", map[string]any{"family_name": "A", "given_name": "B", "birth_date": "31/01/1950"})), nil, 422, "patient.birth_date: must be a date"},
		{"several problems", caller, bookingBody("x", "123", set("description", "")), nil, 422, "fix description, patient_nhs_number, slot_id"},
		{"bad idempotency key", caller, bookingBody(s.ID, nhs), []string{"Idempotency-Key", "a b"}, 400, "Idempotency-Key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do("POST", "/v1/bookings", f.keys[tc.key], tc.body, tc.headers...)
			if res.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", res.status, tc.wantStatus, res.body)
			}
			if reason := res.reason(t); !contains(reason, tc.wantReason) {
				t.Errorf("reason %q does not contain %q", reason, tc.wantReason)
			}
			if strings.Contains(string(res.body), nhs) {
				t.Error("the answer repeats the NHS number")
			}
		})
	}
	if c := f.counts(); c != [3]int{} {
		t.Errorf("rejected requests stored bookings, events, notifications: %v", c)
	}
	for _, ods := range f.ods {
		if n := f.patientCalls(ods); n != 0 {
			t.Errorf("rejected requests sent %d patient calls to %s", n, ods)
		}
	}
	f.checkLogsFree(nhs)
}

// TestBookingBooked: a booking is made at the practice exactly as asked, the
// slot leaves the snapshot and the capacity at once, the host is told.
func TestBookingBooked(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	host, caller := f.ods[1], f.ods[0]
	s := f.freeSlot(host, 0)
	nhs := f.fed.Sim.Patients(host)[3]
	day := s.Start[:10]
	before := capacityOn(t, f, host, day)
	res, b := f.book(caller, bookingBody(s.ID, nhs))
	if res.status != http.StatusCreated {
		t.Fatalf("book: %d %s", res.status, res.body)
	}
	if loc := res.header.Get("Location"); loc != "/v1/bookings/"+b.ID {
		t.Errorf("Location %q", loc)
	}
	if b.State != "booked" || b.BookingODS != caller || b.HostODS != host || b.SlotID != s.ID || b.Start != s.Start ||
		b.End != s.End || b.AppointmentID == nil || b.AppointmentVersion == nil || *b.PatientNHSNumber != nhs {
		t.Errorf("booking %+v", b)
	}
	if diff := cmp.Diff([]string{"requested", "booked"}, b.actions()); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
	appts := f.fed.Sim.Appointments(host)
	if len(appts) != 1 || appts[0].ID != *b.AppointmentID || appts[0].PatientNHS != nhs || appts[0].BookingODS != caller ||
		appts[0].Description != "Hub appointment: bloods review" || appts[0].Comment != "Booked from the hub" {
		t.Fatalf("appointments at the practice: %+v", appts)
	}
	by := appts[0].BookedBy
	if by.SDSUserID != "687227875014" || by.SDSRoleProfileID != "418825193014" || by.FamilyName != "Okafor" ||
		by.Scope != "patient/*.write" || by.OrganisationODS != caller {
		t.Errorf("the booking was not attributed to the named person: %+v", by)
	}
	for _, it := range f.slots("practice=" + host + "&limit=200").Items {
		if it.ID == s.ID {
			t.Error("GET /v1/slots still offers the booked slot")
		}
	}
	after := capacityOn(t, f, host, day)
	if after[0] != before[0]-1 || after[1] != before[1]-s.Minutes {
		t.Errorf("capacity on %s: %v before, %v after booking a %d-minute slot", day, before, after, s.Minutes)
	}
	if got := f.notificationsTo(host, b.ID); !slices.Equal(got, []string{"booking.created"}) {
		t.Errorf("host notifications %v", got)
	}
	if got := f.notificationsTo(caller, b.ID); len(got) != 0 {
		t.Errorf("a booking answered 201 needs no notification to the caller, got %v", got)
	}
	f.checkLogsFree(nhs)
}

// capacityOn is [free slots, free minutes] of a practice on a UK date.
func capacityOn(t *testing.T, f *bookingFixture, ods, day string) [2]int {
	t.Helper()
	var c [2]int
	err := f.fed.DB.Pool.QueryRow(context.Background(), `SELECT COALESCE(sum(free_slots), 0), COALESCE(sum(free_minutes), 0)
		FROM capacity_daily WHERE ods_code = $1 AND local_date = $2::date`, ods, day).Scan(&c[0], &c[1])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBookingPatientElsewhere: a patient not registered at the slot's
// practice needs register_if_needed; with it gpfed registers them there
// temporarily (demographics from the caller's practice) and books.
func TestBookingPatientElsewhere(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host, refuser := f.ods[0], f.ods[2], f.ods[4] // the simulator's practice 4 takes no temporary registrations
	nhs := f.fed.Sim.Patients(caller)[12]
	s := f.freeSlot(host, 0)
	res := f.do("POST", "/v1/bookings", f.keys[caller], bookingBody(s.ID, nhs))
	if res.status != 422 || !contains(res.reason(t), "register_if_needed: the patient is not an active patient of "+host) {
		t.Fatalf("without register_if_needed: %d %s", res.status, res.body)
	}
	if c := f.counts(); c != [3]int{} || f.fed.Sim.Calls(host, sim.OpBook) != 0 {
		t.Fatalf("a refused request stored %v or booked", c)
	}
	res = f.do("POST", "/v1/bookings", f.keys[caller], bookingBody(f.freeSlot(refuser, 0).ID, nhs, set("register_if_needed", true)))
	if res.status != 422 || !contains(res.reason(t), "does not take temporary registrations") {
		t.Fatalf("at a practice without the agreement: %d %s", res.status, res.body)
	}
	res, b := f.book(caller, bookingBody(s.ID, nhs, set("register_if_needed", true)))
	if res.status != http.StatusCreated || !b.Registered {
		t.Fatalf("with register_if_needed: %d %s", res.status, res.body)
	}
	// Demographics given in the request are used when the caller's practice does not know the patient.
	stranger := f.fed.Sim.UnregisteredPatients(1)[0]
	d := f.fed.Sim.Demographics(stranger)
	res, _ = f.book(caller, bookingBody(f.freeSlot(host, 0).ID, stranger, set("register_if_needed", true)))
	if res.status != 422 || !contains(res.reason(t), "patient: registering the patient needs") {
		t.Fatalf("stranger without demographics: %d %s", res.status, res.body)
	}
	res, b = f.book(caller, bookingBody(f.freeSlot(host, 0).ID, stranger, set("register_if_needed", true),
		set("patient", map[string]any{"family_name": d.FamilyName, "given_name": d.GivenName, "birth_date": d.BirthDate})))
	if res.status != http.StatusCreated || !b.Registered {
		t.Fatalf("stranger with demographics: %d %s", res.status, res.body)
	}
	f.checkLogsFree(nhs, stranger)
}

// TestBookingIsolation: a booking is visible to its two practices only; anyone
// else's id is a 404, like an id that does not exist.
func TestBookingIsolation(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host, other := f.ods[0], f.ods[1], f.ods[2]
	res, b := f.book(caller, bookingBody(f.freeSlot(host, 0).ID, f.fed.Sim.Patients(host)[0]))
	if res.status != 201 {
		t.Fatalf("book: %d %s", res.status, res.body)
	}
	f.get(caller, b.ID)
	f.get(host, b.ID)
	for _, path := range []string{"/v1/bookings/" + b.ID, "/v1/bookings/" + strings.ToUpper(b.ID[:8]) + "x", "/v1/bookings/00000000-0000-0000-0000-000000000000"} {
		if res := f.do("GET", path, f.keys[other], ""); res.status != 404 {
			t.Errorf("GET %s by a third practice: %d", path, res.status)
		}
	}
	if res := f.do("POST", "/v1/bookings/"+b.ID+"/cancel", f.keys[other], cancelBody()); res.status != 404 {
		t.Errorf("cancel by a third practice: %d", res.status)
	}
	list := func(ods, query string) []string {
		res := f.do("GET", "/v1/bookings"+query, f.keys[ods], "")
		if res.status != 200 {
			t.Fatalf("list %s%s: %d %s", ods, query, res.status, res.body)
		}
		var p struct{ Items []bookingView }
		res.json(t, &p)
		var ids []string
		for _, it := range p.Items {
			ids = append(ids, it.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		ods, query string
		want       []string
	}{
		{caller, "", []string{b.ID}}, {caller, "?as=booking", []string{b.ID}}, {caller, "?as=host", nil},
		{host, "", []string{b.ID}}, {host, "?as=host&state=booked", []string{b.ID}}, {host, "?as=booking", nil},
		{other, "", nil}, {host, "?state=cancelled", nil},
	} {
		if got := list(tc.ods, tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("%s GET /v1/bookings%s = %v, want %v", tc.ods, tc.query, got, tc.want)
		}
	}
	if res := f.do("GET", "/v1/bookings?as=everyone", f.keys[caller], ""); res.status != 400 {
		t.Errorf("as=everyone: %d", res.status)
	}
}

// TestBookingIdempotency: a retried request books once; a key reused for
// another request is refused.
func TestBookingIdempotency(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host := f.ods[0], f.ods[1]
	s := f.freeSlot(host, 0)
	body := bookingBody(s.ID, f.fed.Sim.Patients(host)[0])
	res, first := f.book(caller, body, "Idempotency-Key", "hub-0001")
	if res.status != 201 {
		t.Fatalf("book: %d %s", res.status, res.body)
	}
	// The same request, its JSON laid out differently and the NHS number printed.
	nhs := f.fed.Sim.Patients(host)[0]
	again := strings.Replace(body, `"patient_nhs_number":"`+nhs+`"`, `"patient_nhs_number" : "`+nhs[:3]+" "+nhs[3:6]+" "+nhs[6:]+`"`, 1)
	res, replay := f.book(caller, again, "Idempotency-Key", "hub-0001")
	if res.status != 200 || replay.ID != first.ID || res.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", res.status, res.body)
	}
	if res := f.do("POST", "/v1/bookings", f.keys[caller], bookingBody(f.freeSlot(host, 0).ID, nhs), "Idempotency-Key", "hub-0001"); res.status != 409 ||
		!contains(res.reason(t), "already used for a different request") {
		t.Errorf("key reused for another slot: %d %s", res.status, res.body)
	}
	// Another practice may use the same key string for its own booking.
	if res, _ := f.book(f.ods[2], bookingBody(f.freeSlot(host, 0).ID, f.fed.Sim.Patients(host)[1]), "Idempotency-Key", "hub-0001"); res.status != 201 {
		t.Errorf("another practice's key: %d %s", res.status, res.body)
	}
	if n := f.fed.Sim.Calls(host, sim.OpBook); n != 2 {
		t.Errorf("%d booking calls at the practice, want 2", n)
	}
	if got := len(f.fed.Sim.Appointments(host)); got != 2 {
		t.Errorf("%d appointments, want 2", got)
	}
}

// TestBookingRefusedByPractice: the practice's refusal is passed on with its
// Spine code and diagnostics, never patient data.
func TestBookingRefusedByPractice(t *testing.T) {
	t.Parallel()
	f := newBookingFixture(t, bookingOpts{})
	caller, host := f.ods[0], f.ods[1]
	nhs := f.fed.Sim.Patients(host)[0]
	f.fed.Sim.SetFault(host, sim.Fault{Status: 403, Diagnostics: "GP Connect is not enabled for patient " + nhs, Only: sim.OpFindPatient})
	res := f.do("POST", "/v1/bookings", f.keys[caller], bookingBody(f.freeSlot(host, 0).ID, nhs))
	var p bookingProblemView
	res.json(t, &p)
	if res.status != 403 || p.SpineCode != "ACCESS_DENIED" || !strings.Contains(p.Diagnostics, "not enabled") ||
		strings.Contains(string(res.body), nhs) {
		t.Fatalf("403 on find: %d %s", res.status, res.body)
	}
	if c := f.counts(); c != [3]int{} {
		t.Errorf("a refusal before booking stored %v", c)
	}
	f.fed.Sim.SetFault(host, sim.Fault{Status: 403, Diagnostics: "Booking quota for your organisation reached", Only: sim.OpBook})
	res = f.do("POST", "/v1/bookings", f.keys[caller], bookingBody(f.freeSlot(host, 0).ID, nhs))
	res.json(t, &p)
	if res.status != 403 || p.BookingID == "" || p.Diagnostics != "Booking quota for your organisation reached" {
		t.Fatalf("403 on book: %d %s", res.status, res.body)
	}
	if b := f.get(caller, p.BookingID); b.State != "failed" || b.Failure == nil || b.Failure.SpineCode != "ACCESS_DENIED" {
		t.Errorf("the refused booking: %+v", b)
	}
	f.fed.Sim.SetFault(host, sim.Fault{})
	time.Sleep(0) // the fault is cleared synchronously
	f.checkLogsFree(nhs)
}
