// Package batch turns concurrent single calls into grouped calls (group
// commit): each caller hands in one item and waits; a flusher takes
// everything waiting, up to a maximum, and runs it as one call. While one
// group runs, the next gathers, so under load groups grow by themselves and
// an idle system answers a lone caller at once, with no timer to wait for
// (unless the group is told to linger: WithLinger).
package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrClosed is returned by Do once the group has stopped.
var ErrClosed = errors.New("batch: stopped")

// Func runs one group. It returns one result per item, in order, or an
// error that fails the whole group.
type Func[In, Out any] func(ctx context.Context, items []In) ([]Out, error)

// Group gathers calls to fn. Build it with New and run it with Run.
type Group[In, Out any] struct {
	fn       Func[In, Out]
	max      int
	flushers int
	queue    chan *call[In, Out]
	quit     chan struct{}
	linger   time.Duration
	// gathering lets one flusher gather at a time when lingering, so that
	// the flushers do not split the callers of one moment between them.
	gathering sync.Mutex

	mu      sync.RWMutex
	stopped bool
}

type call[In, Out any] struct {
	ctx  context.Context
	in   In
	out  Out
	err  error
	done chan struct{}
}

// New returns a group that runs fn on at most max items at a time, with
// flushers groups in flight at once (at least 1).
func New[In, Out any](fn Func[In, Out], max, flushers int) *Group[In, Out] {
	max, flushers = cmpMax(max, 1), cmpMax(flushers, 1)
	return &Group[In, Out]{fn: fn, max: max, flushers: flushers, queue: make(chan *call[In, Out], 4*max),
		quit: make(chan struct{})}
}

func cmpMax(v, floor int) int {
	if v < floor {
		return floor
	}
	return v
}

// WithLinger makes a flusher that finds fewer than max items waiting wait up
// to d for more before it runs them, one flusher gathering at a time (the
// others run their groups meanwhile). Without it, callers that arrive a few
// milliseconds apart each make a group of their own, which is right for a
// caller waiting on a reply and costly where each group is a transaction of
// several round trips and nobody waits on the milliseconds. Call it before
// Run.
func (g *Group[In, Out]) WithLinger(d time.Duration) *Group[In, Out] {
	g.linger = max(d, 0)
	return g
}

// Do hands in one item and waits for its result. A caller whose ctx ends
// first gets ctx's error; its item may still run (callers whose work must
// not be lost retry idempotently).
func (g *Group[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	c := &call[In, Out]{ctx: ctx, in: in, done: make(chan struct{})}
	var zero Out
	g.mu.RLock()
	if g.stopped {
		g.mu.RUnlock()
		return zero, ErrClosed
	}
	select {
	case g.queue <- c:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		return zero, ctx.Err()
	}
	select {
	case <-c.done:
		return c.out, c.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Run flushes until ctx ends, then refuses new items, runs what is still
// queued and returns. ctx is not passed to fn: a group that has started
// finishes (fn gets a context without ctx's cancellation).
func (g *Group[In, Out]) Run(ctx context.Context) {
	run := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for range g.flushers {
		wg.Add(1)
		go func() { defer wg.Done(); g.flush(run) }()
	}
	<-ctx.Done()
	// Refuse new items first (callers blocked on a full queue get in while
	// the flushers still run), then stop the flushers and run the rest.
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	close(g.quit)
	wg.Wait()
	g.drain(run)
}

func (g *Group[In, Out]) flush(ctx context.Context) {
	for {
		calls := g.next()
		if calls == nil {
			return
		}
		g.runGroup(ctx, calls)
	}
}

// next waits for a first item and gathers its group, or returns nil once
// the group is stopping.
func (g *Group[In, Out]) next() []*call[In, Out] {
	if g.linger > 0 {
		g.gathering.Lock()
		defer g.gathering.Unlock()
	}
	select {
	case <-g.quit:
		return nil
	case c := <-g.queue:
		calls := g.gather(c)
		if g.linger > 0 && len(calls) < g.max {
			calls = g.lingerFor(calls)
		}
		return calls
	}
}

// gather takes first and whatever else is waiting, up to max.
func (g *Group[In, Out]) gather(first *call[In, Out]) []*call[In, Out] {
	calls := []*call[In, Out]{first}
	for len(calls) < g.max {
		select {
		case c := <-g.queue:
			calls = append(calls, c)
		default:
			return calls
		}
	}
	return calls
}

// lingerFor adds what arrives within the linger, up to max.
func (g *Group[In, Out]) lingerFor(calls []*call[In, Out]) []*call[In, Out] {
	timer := time.NewTimer(g.linger)
	defer timer.Stop()
	for len(calls) < g.max {
		select {
		case c := <-g.queue:
			calls = append(calls, c)
		case <-timer.C:
			return calls
		case <-g.quit:
			return calls
		}
	}
	return calls
}

// drain runs everything left in the queue after the flushers stopped.
func (g *Group[In, Out]) drain(ctx context.Context) {
	for {
		select {
		case c := <-g.queue:
			g.runGroup(ctx, g.gather(c))
		default:
			return
		}
	}
}

func (g *Group[In, Out]) runGroup(ctx context.Context, calls []*call[In, Out]) {
	live := calls[:0]
	for _, c := range calls {
		if err := c.ctx.Err(); err != nil {
			c.err = err // its caller has gone: do not run it
			close(c.done)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	ins := make([]In, len(live))
	for i, c := range live {
		ins[i] = c.in
	}
	outs, err := g.fn(ctx, ins)
	if err == nil && len(outs) != len(ins) {
		err = fmt.Errorf("batch: %d results for %d items", len(outs), len(ins))
	}
	for i, c := range live {
		if err != nil {
			c.err = err
		} else {
			c.out = outs[i]
		}
		close(c.done)
	}
}
