package worker

import (
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/queue"
)

// retryDelay routes asynq's retry delay: capacity fetches and booking
// settles and cancels have their own schedules, anything else asynq's
// default. (Deliveries do not retry through asynq: the engine schedules
// them in Postgres.)
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	switch {
	case t != nil && t.Type() == queue.TypeCapacityFetch:
		return CapacityRetryDelay(n)
	case t != nil && (t.Type() == queue.TypeBookingSettle || t.Type() == queue.TypeBookingCancel):
		return bookingRetry(n)
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// CapacityRetryDelay is the delay before capacity fetch retry n (0 = the
// first): 1-2 s, doubling, capped at 30 s. A capacity task only fails for
// gpfed's own reasons (the database, a lapsed lease, a worker that stopped
// or was killed; provider and SDS failures are outcomes), which clear
// quickly, so asynq's default (15 s to minutes) would only stretch the run.
func CapacityRetryDelay(n int) time.Duration {
	return RetryPolicy{Base: 2 * time.Second, Max: 30 * time.Second}.backoff(n)
}
