package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/api"
)

// With KeyCacheTTL a revoked key stops working within the TTL; without it
// (the fixture's server), at once.
func TestKeyCacheRevocationWithinTTL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const ttl = 500 * time.Millisecond
	cached := &api.Server{DB: f.db, Log: slog.New(slog.DiscardHandler), TaskMaxAge: time.Hour, KeyCacheTTL: ttl}
	ts := httptest.NewServer(cached.Handler())
	t.Cleanup(ts.Close)
	uncached := f.url

	f.url = ts.URL
	if res := f.do("GET", "/v1/inbox", f.keys[odsA], ""); res.status != http.StatusOK {
		t.Fatalf("cached server before revocation: %d %s", res.status, res.body)
	}
	if res := f.do("GET", "/v1/inbox", "gpfed_not-a-key", ""); res.status != http.StatusUnauthorized {
		t.Fatalf("unknown key: %d", res.status)
	}
	if _, err := f.db.RevokeAPIKeys(context.Background(), odsA, ""); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()

	f.url = uncached
	if res := f.do("GET", "/v1/inbox", f.keys[odsA], ""); res.status != http.StatusUnauthorized {
		t.Fatalf("uncached server after revocation: %d", res.status)
	}
	f.url = ts.URL
	for {
		res := f.do("GET", "/v1/inbox", f.keys[odsA], "")
		if res.status == http.StatusUnauthorized {
			break
		}
		if res.status != http.StatusOK {
			t.Fatalf("cached server: %d %s", res.status, res.body)
		}
		if time.Since(revoked) > ttl+2*time.Second {
			t.Fatalf("revoked key still accepted %v after revocation (TTL %v)", time.Since(revoked), ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
