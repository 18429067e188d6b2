package gpconnect_test

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/slot"
)

// The client against the strict simulator: every call a booking makes is accepted as the
// specification requires, and the simulator's appointment book ends as the calls say.

var clerk = gpconnect.Requester{
	Practitioner: gpconnect.Practitioner{ID: "u-42", SDSUserID: "687227875014", SDSRoleProfileID: "418825193014",
		FamilyName: "Okafor", GivenName: "Ngozi"},
}

func simClient(t *testing.T) (*gpconnect.Client, *sim.Federation, []gpconnect.Provider) {
	t.Helper()
	fed := sim.New(sim.Config{Practices: 3, Seed: 11, Days: 7})
	srv := httptest.NewServer(fed.Handler())
	t.Cleanup(func() { fed.Close(); srv.Close() })
	fed.SetBaseURL(srv.URL)
	c, err := gpconnect.New(gpconnect.Config{Consumer: gpconnect.Consumer{ODS: "Y90001", ASID: "200000000359",
		Name: "Hub", EndpointURL: "https://gpfed.invalid/", Practitioner: gpconnect.Practitioner{ID: "sync", FamilyName: "Sync"}},
		HTTPClient: srv.Client(), RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var ps []gpconnect.Provider
	for _, p := range fed.Practices() {
		ps = append(ps, gpconnect.Provider{ODS: p.ODS, ASID: p.ASID, ServiceRoot: p.ServiceRoot})
	}
	return c, fed, ps
}

func firstSlot(t *testing.T, c *gpconnect.Client, p gpconnect.Provider) slot.Slot {
	t.Helper()
	now := time.Now()
	res, err := c.SearchFreeSlots(t.Context(), p, now.AddDate(0, 0, 1), now.AddDate(0, 0, 6))
	if err != nil || len(res.Slots) == 0 {
		t.Fatalf("search: %v (%d slots)", err, len(res.Slots))
	}
	return res.Slots[0]
}

func stillFree(t *testing.T, c *gpconnect.Client, p gpconnect.Provider, id string) bool {
	t.Helper()
	now := time.Now()
	res, err := c.SearchFreeSlots(t.Context(), p, now.AddDate(0, 0, 1), now.AddDate(0, 0, 6))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Slots {
		if s.ID == id {
			return true
		}
	}
	return false
}

func appointmentFor(s slot.Slot, patientID string) gpconnect.NewAppointment {
	return gpconnect.NewAppointment{SlotIDs: []string{s.ID}, Start: s.StartText, End: s.EndText, PatientID: patientID,
		LocationID: s.LocationID, PractitionerID: s.PractitionerID, Description: "Hub appointment",
		BookingOrg: gpconnect.BookingOrg{ODS: "B81016", Name: "Riverside", Telephone: "0113 496 0000", OrgType: "gp-practice"}}
}

func TestBookReadCancelAgainstSimulator(t *testing.T) {
	t.Parallel()
	c, fed, ps := simClient(t)
	ctx, host := t.Context(), ps[1]
	nhs := fed.Patients(host.ODS)
	pts, err := c.FindPatient(ctx, host, clerk, nhs[0])
	if err != nil || len(pts) != 1 {
		t.Fatalf("find patient: %+v %v", pts, err)
	}
	s := firstSlot(t, c, host)
	appt, err := c.BookAppointment(ctx, host, clerk, appointmentFor(s, pts[0].ID))
	if err != nil {
		t.Fatalf("book: %v", err)
	}
	if stillFree(t, c, host, s.ID) {
		t.Error("a booked slot is still offered")
	}
	other, _ := c.FindPatient(ctx, host, clerk, nhs[1])
	_, err = c.BookAppointment(ctx, host, clerk, appointmentFor(s, other[0].ID))
	var gerr *gpconnect.Error
	if !errors.As(err, &gerr) || gerr.Status != 409 || gerr.SpineCode != "DUPLICATE_REJECTED" {
		t.Fatalf("second booking of the slot: %v", err)
	}
	day := s.Start.In(time.Local).Format(time.DateOnly)
	list, err := c.PatientAppointments(ctx, host, clerk, pts[0].ID, s.LocalDate, s.LocalDate)
	if err != nil || len(list) != 1 || list[0].ID != appt.ID || list[0].BookingODS != "B81016" {
		t.Fatalf("patient appointments on %s: %+v %v", day, list, err)
	}
	read, err := c.ReadAppointment(ctx, host, clerk, appt.ID)
	if err != nil || read.VersionID != appt.VersionID {
		t.Fatalf("read: %+v %v", read, err)
	}
	done, err := c.CancelAppointment(ctx, host, clerk, read, "Patient unwell")
	if err != nil || done.Status != "cancelled" || done.VersionID == read.VersionID {
		t.Fatalf("cancel: %+v %v", done, err)
	}
	if _, err := c.CancelAppointment(ctx, host, clerk, read, "again"); !gpconnect.IsVersionConflict(err) {
		t.Errorf("cancel with a stale version: %v, want a version conflict", err)
	}
	if !stillFree(t, c, host, s.ID) {
		t.Error("a cancelled appointment's slot is not offered again")
	}
	got := fed.Appointments(host.ODS)
	if len(got) != 1 || got[0].BookedBy.SDSUserID != clerk.Practitioner.SDSUserID || got[0].BookedBy.Scope != "patient/*.write" ||
		got[0].CancelBy.FamilyName != "Okafor" || got[0].CancellationReason != "Patient unwell" {
		t.Errorf("simulator's book: %+v", got)
	}
}

func TestRegisterThenBookAgainstSimulator(t *testing.T) {
	t.Parallel()
	c, fed, ps := simClient(t)
	ctx, host := t.Context(), ps[2]
	nhs := fed.Patients(ps[0].ODS)[10] // registered at another practice only
	if pts, err := c.FindPatient(ctx, host, clerk, nhs); err != nil || len(pts) != 0 {
		t.Fatalf("find a patient of another practice: %+v %v", pts, err)
	}
	d := fed.Demographics(nhs)
	pt, err := c.RegisterPatient(ctx, host, clerk, gpconnect.Demographics{NHSNumber: nhs, FamilyName: d.FamilyName,
		GivenName: d.GivenName, BirthDate: d.BirthDate, Gender: d.Gender})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if _, err := c.BookAppointment(ctx, host, clerk, appointmentFor(firstSlot(t, c, host), pt.ID)); err != nil {
		t.Fatalf("book for the registered patient: %v", err)
	}
	_, err = c.RegisterPatient(ctx, host, clerk, gpconnect.Demographics{NHSNumber: nhs, FamilyName: d.FamilyName,
		GivenName: d.GivenName, BirthDate: d.BirthDate})
	var gerr *gpconnect.Error
	if !errors.As(err, &gerr) || gerr.Status != 409 || gerr.SpineCode != "DUPLICATE_REJECTED" {
		t.Errorf("second registration: %v", err)
	}
}

func TestLostBookingAnswerAgainstSimulator(t *testing.T) {
	t.Parallel()
	c, fed, ps := simClient(t)
	ctx, host := t.Context(), ps[0]
	pts, _ := c.FindPatient(ctx, host, clerk, fed.Patients(host.ODS)[0])
	s := firstSlot(t, c, host)
	fed.SetFault(host.ODS, sim.Fault{Lost: true, Only: sim.OpBook, Times: 1})
	_, err := c.BookAppointment(ctx, host, clerk, appointmentFor(s, pts[0].ID))
	var gerr *gpconnect.Error
	if !errors.As(err, &gerr) || !gerr.OutcomeUnknown() {
		t.Fatalf("lost answer: %v, want an unknown outcome", err)
	}
	list, err := c.PatientAppointments(ctx, host, clerk, pts[0].ID, s.LocalDate, s.LocalDate)
	if err != nil || len(list) != 1 || list[0].SlotIDs[0] != s.ID || list[0].Status != "booked" {
		t.Errorf("the booking whose answer was lost: %+v %v", list, err)
	}
	if n := fed.Calls(host.ODS, sim.OpBook); n != 1 {
		t.Errorf("%d booking calls, want 1", n)
	}
}
