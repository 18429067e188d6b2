package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/booking"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
)

// BookingDeps is what the booking handlers need.
type BookingDeps struct {
	Service *booking.Service // nil: the worker does not serve booking tasks
}

func registerBooking(mux *asynq.ServeMux, d Deps) {
	if d.Booking.Service == nil {
		return
	}
	h := bookingHandler{svc: d.Booking.Service}
	mux.HandleFunc(queue.TypeBookingSettle, h.settle)
	mux.HandleFunc(queue.TypeBookingCancel, h.cancel)
}

type bookingHandler struct{ svc *booking.Service }

// settle decides an unconfirmed booking. The service is idempotent: a
// booking already decided is left alone, so asynq's at-least-once delivery
// is harmless.
func (h bookingHandler) settle(ctx context.Context, t *asynq.Task) error {
	var p queue.BookingSettle
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.BookingID.ID() == 0 {
		return fmt.Errorf("bad booking:settle payload: %v: %w", err, asynq.SkipRetry)
	}
	return skipIfGone(h.svc.Settle(ctx, p.BookingID))
}

// cancel carries out one cancel request.
func (h bookingHandler) cancel(ctx context.Context, t *asynq.Task) error {
	var p queue.BookingCancel
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.BookingID.ID() == 0 || p.Seq < 1 {
		return fmt.Errorf("bad booking:cancel payload: %v: %w", err, asynq.SkipRetry)
	}
	return skipIfGone(h.svc.Cancel(ctx, p.BookingID, p.Seq))
}

// skipIfGone makes a booking that no longer exists a permanent failure.
func skipIfGone(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	return err
}

// bookingRetry is the schedule of booking retries: 1s doubling to 2
// minutes, with jitter. The handlers stop retrying at the booking's
// maximum age, so no count is needed.
func bookingRetry(n int) time.Duration {
	return RetryPolicy{Base: time.Second, Max: 2 * time.Minute}.backoff(n)
}
