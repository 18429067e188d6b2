package gpconnect

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var booker = Requester{
	Practitioner: Practitioner{ID: "hub-clerk-7", SDSUserID: "123456789012", SDSRoleProfileID: "210987654321",
		FamilyName: "Patel", GivenName: "Asha"},
	OrgODS: "B81016", OrgName: "Riverside Medical Centre",
}

var newAppt = NewAppointment{
	SlotIDs: []string{"1"}, Start: "2017-05-30T10:00:00+01:00", End: "2017-05-30T10:25:00+01:00",
	PatientID: "1", LocationID: "32", Description: "Free text description.", Comment: "Free text comment.",
	BookingOrg: BookingOrg{ODS: "A00001", Name: "Test Organization Name", Telephone: "0300 303 5678", OrgType: "gp-practice"},
}

// body captures request bodies, which recorder's clones do not keep.
type bodies struct {
	mu sync.Mutex
	b  [][]byte
}

func (bs *bodies) add(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.b = append(bs.b, b)
}

func (bs *bodies) get(i int) []byte {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return bs.b[i]
}

// TestBookRequestMatchesSpecExample: the Appointment posted for the spec's own example values
// is the spec's book request example, element for element (created aside, which is "now").
func TestBookRequestMatchesSpecExample(t *testing.T) {
	t.Parallel()
	var bs bodies
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		bs.add(r)
		w.Header().Set("ETag", `W/"636068818095315079"`)
		writeFHIR(w, http.StatusCreated, fixture(t, "appointment-book-response.json"))
	}, func(cfg *Config) {
		cfg.Now = func() time.Time { return time.Date(2017, 5, 25, 12, 48, 41, 0, time.UTC) }
	})
	appt, err := c.BookAppointment(t.Context(), p, booker, newAppt)
	if err != nil {
		t.Fatal(err)
	}
	if appt.ID != "9" || appt.VersionID != "636068818095315079" || appt.Status != "booked" ||
		!slices.Equal(appt.SlotIDs, []string{"1"}) || appt.BookingODS != "A00001" || appt.PatientID != "1" {
		t.Errorf("parsed %+v", appt)
	}
	var got, want map[string]any
	if err := json.Unmarshal(bs.get(0), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(fixture(t, "appointment-book-request.json"), &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("posted Appointment differs from the specification's example (-want +got):\n%s", diff)
	}
	req := rec.get(0)
	checkWriteHeaders(t, req, http.MethodPost, "/A20047/STU3/1/gpconnect/Appointment", InteractionCreateAppointment)
	checkJWTFor(t, req, "patient/*.write", booker)
}

func checkWriteHeaders(t *testing.T, req *http.Request, method, path, interaction string) {
	t.Helper()
	if req.Method != method || req.URL.Path != path {
		t.Errorf("%s %s, want %s %s", req.Method, req.URL.Path, method, path)
	}
	if got := req.Header.Get("Ssp-InteractionID"); got != interaction {
		t.Errorf("Ssp-InteractionID %q, want %q", got, interaction)
	}
	if got := req.Header.Get("Content-Type"); got != "application/fhir+json;charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if req.Header.Get("Prefer") != "" {
		t.Error("Prefer must not be sent (return=minimal gives an empty body)")
	}
}

// checkJWTFor: the scope the interaction demands, the named person and their organisation.
func checkJWTFor(t *testing.T, req *http.Request, scope string, who Requester) {
	t.Helper()
	_, claims := decodeJWT(t, strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
	if claims["requested_scope"] != scope {
		t.Errorf("requested_scope %v, want %s", claims["requested_scope"], scope)
	}
	if _, ok := claims["requested_record"]; ok {
		t.Error("requested_record was removed in GP Connect 1.0.0 and must not be sent")
	}
	pr := claims["requesting_practitioner"].(map[string]any)
	if claims["sub"] != who.Practitioner.ID || pr["id"] != who.Practitioner.ID {
		t.Errorf("sub %v / practitioner %v, want %s", claims["sub"], pr["id"], who.Practitioner.ID)
	}
	ids, _ := json.Marshal(pr["identifier"])
	for _, v := range []string{who.Practitioner.SDSUserID, who.Practitioner.SDSRoleProfileID} {
		if !strings.Contains(string(ids), `"`+v+`"`) {
			t.Errorf("practitioner identifiers %s lack %s", ids, v)
		}
	}
	org, _ := json.Marshal(claims["requesting_organization"])
	if !strings.Contains(string(org), `"`+who.OrgODS+`"`) {
		t.Errorf("requesting_organization %s, want %s", org, who.OrgODS)
	}
}

// TestPatientCallsScopesAndInteractions: each interaction carries its own Ssp-InteractionID and
// requested_scope, and the named person.
func TestPatientCallsScopesAndInteractions(t *testing.T) {
	t.Parallel()
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/Patient"):
			writeFHIR(w, 200, fixture(t, "patient-search-response.json"))
		case strings.HasSuffix(r.URL.Path, "registerpatient"):
			writeFHIR(w, 200, fixture(t, "register-patient-response.json"))
		case strings.HasSuffix(r.URL.Path, "/Appointment") && r.Method == http.MethodGet:
			writeFHIR(w, 200, fixture(t, "patient-appointments-response.json"))
		default:
			writeFHIR(w, 200, fixture(t, "appointment-book-response.json"))
		}
	}, nil)
	ctx := t.Context()
	if pts, err := c.FindPatient(ctx, p, booker, "9476719931"); err != nil || len(pts) != 1 || pts[0].ID != "2" ||
		pts[0].FamilyName != "Jackson" || pts[0].BirthDate != "1952-05-31" {
		t.Errorf("FindPatient: %+v, %v", pts, err)
	}
	if pt, err := c.RegisterPatient(ctx, p, booker, Demographics{NHSNumber: "9476719931", FamilyName: "Jackson",
		GivenName: "Jane", BirthDate: "1952-05-31", Gender: "female"}); err != nil || pt.ID != "2" {
		t.Errorf("RegisterPatient: %+v, %v", pt, err)
	}
	if a, err := c.ReadAppointment(ctx, p, booker, "9"); err != nil || a.ID != "9" {
		t.Errorf("ReadAppointment: %+v, %v", a, err)
	}
	appts, err := c.PatientAppointments(ctx, p, booker, "2", "2017-08-21", "2017-08-21")
	if err != nil || len(appts) != 2 || !slices.Equal(appts[0].SlotIDs, []string{"544", "545", "546"}) ||
		appts[1].VersionID != "1503440820000" || appts[0].BookingODS != "A00001" {
		t.Errorf("PatientAppointments: %+v, %v", appts, err)
	}
	want := []struct{ method, path, query, interaction, scope string }{
		{"GET", "/Patient", "identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9476719931", InteractionSearchPatient, "patient/*.read"},
		{"POST", "/Patient/$gpc.registerpatient", "", InteractionRegisterPatient, "patient/*.write"},
		{"GET", "/Appointment/9", "", InteractionReadAppointment, "patient/*.read"},
		{"GET", "/Patient/2/Appointment", "start=ge2017-08-21&start=le2017-08-21", InteractionPatientAppointments, "patient/*.read"},
	}
	for i, w := range want {
		req := rec.get(i)
		if req.Method != w.method || req.URL.Path != "/A20047/STU3/1/gpconnect"+w.path || req.URL.RawQuery != w.query ||
			req.Header.Get("Ssp-InteractionID") != w.interaction {
			t.Errorf("call %d: %s %s?%s %s, want %+v", i, req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Get("Ssp-InteractionID"), w)
		}
		checkJWTFor(t, req, w.scope, booker)
	}
}

// TestCancelChangesExactlyTwoThings: the PUT carries the appointment as read, with status
// cancelled and the reason extension, If-Match on the version read, the cancel interaction.
func TestCancelChangesExactlyTwoThings(t *testing.T) {
	t.Parallel()
	var bs bodies
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		bs.add(r)
		writeFHIR(w, 200, fixture(t, "appointment-cancel-response.json"))
	}, nil)
	current, err := parseAppointment(fixture(t, "appointment-book-response.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.CancelAppointment(t.Context(), p, booker, current, "Free text cancellation reason.")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "cancelled" || got.CancellationReason != "Free text cancellation reason." {
		t.Errorf("parsed %+v", got)
	}
	req := rec.get(0)
	checkWriteHeaders(t, req, http.MethodPut, "/A20047/STU3/1/gpconnect/Appointment/9", InteractionCancelAppointment)
	if im := req.Header.Get("If-Match"); im != `W/"636068818095315079"` {
		t.Errorf("If-Match %q", im)
	}
	checkJWTFor(t, req, "patient/*.write", booker)
	var sent, want map[string]any
	if err := json.Unmarshal(bs.get(0), &sent); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(fixture(t, "appointment-book-response.json"), &want)
	want["status"] = "cancelled"
	want["extension"] = append(want["extension"].([]any), map[string]any{"url": extCancelReason, "valueString": "Free text cancellation reason."})
	if diff := cmp.Diff(want, sent); diff != "" {
		t.Errorf("cancel body is not the appointment with two changes (-want +got):\n%s", diff)
	}
}

// TestWriteOutcomes: writes are made once; a lost answer, a 5xx or an unusable 2xx leaves the
// outcome unknown, a request that never left does not, and a 4xx is a refusal.
func TestWriteOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		h         func(w http.ResponseWriter, r *http.Request)
		unknown   bool
		versionOK bool
		code      string
	}{
		{"connection dropped after the request", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, true, false, CodeNetwork},
		{"500", func(w http.ResponseWriter, _ *http.Request) { writeFHIR(w, 500, []byte(`{}`)) }, true, false, ""},
		{"SSP 502", func(w http.ResponseWriter, _ *http.Request) {
			writeFHIR(w, 502, []byte(`{"resourceType":"OperationOutcome","issue":[{"details":{"coding":[{"code":"502"}]}}]}`))
		}, true, false, "502"},
		{"200 instead of 201", func(w http.ResponseWriter, _ *http.Request) {
			writeFHIR(w, 200, fixture(t, "appointment-book-response.json"))
		}, true, false, CodeUnexpectedStatus},
		{"201 that is not an Appointment", func(w http.ResponseWriter, _ *http.Request) { writeFHIR(w, 201, []byte(`<html>`)) }, true, false, CodeMalformedResponse},
		{"409 duplicate", func(w http.ResponseWriter, _ *http.Request) {
			writeFHIR(w, 409, fixture(t, "operationoutcome-duplicate-rejected.json"))
		}, false, false, "DUPLICATE_REJECTED"},
		{"409 version conflict", func(w http.ResponseWriter, _ *http.Request) {
			writeFHIR(w, 409, []byte(`{"resourceType":"OperationOutcome","issue":[{"details":{"coding":[{"code":"FHIR_CONSTRAINT_VIOLATION"}]}}]}`))
		}, false, true, "FHIR_CONSTRAINT_VIOLATION"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, p, rec := setup(t, func(_ int, w http.ResponseWriter, r *http.Request) { tc.h(w, r) }, nil)
			_, err := c.BookAppointment(t.Context(), p, booker, newAppt)
			gerr := asError(t, err)
			if gerr.OutcomeUnknown() != tc.unknown || gerr.SpineCode != tc.code || IsVersionConflict(err) != tc.versionOK {
				t.Errorf("unknown=%v code=%q conflict=%v, want %v %q %v (%v)", gerr.OutcomeUnknown(), gerr.SpineCode,
					IsVersionConflict(err), tc.unknown, tc.code, tc.versionOK, err)
			}
			if rec.count() != 1 {
				t.Errorf("%d requests: a write must never be repeated", rec.count())
			}
		})
	}
}

// TestWriteNotSent: a booking that never reached the provider cannot have taken effect.
func TestWriteNotSent(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens here any more: connection refused
	c, err := New(Config{Consumer: testConsumer, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.BookAppointment(t.Context(), Provider{ODS: "A20047", ASID: "918999198993",
		ServiceRoot: "http://" + addr + "/A20047/STU3/1/gpconnect"}, booker, newAppt)
	var gerr *Error
	if !errors.As(err, &gerr) || !gerr.NotSent || gerr.OutcomeUnknown() {
		t.Fatalf("refused connection: %v (not sent %v)", err, gerr != nil && gerr.NotSent)
	}
}

func TestParseAppointmentBundleSkipsOtherResources(t *testing.T) {
	t.Parallel()
	got, err := parseAppointmentBundle([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"OperationOutcome"}}]}`))
	if err != nil || len(got) != 0 {
		t.Errorf("%v %v", got, err)
	}
	if _, err := parseAppointmentBundle([]byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Appointment"}}]}`)); err == nil {
		t.Error("an Appointment without id and version must be refused")
	}
}
