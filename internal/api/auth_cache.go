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
// keys are cached, keyed by the key's SHA-256 (never the key itself); a
// revoked key, or a key of a deactivated practice, keeps working for at most
// the TTL in each serve process.
type keyCache struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[[sha256.Size]byte]cachedKey
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

func (c *keyCache) put(h [sha256.Size]byte, k store.APIKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
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
	s.keysOnce.Do(func() { s.keys = &keyCache{ttl: s.KeyCacheTTL, now: time.Now} })
	h := sha256.Sum256([]byte(raw))
	if k, ok := s.keys.get(h); ok {
		return k, nil
	}
	k, err := s.DB.AuthenticateAPIKey(ctx, raw)
	if err == nil {
		s.keys.put(h, k)
	}
	return k, err
}
