package sds

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Lookuper is what Cache wraps (a *Client).
type Lookuper interface {
	Lookup(ctx context.Context, ods, interaction string) (Endpoint, error)
}

// Cache keeps lookups for the length of a session, which GP Connect allows
// (SHOULD cache for a session) and no longer (MUST NOT carry results across
// sessions). gpfed's sessions are one sync run ("run:<id>") and one booking
// session. Answers are cached per (session, ODS code, interaction): an
// endpoint found for one interaction never serves another. Found endpoints,
// "not enabled" and inconsistent directory data are cached; outages and
// rejections are not, so a retry within the session asks again.
type Cache struct {
	next   Lookuper
	maxAge time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]cacheEntry
	puts    int
}

type cacheKey struct{ session, ods, interaction string }

type cacheEntry struct {
	ep  Endpoint
	err error
	at  time.Time
}

// NewCache wraps next. maxAge bounds how long an entry may live even if its
// session never says it ended (a run's deadline, 6 hours, by default).
func NewCache(next Lookuper, maxAge time.Duration) *Cache {
	if maxAge <= 0 {
		maxAge = 6 * time.Hour
	}
	return &Cache{next: next, maxAge: maxAge, now: time.Now, entries: map[cacheKey]cacheEntry{}}
}

// Lookup answers from the session's cache or asks SDS.
func (c *Cache) Lookup(ctx context.Context, session, ods, interaction string) (Endpoint, error) {
	k := cacheKey{session, ods, interaction}
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < c.maxAge {
		return e.ep, e.err
	}
	ep, err := c.next.Lookup(ctx, ods, interaction)
	if cacheable(err) {
		c.put(k, cacheEntry{ep: ep, err: err, at: c.now()})
	}
	return ep, err
}

func cacheable(err error) bool {
	var e *Error
	return err == nil || (errors.As(err, &e) && (e.Kind == NotEnabled || e.Kind == Inconsistent))
}

func (c *Cache) put(k cacheKey, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[k] = e
	c.puts++
	if c.puts%1024 == 0 {
		c.pruneLocked()
	}
}

// EndSession forgets a session's entries (a finished run).
func (c *Cache) EndSession(session string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if k.session == session {
			delete(c.entries, k)
		}
	}
}

func (c *Cache) pruneLocked() {
	now := c.now()
	for k, e := range c.entries {
		if now.Sub(e.at) >= c.maxAge {
			delete(c.entries, k)
		}
	}
}

// Len is the number of cached answers (for tests and metrics).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
