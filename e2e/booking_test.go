package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/sim"
)

// Issue 8's crash proof: a stream of bookings and cancellations through the
// API while practices lose answers, the worker is SIGKILLed and Redis is
// flushed. Every booking must end in a final state that agrees with the
// practices' appointment books: no double booking, no phantom booking, no
// appointment gpfed does not know about.

const (
	e2eBookings = 120
	e2ePosters  = 8
)

var e2eBooker = map[string]string{"sds_user_id": "687227875014", "sds_role_profile_id": "418825193014",
	"family_name": "Okafor", "given_name": "Ngozi"}

func TestBookingCrashWorkerKilledAndRedisFlushed(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, stackOpts{practices: 8, env: []string{"GPFED_SYNC_DAYS=7", "GPFED_BOOKING_RECONCILE_GRACE=1s",
		"GPFED_BOOKING_TIMEOUT=10s", "GPFED_GPC_TIMEOUT=3s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Second)
	defer cancel()
	_, worker, _ := startAll(t, ts)
	if _, err := ts.Run(ctx, "sync", "--once", "--days", "7"); err != nil {
		t.Fatal(err)
	}
	ods := ts.ODS()
	// Practices that lose answers, every time: after booking (dropped
	// connection; a 500 once committed), after cancelling, and an SSP 502
	// before the practice ever saw the booking.
	ts.Fed.SetFault(ods[1], sim.Fault{Lost: true, Only: sim.OpBook})
	ts.Fed.SetFault(ods[2], sim.Fault{Lost: true, Only: sim.OpCancel})
	ts.Fed.SetFault(ods[3], sim.Fault{Status: 500, Applied: true, Only: sim.OpBook})
	ts.Fed.SetFault(ods[4], sim.Fault{Status: 502, Only: sim.OpBook, Times: 4})
	// Slow practices keep calls in flight when the worker is killed.
	ts.Fed.SetFault(ods[5], sim.Fault{Latency: 60 * time.Millisecond})
	ts.Fed.SetFault(ods[6], sim.Fault{Latency: 120 * time.Millisecond})

	st := newBookingStream(ctx, t, ts)
	third := make(chan struct{})
	twoThirds := make(chan struct{})
	st.at(e2eBookings/3, third)
	st.at(2*e2eBookings/3, twoThirds)
	go func() {
		<-third
		if err := worker.Kill(); err != nil {
			t.Error(err)
		}
		t.Logf("worker SIGKILLed at %d bookings; settles and cancels now wait in Redis", st.n.Load())
		<-twoThirds
		if err := ts.Redis.FlushAll(context.Background()); err != nil {
			t.Error(err)
		}
		t.Logf("redis FLUSHALL at %d bookings, the worker still down", st.n.Load())
		if err := worker.Start(); err != nil {
			t.Error(err)
		}
	}()
	st.run(ctx, e2eBookings, e2ePosters)
	st.summary(t)
	waitBookingsFinal(ctx, t, ts, 120*time.Second)
	checkProcesses(t, ts)
	checkBooksAgree(ctx, t, ts, st)
	checkHostsTold(ctx, t, ts)
	if n := bookingRequeues(t, ts); n == 0 {
		t.Error("the scheduler never logged a booking reconciliation that requeued anything")
	} else {
		t.Logf("the reconciler requeued %d booking jobs", n)
	}
	ts.Close()
	checkNoNHSInLogs(t, ts, st.usedNHS())
}

// bookingStream books distinct free slots from rotating callers and cancels
// every other booking made.
type bookingStream struct {
	ts    *testStack
	slots map[string][]string // host -> free slot ids, taken in order
	mu    sync.Mutex
	next  map[string]int
	byKey map[string]string // booking id -> NHS number booked
	codes map[int]int
	wake  []struct {
		n  int64
		ch chan struct{}
	}
	n atomic.Int64
}

func newBookingStream(ctx context.Context, t *testing.T, ts *testStack) *bookingStream {
	t.Helper()
	st := &bookingStream{ts: ts, slots: map[string][]string{}, next: map[string]int{}, byKey: map[string]string{},
		codes: map[int]int{}}
	for _, host := range ts.ODS() {
		res, err := ts.API.Do(ctx, ts.Keys[host], http.MethodGet, "/v1/slots?limit=200&practice="+host, nil)
		if err != nil || res.Status != 200 {
			t.Fatalf("slots of %s: %v %d %s", host, err, res.Status, res.Body)
		}
		var page struct{ Items []struct{ ID string } }
		if err := json.Unmarshal(res.Body, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			st.slots[host] = append(st.slots[host], it.ID)
		}
		if len(st.slots[host]) < e2eBookings/len(ts.ODS())+2 {
			t.Fatalf("%s has only %d free slots", host, len(st.slots[host]))
		}
	}
	return st
}

// at closes ch once n bookings have been answered.
func (st *bookingStream) at(n int, ch chan struct{}) {
	st.wake = append(st.wake, struct {
		n  int64
		ch chan struct{}
	}{int64(n), ch})
}

func (st *bookingStream) run(ctx context.Context, total, posters int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= total || ctx.Err() != nil {
					return
				}
				st.book(ctx, i)
				n := st.n.Add(1)
				for _, w := range st.wake {
					if n == w.n {
						close(w.ch)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// book i: caller i mod n books a slot at another practice for one of that
// practice's patients; every other booking answered 201 is cancelled.
func (st *bookingStream) book(ctx context.Context, i int) {
	ods := st.ts.ODS()
	caller := ods[i%len(ods)]
	host := ods[(i+1+(i/len(ods))%(len(ods)-1))%len(ods)]
	st.mu.Lock()
	slot := st.slots[host][st.next[host]]
	nhs := st.ts.Fed.Patients(host)[st.next[host]%30]
	st.next[host]++
	st.mu.Unlock()
	body, _ := json.Marshal(map[string]any{"slot_id": slot, "patient_nhs_number": nhs,
		"description": fmt.Sprintf("e2e booking %d", i), "booked_by": e2eBooker})
	key := fmt.Sprintf("e2e-booking-%04d", i)
	var res Response
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, st.ts.API.BaseURL+"/v1/bookings", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		var err error
		if res, err = st.ts.API.do(req, st.ts.Keys[caller]); err == nil && res.Status != http.StatusConflict {
			break // 409 "still in progress" is retried with the same key
		}
		time.Sleep(200 * time.Millisecond)
	}
	st.mu.Lock()
	st.codes[res.Status]++
	if res.ID != "" {
		st.byKey[res.ID] = nhs
	}
	st.mu.Unlock()
	if res.Status == http.StatusCreated && i%2 == 0 {
		cancel, _ := json.Marshal(map[string]any{"reason": "e2e cancel", "cancelled_by": e2eBooker})
		who := []string{caller, host}[i/2%2] // the booking practice or the host
		if r, err := st.ts.API.Do(ctx, st.ts.Keys[who], http.MethodPost, "/v1/bookings/"+res.ID+"/cancel", cancel); err != nil ||
			r.Status != http.StatusAccepted {
			st.mu.Lock()
			st.codes[-r.Status]++ // negative: cancel answers
			st.mu.Unlock()
		}
	}
}

func (st *bookingStream) summary(t *testing.T) {
	st.mu.Lock()
	defer st.mu.Unlock()
	t.Logf("booking answers by status: %v (negative: cancels not accepted)", st.codes)
	if st.codes[http.StatusCreated] == 0 || st.codes[http.StatusAccepted] == 0 {
		t.Errorf("the stream needs booked (201) and unconfirmed (202) answers: %v", st.codes)
	}
	for code, n := range st.codes {
		if code != http.StatusCreated && code != http.StatusAccepted {
			t.Errorf("%d answers with status %d", n, code)
		}
	}
}

func (st *bookingStream) usedNHS() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []string
	for _, n := range st.byKey {
		out = append(out, n)
	}
	return out
}

// waitBookingsFinal polls until no booking is pending, unconfirmed or waiting for its cancel.
func waitBookingsFinal(ctx context.Context, t *testing.T, ts *testStack, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		counts, err := countBy(ctx, ts.DB, `SELECT state, count(*) FROM bookings GROUP BY state`)
		if err == nil && counts["pending"]+counts["unconfirmed"]+counts["cancel_requested"] == 0 {
			t.Logf("bookings by final state: %v", counts)
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("after %s: bookings by state %v (err %v)", timeout, counts, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkBooksAgree compares every booking with the practices' appointment books.
func checkBooksAgree(ctx context.Context, t *testing.T, ts *testStack, st *bookingStream) {
	t.Helper()
	type row struct{ id, state, host, slot, appt, booker, nhs string }
	rows, err := ts.DB.Query(ctx, `SELECT id::text, state, host_ods, slot_id, COALESCE(appointment_id, ''), booking_ods,
		patient_nhs_number FROM bookings`)
	if err != nil {
		t.Fatal(err)
	}
	var bookings []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.state, &r.host, &r.slot, &r.appt, &r.booker, &r.nhs); err != nil {
			t.Fatal(err)
		}
		bookings = append(bookings, r)
	}
	rows.Close()
	if len(bookings) != len(st.byKey) {
		t.Errorf("%d bookings stored, the API answered %d with a booking", len(bookings), len(st.byKey))
	}
	appts := map[string]map[string]sim.Appointment{} // host -> appointment id -> appointment
	claimed := map[string]bool{}                     // host/appointment id known to gpfed
	for _, host := range ts.ODS() {
		appts[host] = map[string]sim.Appointment{}
		for _, a := range ts.Fed.Appointments(host) {
			appts[host][a.ID] = a
		}
	}
	var bad []string
	for _, b := range bookings {
		a, ok := appts[b.host][b.appt]
		switch b.state {
		case "booked", "cancelled":
			want := map[string]string{"booked": "booked", "cancelled": "cancelled"}[b.state]
			if !ok || a.Status != want || a.SlotIDs[0] != b.slot || a.PatientNHS != b.nhs || a.BookingODS != b.booker {
				bad = append(bad, fmt.Sprintf("%s %s: practice has %+v", b.id, b.state, a))
			}
			claimed[b.host+"/"+b.appt] = true
		case "failed":
			for _, a := range appts[b.host] {
				if a.SlotIDs[0] == b.slot {
					bad = append(bad, fmt.Sprintf("%s failed, but the practice has appointment %s for its slot (phantom)", b.id, a.ID))
				}
			}
		default:
			bad = append(bad, fmt.Sprintf("%s ended %s", b.id, b.state))
		}
	}
	for host, m := range appts {
		for id, a := range m {
			if !claimed[host+"/"+id] {
				bad = append(bad, fmt.Sprintf("appointment %s at %s (slot %s) is unknown to gpfed", id, host, a.SlotIDs[0]))
			}
		}
	}
	report(t, "bookings that disagree with the practices", bad)
	var notTwice []string
	perSlot, err := countBy(ctx, ts.DB, `SELECT host_ods || '/' || slot_id, count(*) FROM bookings
		WHERE state IN ('booked', 'cancel_requested') GROUP BY 1 HAVING count(*) > 1`)
	if err != nil {
		t.Fatal(err)
	}
	for k := range perSlot {
		notTwice = append(notTwice, k)
	}
	report(t, "slots booked twice", notTwice)
}

// checkHostsTold waits for every notification to be delivered and checks
// that each host's webhook received booking.created for every booking made
// into its slots, and booking.cancelled for every one cancelled.
func checkHostsTold(ctx context.Context, t *testing.T, ts *testStack) {
	t.Helper()
	if err := waitFor(60*time.Second, func() error {
		var pending int
		if err := ts.DB.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE state = 'pending'`).Scan(&pending); err != nil || pending > 0 {
			return fmt.Errorf("%d notifications pending (%v)", pending, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, err := ts.DB.Query(ctx, `SELECT id::text, host_ods, state FROM bookings WHERE state IN ('booked', 'cancelled')`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for rows.Next() {
		var id, host, state string
		if err := rows.Scan(&id, &host, &state); err != nil {
			t.Fatal(err)
		}
		want[host+" booking.created "+id] = true
		if state == "cancelled" {
			want[host+" booking.cancelled "+id] = true
		}
	}
	rows.Close()
	for _, host := range ts.ODS() {
		for _, d := range ts.Fed.Received(host) {
			var n struct {
				Kind string `json:"kind"`
				Data struct {
					BookingID string `json:"booking_id"`
				} `json:"data"`
			}
			if d.Event == "notification" && json.Unmarshal(d.Body, &n) == nil {
				delete(want, host+" "+n.Kind+" "+n.Data.BookingID)
			}
		}
	}
	var missing []string
	for k := range want {
		missing = append(missing, k)
	}
	report(t, "booking notifications hosts never received", missing)
}

// bookingRequeues sums "requeued" over the scheduler's booking reconciliation lines.
func bookingRequeues(t *testing.T, ts *testStack) int {
	total := 0
	for _, line := range logLines(t, ts.Stack)["scheduler.log"] {
		var rec struct {
			Msg      string `json:"msg"`
			Requeued int    `json:"requeued"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "booking reconciliation" {
			total += rec.Requeued
		}
	}
	return total
}

// checkNoNHSInLogs: the NHS numbers booked appear in no log line.
func checkNoNHSInLogs(t *testing.T, ts *testStack, nhs []string) {
	t.Helper()
	for file, lines := range logLines(t, ts.Stack) {
		for _, line := range lines {
			for _, n := range nhs {
				if strings.Contains(line, n) {
					t.Errorf("%s logs an NHS number: %.200s", file, line)
					return
				}
			}
		}
	}
}
