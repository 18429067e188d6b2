package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
)

// keyLimiter is a token bucket per API key: a key may spend its per-minute
// limit at a steady rate, with a burst of a sixth of it (ten seconds'
// worth, at least 10 requests). Buckets live in this process, so a
// deployment of N serve replicas behind a balancer admits up to N times
// the limit; the limit is a guard against a runaway or abused key, not a
// quota.
type keyLimiter struct {
	mu      sync.Mutex
	buckets map[uuid.UUID]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	limit  int
}

// limiterMax bounds the map; when full, idle buckets are dropped (a full
// bucket forgotten is the same as a full bucket kept).
const limiterMax = 10_000

func (s *Server) rateLimits() *keyLimiter {
	s.limitsOnce.Do(func() { s.limits = &keyLimiter{buckets: map[uuid.UUID]*bucket{}} })
	return s.limits
}

// allow spends a token of k's bucket. The limit is the practice's own
// (k.RateLimitPerMinute) or def; 0 is unlimited. When refused it returns
// how long until a token is available.
func (l *keyLimiter) allow(k store.APIKey, def int, now time.Time) (time.Duration, bool) {
	limit := def
	if k.RateLimitPerMinute != nil {
		limit = *k.RateLimitPerMinute
	}
	if limit <= 0 {
		return 0, true
	}
	burst := math.Max(10, float64(limit)/6)
	rate := float64(limit) / 60 // tokens per second
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k.ID]
	if b == nil || b.limit != limit {
		if len(l.buckets) >= limiterMax {
			l.sweep(now)
		}
		b = &bucket{tokens: burst, last: now, limit: limit}
		l.buckets[k.ID] = b
	}
	b.tokens = math.Min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second)), false
}

// sweep drops buckets idle long enough to be full again.
func (l *keyLimiter) sweep(now time.Time) {
	for id, b := range l.buckets {
		if now.Sub(b.last) > time.Minute {
			delete(l.buckets, id)
		}
	}
	if len(l.buckets) >= limiterMax {
		l.buckets = map[uuid.UUID]*bucket{}
	}
}

// writeRateLimited answers 429 with Retry-After in whole seconds (at least 1).
func writeRateLimited(w http.ResponseWriter, wait time.Duration) {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeProblem(w, http.StatusTooManyRequests, "Too Many Requests",
		fmt.Sprintf("this API key is over its rate limit; retry after %d s (limits are per key and per minute, set per practice)", secs), nil)
}
