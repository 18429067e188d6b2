package gpconnect

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/gpfed/gpfed/internal/flight"
)

// limiter bounds concurrent HTTP calls per practice (fixed: what a practice's system is asked to
// bear) and per process (adaptive).
type limiter struct {
	perPractice int
	global      *adaptive

	mu        sync.Mutex
	practices map[string]*practiceSlots
}

type practiceSlots struct {
	ch    chan struct{}
	users int // callers holding or waiting; the entry is dropped at zero
}

func newLimiter(minGlobal, maxGlobal, perPractice int, onLimit func(int)) *limiter {
	return &limiter{
		perPractice: perPractice,
		global:      newAdaptive(minGlobal, maxGlobal, onLimit),
		practices:   make(map[string]*practiceSlots),
	}
}

// acquire takes the practice slot before the global one so a busy practice cannot hold global
// capacity while it waits. release reports the call's time to response headers and whether the
// answer said the provider or SSP is overloaded.
func (l *limiter) acquire(ctx context.Context, ods string) (release func(latency time.Duration, congested bool), err error) {
	l.mu.Lock()
	p := l.practices[ods]
	if p == nil {
		p = &practiceSlots{ch: make(chan struct{}, l.perPractice)}
		l.practices[ods] = p
	}
	p.users++
	l.mu.Unlock()
	done := func() {
		l.mu.Lock()
		if p.users--; p.users == 0 {
			delete(l.practices, ods) // a region's thousands of practices leave nothing behind
		}
		l.mu.Unlock()
	}
	select {
	case p.ch <- struct{}{}:
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
	if err := l.global.acquire(ctx); err != nil {
		<-p.ch
		done()
		return nil, err
	}
	return func(latency time.Duration, congested bool) {
		l.global.release(latency, congested)
		<-p.ch
		done()
	}, nil
}

// adaptive is the process-wide limit on GP Connect calls in flight. Slow providers need many
// calls in flight for the same throughput (Little's law: in flight = rate x latency), so the
// limit follows the measured rate and time to response headers, with headroom of two: it
// doubles while callers queue for it and the provider side keeps up; when the local side
// (decoding, the database, the byte budget) is what limits the rate, or demand falls, it
// shrinks towards twice rate x latency, so that answers do not sit waiting for room (and time
// out); and it backs off by a quarter when more than 1 in 20 answers say the providers or the
// SSP are overloaded (429, 503, timeouts). The byte budget, not this limit, bounds memory.
type adaptive struct {
	mu       sync.Mutex
	min, max int
	limit    int
	inflight int
	waiters  []chan struct{}
	onLimit  func(int)

	// the current measurement window
	start     time.Time
	done      int
	latency   time.Duration
	congested int
	queued    bool
}

// adaptWindow is how often the limit is reconsidered (given enough completions).
const adaptWindow = 500 * time.Millisecond

func newAdaptive(lo, hi int, onLimit func(int)) *adaptive {
	lo, hi = max(lo, 1), max(hi, lo, 1)
	a := &adaptive{min: lo, max: hi, limit: min(hi, max(lo, 64)), onLimit: onLimit, start: time.Now()}
	if onLimit != nil {
		onLimit(a.limit)
	}
	return a
}

func (a *adaptive) acquire(ctx context.Context) error {
	a.mu.Lock()
	if a.inflight < a.limit && len(a.waiters) == 0 {
		a.inflight++
		a.mu.Unlock()
		return nil
	}
	a.queued = true
	ch := make(chan struct{})
	a.waiters = append(a.waiters, ch)
	a.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, w := range a.waiters {
		if w == ch {
			a.waiters = append(a.waiters[:i], a.waiters[i+1:]...)
			return ctx.Err()
		}
	}
	// Granted just as ctx ended: hand the slot on.
	a.inflight--
	a.wakeLocked()
	return ctx.Err()
}

func (a *adaptive) release(latency time.Duration, congested bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inflight--
	a.done++
	a.latency += latency
	if congested {
		a.congested++
	}
	if now := time.Now(); (now.Sub(a.start) >= adaptWindow && a.done >= 8) || now.Sub(a.start) >= 6*adaptWindow {
		a.adaptLocked(now)
	}
	a.wakeLocked()
}

func (a *adaptive) adaptLocked(now time.Time) {
	elapsed := now.Sub(a.start).Seconds()
	old := a.limit
	if a.done > 0 {
		rate := float64(a.done) / elapsed
		lat := (a.latency / time.Duration(a.done)).Seconds()
		target := int(2*rate*lat) + 1
		switch {
		case a.congested*20 > a.done:
			a.limit = a.limit * 3 / 4
		case a.queued && target > a.limit:
			a.limit = min(target, 2*a.limit)
		case target < a.limit:
			// Calls spend longer in flight than providers take to answer: they wait for the
			// local side (or demand fell). Fewer in flight serve the same rate.
			a.limit = (3*a.limit + target) / 4
		}
	}
	a.limit = min(a.max, max(a.min, a.limit))
	a.start, a.done, a.latency, a.congested, a.queued = now, 0, 0, 0, len(a.waiters) > 0
	if a.limit != old && a.onLimit != nil {
		a.onLimit(a.limit)
	}
}

func (a *adaptive) wakeLocked() {
	for a.inflight < a.limit && len(a.waiters) > 0 {
		ch := a.waiters[0]
		a.waiters = a.waiters[1:]
		a.inflight++
		close(ch)
	}
}

// Limit is the current limit (for tests and metrics).
func (a *adaptive) Limit() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.limit
}

// bodyPool recycles response buffers: a region's sync reads gigabytes of Bundles, and a fresh
// buffer per response (grown by doubling) made the garbage collector a third of the client's CPU.
var bodyPool sync.Pool

// maxPooledBody keeps rare huge buffers out of the pool.
const maxPooledBody = 4 << 20

// recycleBody returns a Slot search body whose contents are no longer referenced.
func recycleBody(b []byte) {
	if cap(b) > 0 && cap(b) <= maxPooledBody {
		b = b[:0]
		bodyPool.Put(&b)
	}
}

// readBody reads at most limit bytes, charging them to the practice's byte budget claim (if ctx
// carries one) as the buffer grows, so that memory waits for room rather than piling up. Only a
// practice's first bytes can wait; see package flight.
func readBody(ctx context.Context, r io.Reader, limit int64) ([]byte, error) {
	claim := flight.FromContext(ctx)
	const chunk = 32 << 10
	var buf []byte
	if p, ok := bodyPool.Get().(*[]byte); ok {
		buf = (*p)[:0]
	} else {
		buf = make([]byte, 0, min(limit, chunk))
	}
	if err := claim.Take(ctx, int64(cap(buf))); err != nil {
		return nil, err
	}
	for int64(len(buf)) < limit {
		if len(buf) == cap(buf) {
			next := min(limit, int64(2*cap(buf)))
			if err := claim.Take(ctx, next-int64(cap(buf))); err != nil {
				return nil, err
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):min(int64(cap(buf)), limit)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
