package worker

import (
	"math/rand/v2"
	"time"
)

// RetryPolicy is the delivery retry schedule: exponential from Base,
// doubling per attempt, capped at Max, with "equal jitter" (a random point
// in the upper half) so a receiver coming back is not hit by every retry at
// once. A Retry-After longer than the computed delay wins (capped at Max).
// The delay never reaches more than a second past the item's expiry, so
// the final claim happens, finds the item expired and fails it.
type RetryPolicy struct {
	Base, Max time.Duration
}

// DefaultRetryPolicy: 1s, 2s, 4s, ... capped at 5 minutes.
var DefaultRetryPolicy = RetryPolicy{Base: time.Second, Max: 5 * time.Minute}

// Delay is the wait before the next attempt of an item that has had
// attempts failed attempts before this one (0 after the first failure).
func (p RetryPolicy) Delay(attempts int, retryAfter time.Duration, expires, now time.Time) time.Duration {
	d := p.backoff(attempts)
	if retryAfter > d {
		d = min(retryAfter, p.Max)
	}
	if !expires.IsZero() {
		d = min(d, max(expires.Sub(now)+time.Second, time.Second))
	}
	return d
}

// backoff is the jittered exponential delay before retry n (0 = the first):
// Base doubled n times, capped at Max, a random point in its upper half.
func (p RetryPolicy) backoff(n int) time.Duration {
	d := p.Base
	for i := 0; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	return d/2 + rand.N(d/2+1)
}
