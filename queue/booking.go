package queue

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
)

// Booking task types: settle a booking whose outcome at the practice is
// unknown; cancel a booking at the practice.
const (
	TypeBookingSettle = "booking:settle"
	TypeBookingCancel = "booking:cancel"
)

// QueueBookings holds booking follow-up work, apart from task delivery so
// that a backlog of one never delays the other.
const QueueBookings = "bookings"

// BookingSettle asks a worker to settle one unconfirmed booking. Ids only.
type BookingSettle struct {
	BookingID uuid.UUID `json:"booking_id"`
}

// BookingCancel asks a worker to cancel one booking; Seq is the cancel
// request it carries out (a booking whose cancel failed may be asked again).
type BookingCancel struct {
	BookingID uuid.UUID `json:"booking_id"`
	Seq       int       `json:"cancel_seq"`
}

// Booking task options. The handlers end retrying themselves (the booking
// settles or its maximum age passes), so MaxRetry is effectively unbounded;
// retention keeps finished ids a day so that a late duplicate enqueue is
// refused instead of running twice.
const (
	bookingMaxRetry  = 100_000
	bookingRetention = 24 * time.Hour
	// BookingTaskTimeout bounds one attempt: a read and a write to a practice.
	BookingTaskTimeout = 2 * time.Minute
)

// BookingSettleID and BookingCancelID are the asynq TaskIDs: one queue
// entry per settle, and per cancel request.
func BookingSettleID(id uuid.UUID) string { return "booking-settle:" + id.String() }
func BookingCancelID(id uuid.UUID, seq int) string {
	return "booking-cancel:" + id.String() + ":" + strconv.Itoa(seq)
}

// NewBookingSettleTask builds the booking:settle queue entry.
func NewBookingSettleTask(id uuid.UUID) *asynq.Task {
	b, _ := json.Marshal(BookingSettle{BookingID: id}) // cannot fail
	return asynq.NewTask(TypeBookingSettle, b, asynq.TaskID(BookingSettleID(id)), asynq.Queue(QueueBookings),
		asynq.MaxRetry(bookingMaxRetry), asynq.Retention(bookingRetention), asynq.Timeout(BookingTaskTimeout))
}

// NewBookingCancelTask builds the booking:cancel queue entry.
func NewBookingCancelTask(id uuid.UUID, seq int) *asynq.Task {
	b, _ := json.Marshal(BookingCancel{BookingID: id, Seq: seq})
	return asynq.NewTask(TypeBookingCancel, b, asynq.TaskID(BookingCancelID(id, seq)), asynq.Queue(QueueBookings),
		asynq.MaxRetry(bookingMaxRetry), asynq.Retention(bookingRetention), asynq.Timeout(BookingTaskTimeout))
}

// BookingEnqueuer queues booking follow-up work; an entry already there
// (same TaskID) counts as queued.
type BookingEnqueuer struct{ Client *asynq.Client }

// EnqueueSettle queues booking:settle for id.
func (e BookingEnqueuer) EnqueueSettle(ctx context.Context, id uuid.UUID) error {
	return e.enqueue(ctx, NewBookingSettleTask(id))
}

// EnqueueCancel queues booking:cancel for id's cancel request seq.
func (e BookingEnqueuer) EnqueueCancel(ctx context.Context, id uuid.UUID, seq int) error {
	return e.enqueue(ctx, NewBookingCancelTask(id, seq))
}

func (e BookingEnqueuer) enqueue(ctx context.Context, t *asynq.Task) error {
	return Enqueue(ctx, e.Client, t)
}
