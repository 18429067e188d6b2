package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/api"
	"github.com/gpfed/gpfed/internal/booking"
	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testfed"
)

// bookingFixture is the booking API over a real stack: the strict
// simulated federation on loopback, Postgres with a synced snapshot, the
// real GP Connect client, Redis with an in-process booking worker.
type bookingFixture struct {
	t      *testing.T
	fed    *testfed.Fed
	svc    *booking.Service
	url    string
	ods    []string          // practices in federation order
	keys   map[string]string // ODS -> practice key; "admin" -> admin key
	logs   *syncBuffer
	client *http.Client
}

type bookingOpts struct {
	practices int
	noWorker  bool // leave unconfirmed and cancel work in the queue
	sds       bool // practices imported by ODS code: every endpoint comes from the simulated SDS
}

func newBookingFixture(t *testing.T, o bookingOpts) *bookingFixture {
	t.Helper()
	if testing.Short() {
		t.Skip("booking API: syncs a simulated federation")
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fed := testfed.New(t, testfed.Options{Practices: max(o.practices, 6), Seed: 8, SlotsPerDay: 8, Days: 7, Log: log, SDS: o.sds})
	fed.SyncNow(t)
	svc := fed.NewBooking(t, nil)
	if !o.noWorker {
		fed.StartBookingWorker(t, svc)
	}
	f := &bookingFixture{t: t, fed: fed, svc: svc, ods: fed.ODS(), keys: map[string]string{}, logs: logs,
		client: &http.Client{Timeout: 30 * time.Second}}
	for _, ods := range f.ods {
		f.keys[ods] = fed.Key(t, ods)
	}
	admin, _, err := fed.DB.CreateAPIKey(context.Background(), store.RoleAdmin, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	f.keys["admin"] = admin
	srv := &api.Server{DB: fed.DB, Log: log.With("component", "api"), TaskMaxAge: time.Hour, Booking: svc}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

func (f *bookingFixture) do(method, path, key, body string, headers ...string) response {
	f.t.Helper()
	return send(f.t, f.client, f.url, method, path, key, body, headers...)
}

// slotView is a free slot as GET /v1/slots shows it.
type slotView struct {
	ID       string `json:"id"`
	Practice struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"practice"`
	Start, End      string
	Minutes         int
	Role            *struct{ Code, Display string }
	DeliveryChannel *string `json:"delivery_channel"`
	Location        *struct{ ID, Name string }
	Practitioner    *struct{ ID, Name string }
	AsOf            *time.Time `json:"as_of"`
}

type slotPage struct {
	Items      []slotView `json:"items"`
	NextCursor *string    `json:"next_cursor"`
}

// slots lists free slots with query (as a practice key of the first practice).
func (f *bookingFixture) slots(query string) slotPage {
	f.t.Helper()
	res := f.do("GET", "/v1/slots?"+query, f.keys[f.ods[0]], "")
	if res.status != 200 {
		f.t.Fatalf("GET /v1/slots?%s: %d %s", query, res.status, res.body)
	}
	var p slotPage
	res.json(f.t, &p)
	return p
}

// freeSlot is the n-th (0-based) free slot of practice ods.
func (f *bookingFixture) freeSlot(ods string, n int) slotView {
	f.t.Helper()
	p := f.slots(fmt.Sprintf("practice=%s&limit=%d", ods, n+1))
	if len(p.Items) <= n {
		f.t.Fatalf("practice %s has %d free slots, want more than %d", ods, len(p.Items), n)
	}
	return p.Items[n]
}

var clerk = map[string]any{"sds_user_id": "687227875014", "sds_role_profile_id": "418825193014",
	"family_name": "Okafor", "given_name": "Ngozi"}

// bookingBody is a valid POST /v1/bookings body, changed by mods.
func bookingBody(slotID, nhs string, mods ...func(map[string]any)) string {
	m := map[string]any{"slot_id": slotID, "patient_nhs_number": nhs, "description": "Hub appointment: bloods review",
		"comment": "Booked from the hub", "booked_by": clerk}
	for _, mod := range mods {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func cancelBody(mods ...func(map[string]any)) string {
	m := map[string]any{"reason": "Patient feels better", "cancelled_by": clerk}
	for _, mod := range mods {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// bookingView is the part of the booking JSON the tests read.
type bookingView struct {
	ID                 string  `json:"id"`
	State              string  `json:"state"`
	BookingODS         string  `json:"booking_ods"`
	HostODS            string  `json:"host_ods"`
	SlotID             string  `json:"slot_id"`
	Start              string  `json:"start"`
	End                string  `json:"end"`
	PatientNHSNumber   *string `json:"patient_nhs_number"`
	Registered         bool    `json:"registered"`
	AppointmentID      *string `json:"appointment_id"`
	AppointmentVersion *string `json:"appointment_version"`
	Failure            *struct {
		HTTPStatus *int   `json:"http_status"`
		SpineCode  string `json:"spine_code"`
	} `json:"failure"`
	Events []struct {
		Actor, Action string
		ToState       *string `json:"to_state"`
	} `json:"events"`
}

func (b bookingView) actions() []string {
	var out []string
	for _, e := range b.Events {
		out = append(out, e.Action)
	}
	return out
}

// bookingProblemView is a refused booking's problem document.
type bookingProblemView struct {
	Status       int               `json:"status"`
	Detail       string            `json:"detail"`
	Errors       map[string]string `json:"errors"`
	SpineCode    string            `json:"spine_code"`
	Diagnostics  string            `json:"diagnostics"`
	BookingID    string            `json:"booking_id"`
	Alternatives []slotView        `json:"alternatives"`
}

// book posts a booking by caller and decodes the answer as a booking.
func (f *bookingFixture) book(caller, body string, headers ...string) (response, bookingView) {
	f.t.Helper()
	res := f.do("POST", "/v1/bookings", f.keys[caller], body, headers...)
	var b bookingView
	if res.status < 300 {
		res.json(f.t, &b)
	}
	return res, b
}

// get reads a booking as caller.
func (f *bookingFixture) get(caller, id string) bookingView {
	f.t.Helper()
	res := f.do("GET", "/v1/bookings/"+id, f.keys[caller], "")
	if res.status != 200 {
		f.t.Fatalf("GET booking %s as %s: %d %s", id, caller, res.status, res.body)
	}
	var b bookingView
	res.json(f.t, &b)
	return b
}

// waitState polls a booking until it reaches state.
func (f *bookingFixture) waitState(caller, id, state string, within time.Duration) bookingView {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		b := f.get(caller, id)
		if b.State == state {
			return b
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("booking %s is %s after %s, want %s", id, b.State, within, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// counts returns the rows in bookings, booking_events and notifications.
func (f *bookingFixture) counts() [3]int {
	f.t.Helper()
	var c [3]int
	err := f.fed.DB.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM bookings),
		(SELECT count(*) FROM booking_events), (SELECT count(*) FROM notifications)`).Scan(&c[0], &c[1], &c[2])
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// patientCalls counts the patient-level calls a practice received (all but slot search and metadata).
func (f *bookingFixture) patientCalls(ods string) int {
	n := 0
	for _, op := range []string{sim.OpFindPatient, sim.OpRegisterPatient, sim.OpBook, sim.OpReadAppointment,
		sim.OpCancel, sim.OpPatientAppointments} {
		n += f.fed.Sim.Calls(ods, op)
	}
	return n
}

// notificationsTo lists the kinds of notifications queued for a practice about a booking.
func (f *bookingFixture) notificationsTo(ods, bookingID string) []string {
	f.t.Helper()
	rows, err := f.fed.DB.Pool.Query(context.Background(), `SELECT kind FROM notifications
		WHERE recipient_ods = $1 AND data->>'booking_id' = $2 ORDER BY created_at, kind`, ods, bookingID)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

// checkLogsFree fails if any of the NHS numbers appears in the logs.
func (f *bookingFixture) checkLogsFree(nhs ...string) {
	f.t.Helper()
	logs := f.logs.String()
	for _, n := range nhs {
		if strings.Contains(logs, n) {
			f.t.Errorf("an NHS number appears in the logs")
		}
	}
}
