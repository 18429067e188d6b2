package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/booking"
	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testfed"
	"github.com/gpfed/gpfed/jobs"
	"github.com/gpfed/gpfed/queue"
)

var clerk = store.Person{SDSUserID: "687227875014", SDSRoleProfileID: "418825193014", FamilyName: "Okafor", GivenName: "Ngozi"}

// bookWithLostAnswer books a slot whose answer the practice drops, with no
// worker running: the booking is unconfirmed and its settle is queued.
func bookWithLostAnswer(t *testing.T, f *testfed.Fed, svc *booking.Service, caller, host string, k int) store.Booking {
	t.Helper()
	free, err := f.DB.ListFreeSlots(context.Background(), store.SlotFilter{Now: time.Now(), From: time.Now().AddDate(0, 0, -1),
		To: time.Now().AddDate(0, 0, 30), Practices: []string{host}, Limit: 1})
	if err != nil || len(free) == 0 {
		t.Fatalf("free slots: %v", err)
	}
	f.Sim.SetFault(host, sim.Fault{Lost: true, Only: sim.OpBook, Times: 1})
	res, err := svc.Book(context.Background(), booking.Request{CallerODS: caller, HostODS: host, SlotID: free[0].SlotID,
		PatientNHSNumber: f.Sim.Patients(host)[k], Description: "Reconcile test", BookedBy: clerk, RequestHash: []byte{1}})
	if err != nil || res.Booking.State != store.BookingUnconfirmed {
		t.Fatalf("book: %+v %v", res.Booking.State, err)
	}
	return res.Booking
}

// TestBookingReconcilerAfterRedisLoss: Redis loses the settle entry; the
// reconciler (Postgres being the source of truth) queues it again and the
// booking settles. An entry still queued is left alone.
func TestBookingReconcilerAfterRedisLoss(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("syncs a simulated federation")
	}
	f := testfed.New(t, testfed.Options{Practices: 3, SlotsPerDay: 6, Days: 5})
	f.SyncNow(t)
	svc := f.NewBooking(t, nil)
	caller, host := f.ODS()[0], f.ODS()[1]
	b := bookWithLostAnswer(t, f, svc, caller, host, 0)
	rec := &jobs.BookingReconciler{DB: f.DB, Inspector: f.Insp, Queue: queue.BookingEnqueuer{Client: f.Client},
		Now: func() time.Time { return time.Now().Add(time.Minute) }}
	rep, err := rec.RunOnce(context.Background())
	if err != nil || rep.Requeued != 0 {
		t.Fatalf("with the entry still queued: %+v %v", rep, err)
	}
	if err := f.Insp.DeleteTask(queue.QueueBookings, queue.BookingSettleID(b.ID)); err != nil {
		t.Fatalf("lose the queue entry: %v", err)
	}
	rep, err = rec.RunOnce(context.Background())
	if err != nil || rep.Requeued != 1 {
		t.Fatalf("after the loss: %+v %v", rep, err)
	}
	f.StartBookingWorker(t, svc)
	waitBooking(t, f.DB, b.ID, store.BookingBooked)
}

// TestBookingReconcilerInterrupted: a booking request that died between its
// claim and recording the answer is settled; one that died before posting
// is released.
func TestBookingReconcilerInterrupted(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("syncs a simulated federation")
	}
	f := testfed.New(t, testfed.Options{Practices: 3, SlotsPerDay: 6, Days: 5})
	f.SyncNow(t)
	ctx := context.Background()
	caller, host := f.ODS()[0], f.ODS()[1]
	free, err := f.DB.ListFreeSlots(ctx, store.SlotFilter{Now: time.Now(), From: time.Now(), To: time.Now().AddDate(0, 0, 7),
		Practices: []string{host}, Limit: 2})
	if err != nil || len(free) < 2 {
		t.Fatalf("free slots: %v", err)
	}
	claim := func(s store.FreeSlot) store.Booking {
		b, _, err := f.DB.ClaimBooking(ctx, store.Booking{ID: uuid.New(), BookingODS: caller, Slot: s.BookedSlot,
			OrgType: "gp-practice", PatientNHSNumber: f.Sim.Patients(host)[0], Description: "x", BookedBy: clerk})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	early, late := claim(free[0]), claim(free[1])
	if err := f.DB.MarkRequested(ctx, late.ID, "1", false, nil); err != nil {
		t.Fatal(err)
	}
	rec := &jobs.BookingReconciler{DB: f.DB, Inspector: f.Insp, Queue: queue.BookingEnqueuer{Client: f.Client},
		Now: func() time.Time { return time.Now().Add(time.Hour) }}
	rep, err := rec.RunOnce(ctx)
	if err != nil || rep.Interrupted != 1 {
		t.Fatalf("%+v %v", rep, err)
	}
	if _, err := f.DB.GetBooking(ctx, early.ID); err == nil {
		t.Error("a claim that never posted was kept")
	}
	f.StartBookingWorker(t, f.NewBooking(t, nil))
	// Nothing was posted for it, so the practice has no appointment: failed, no phantom.
	waitBooking(t, f.DB, late.ID, store.BookingFailed)
}

func waitBooking(t *testing.T, db *store.DB, id uuid.UUID, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := db.GetBooking(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if b.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("booking %s is %s, want %s", id, b.State, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
