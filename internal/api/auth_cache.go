package api

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// keyCache remembers successful API key lookups for a short TTL so that a
// busy client does not cost a Postgres round trip per request. Only valid
// keys are cached, keyed by the key's SHA-256 (never the key itself).
// WatchKeyChanges empties it whenever a key is revoked or a practice's
// membership changes; should that signal be lost, a revoked key keeps
// working for at most the TTL in each serve process.
type keyCache struct {
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	m   map[[sha256.Size]byte]cachedKey
	gen uint64 // bumped by flush; a lookup that straddles one is not cached
}

type cachedKey struct {
	key     store.APIKey
	expires time.Time
}

// keyCacheMax bounds the cache; when full it starts afresh (a rare extra
// lookup per key is cheaper than an eviction policy).
const keyCacheMax = 10_000

func (c *keyCache) get(h [sha256.Size]byte) (store.APIKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[h]
	if !ok || !c.now().Before(e.expires) {
		return store.APIKey{}, false
	}
	return e.key, true
}

func (c *keyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put caches k unless the cache was flushed since gen was read (the lookup
// may have seen the key before its revocation committed).
func (c *keyCache) put(h [sha256.Size]byte, k store.APIKey, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= keyCacheMax {
		c.m = make(map[[sha256.Size]byte]cachedKey)
	}
	c.m[h] = cachedKey{key: k, expires: c.now().Add(c.ttl)}
}

// authenticate resolves a raw bearer key, through the cache when
// Server.KeyCacheTTL is set.
func (s *Server) authenticate(ctx context.Context, raw string) (store.APIKey, error) {
	if s.KeyCacheTTL <= 0 {
		return s.DB.AuthenticateAPIKey(ctx, raw)
	}
	cache := s.keyCache()
	h := sha256.Sum256([]byte(raw))
	if k, ok := cache.get(h); ok {
		return k, nil
	}
	gen := cache.generation()
	k, err := s.DB.AuthenticateAPIKey(ctx, raw)
	if err == nil {
		cache.put(h, k, gen)
	}
	return k, err
}

func (s *Server) keyCache() *keyCache {
	s.keysOnce.Do(func() { s.keys = &keyCache{ttl: s.KeyCacheTTL, now: time.Now} })
	return s.keys
}

func (c *keyCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
	c.gen++
}

// WatchKeyChanges empties the key cache whenever Postgres signals a key
// revocation or a membership change (store.APIKeysChannel), until ctx ends.
// While the listening connection is down it flushes and retries with
// backoff, and the cache's TTL bounds what the gap can leave behind. Run it
// in its own goroutine when KeyCacheTTL is set.
func (s *Server) WatchKeyChanges(ctx context.Context) {
	if s.KeyCacheTTL <= 0 {
		return
	}
	cache := s.keyCache()
	wait := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		err := s.DB.Listen(ctx, store.APIKeysChannel, cache.flush)
		if time.Since(start) > time.Minute {
			wait = time.Second // it had been working: retry soon
		}
		cache.flush()
		if ctx.Err() != nil {
			return
		}
		s.Log.Warn("API key change listener lost; cached keys now expire by TTL only until it is back",
			"error", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}
