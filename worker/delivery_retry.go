package worker

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/queue"
)

// RetryError is a transient delivery failure. It carries what the retry
// schedule needs: the receiver's Retry-After and the item's expiry.
type RetryError struct {
	Msg     string
	After   time.Duration // receiver's Retry-After, 0 if none
	Expires time.Time
}

func (e *RetryError) Error() string { return "delivery attempt failed: " + e.Msg }

// RetryPolicy is the delivery retry schedule: exponential from Base,
// doubling per retry, capped at Max, with "equal jitter" (a random point in
// the upper half) so a receiver coming back is not hit by every retry at
// once. A Retry-After longer than the computed delay wins (capped at Max).
// The delay never reaches past the item's expiry by more than a second, so
// the final attempt happens, finds the item expired and fails it.
type RetryPolicy struct {
	Base, Max time.Duration
}

// DefaultRetryPolicy: 1s, 2s, 4s, ... capped at 5 minutes.
var DefaultRetryPolicy = RetryPolicy{Base: time.Second, Max: 5 * time.Minute}

// Delay is an asynq.RetryDelayFunc for delivery tasks; other task types get
// asynq's default schedule.
func (p RetryPolicy) Delay(n int, err error, t *asynq.Task) time.Duration {
	if t == nil || (t.Type() != queue.TypeTaskDeliver && t.Type() != queue.TypeNotificationDeliver) {
		return asynq.DefaultRetryDelayFunc(n, err, t)
	}
	return p.deliveryDelay(n, err)
}

// deliveryDelay is the delay before delivery retry n (0 = the first).
func (p RetryPolicy) deliveryDelay(n int, err error) time.Duration {
	d := p.Base
	for i := 0; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	d = d/2 + rand.N(d/2+1)
	var re *RetryError
	if errors.As(err, &re) {
		if re.After > d {
			d = min(re.After, p.Max)
		}
		if !re.Expires.IsZero() {
			d = min(d, max(time.Until(re.Expires)+time.Second, time.Second))
		}
	}
	return d
}

// RetryDelay is the asynq RetryDelayFunc every gpfed worker server should
// use (asynq.Config.RetryDelayFunc).
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	return DefaultRetryPolicy.Delay(n, err, t)
}
