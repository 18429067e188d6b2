// Package flight bounds the memory a sync holds by bytes rather than by a count of practices:
// a Budget is shared by one process's capacity fetches, and each practice fetch takes a Claim
// that provider response bytes (and then the slots decoded from them) are charged to as they
// arrive and that is released once the practice's snapshot is saved. Waiting on a slow provider costs nothing; only bytes received and
// not yet stored count.
//
// A practice's first bytes wait until its reservation (an estimate, from its previous snapshot)
// fits in the budget, or the budget is otherwise empty, so a practice larger than the whole budget
// still proceeds alone. Bytes beyond the reservation never wait: a practice that already holds
// memory must be able to finish and free it, or two half-read practices could wait on each other
// for ever. Bytes given back early (Return: a response buffer once decoded) let others in sooner.
// Memory is therefore bounded by the budget plus what admitted practices hold beyond their
// reservations at one time, which stays small when reservations are close to real sizes.
package flight

import (
	"context"
	"sync"
)

// Budget is a process's limit on bytes in flight. The zero value is unusable; use New.
type Budget struct {
	mu      sync.Mutex
	max     int64
	used    int64
	peak    int64
	changed chan struct{} // closed and replaced whenever bytes are freed
}

// New returns a Budget of max bytes.
func New(max int64) *Budget {
	return &Budget{max: max, changed: make(chan struct{})}
}

// Claim returns a practice fetch's claim on b. estimate is the bytes the practice is expected to
// need, taken in one step with its first bytes. A nil Budget gives a Claim that charges nothing.
func (b *Budget) Claim(estimate int64) *Claim {
	return &Claim{b: b, estimate: max(estimate, 1)}
}

// InUse reports the bytes currently charged and the highest charge seen.
func (b *Budget) InUse() (used, peak int64) {
	if b == nil {
		return 0, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak
}

// Max is the budget's size.
func (b *Budget) Max() int64 {
	if b == nil {
		return 0
	}
	return b.max
}

// Claim is one practice fetch's share of a Budget. Take and Release may be called from several
// goroutines (a practice's windows are read concurrently).
type Claim struct {
	b        *Budget
	estimate int64

	mu       sync.Mutex
	admitted bool
	held     int64 // charged to the budget
	credit   int64 // charged but not yet used by Take
	waiting  chan struct{}
}

// Take charges n bytes about to be read. Only the claim's first Take can wait (until the estimate
// fits); it returns ctx's error if ctx ends first.
func (c *Claim) Take(ctx context.Context, n int64) error {
	if c == nil || c.b == nil || n <= 0 {
		return nil
	}
	c.mu.Lock()
	if !c.admitted {
		if c.waiting != nil { // another window of this practice is being admitted
			w := c.waiting
			c.mu.Unlock()
			select {
			case <-w:
			case <-ctx.Done():
				return ctx.Err()
			}
			return c.Take(ctx, n)
		}
		c.waiting = make(chan struct{})
		c.mu.Unlock()
		want := max(c.estimate, n)
		err := c.b.admit(ctx, want)
		c.mu.Lock()
		close(c.waiting)
		c.waiting = nil
		if err != nil {
			c.mu.Unlock()
			return err
		}
		c.admitted, c.held, c.credit = true, want, want
	}
	defer c.mu.Unlock()
	if c.credit >= n {
		c.credit -= n
		return nil
	}
	extra := n - c.credit
	c.credit = 0
	c.held += extra
	c.b.charge(extra) // beyond the estimate: never waits
	return nil
}

// Return gives n bytes back before the claim ends (a response buffer recycled once decoded), so
// that other practices can be admitted; what remains of the claim's reservation stays held.
func (c *Claim) Return(n int64) {
	if c == nil || c.b == nil || n <= 0 {
		return
	}
	c.mu.Lock()
	n = min(n, c.held-c.credit) // never below what is still reserved
	c.held -= n
	c.mu.Unlock()
	if n > 0 {
		c.b.free(n)
	}
}

// Release returns everything the claim holds. It is safe to call more than once.
func (c *Claim) Release() {
	if c == nil || c.b == nil {
		return
	}
	c.mu.Lock()
	held := c.held
	c.held, c.credit = 0, 0
	c.mu.Unlock()
	if held > 0 {
		c.b.free(held)
	}
}

// admit waits until want fits, or nothing is charged at all.
func (b *Budget) admit(ctx context.Context, want int64) error {
	for {
		b.mu.Lock()
		if b.used+want <= b.max || b.used == 0 {
			b.used += want
			b.peak = max(b.peak, b.used)
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *Budget) charge(n int64) {
	b.mu.Lock()
	b.used += n
	b.peak = max(b.peak, b.used)
	b.mu.Unlock()
}

func (b *Budget) free(n int64) {
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

type claimKey struct{}

// WithClaim returns ctx carrying c, for the code that reads provider responses.
func WithClaim(ctx context.Context, c *Claim) context.Context {
	return context.WithValue(ctx, claimKey{}, c)
}

// FromContext returns the claim ctx carries, or nil (a nil Claim charges nothing).
func FromContext(ctx context.Context) *Claim {
	c, _ := ctx.Value(claimKey{}).(*Claim)
	return c
}
