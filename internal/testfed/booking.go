package testfed

import (
	"context"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/booking"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
	"github.com/gpfed/gpfed/worker"
)

// SyncNow fills the slot snapshot: one manual sync run of every practice,
// fetched by an in-process capacity worker that stops afterwards.
func (f *Fed) SyncNow(t testing.TB) store.SyncRun {
	t.Helper()
	stop := f.StartWorker(t, 8)
	defer stop()
	run, err := f.Sync.Start(context.Background(), "manual", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f.WaitRun(t, run.ID, 2*time.Minute)
}

// NewBooking builds the booking service on the stack's GP Connect client
// and queue; mod may change the config first.
func (f *Fed) NewBooking(t testing.TB, mod func(*booking.Config)) *booking.Service {
	t.Helper()
	cfg := booking.Config{DB: f.DB, GPC: f.GPC, Queue: queue.BookingEnqueuer{Client: f.Client},
		RequestTimeout: 10 * time.Second, MaxAge: time.Hour, Log: f.Log}
	if mod != nil {
		mod(&cfg)
	}
	svc, err := booking.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// StartBookingWorker runs an in-process asynq server on the bookings queue
// with the real booking handlers until the test ends (or stop is called).
func (f *Fed) StartBookingWorker(t testing.TB, svc *booking.Service) (stop func()) {
	t.Helper()
	mux := worker.NewMux(worker.Deps{DB: f.DB, Log: f.Log, Booking: worker.BookingDeps{Service: svc}})
	return f.serve(t, mux, 8, 5*time.Second, queue.QueueBookings)
}

// Key issues a practice API key.
func (f *Fed) Key(t testing.TB, ods string) string {
	t.Helper()
	k, _, err := f.DB.CreateAPIKey(context.Background(), store.RolePractice, ods, "test")
	if err != nil {
		t.Fatal(err)
	}
	return k
}
