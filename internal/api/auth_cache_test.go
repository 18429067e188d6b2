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

// With the change listener running, a revocation empties the cache at once:
// the TTL here is an hour, so only the notification can make the key fail.
func TestKeyCacheRevocationNotified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cached := &api.Server{DB: f.db, Log: slog.New(slog.DiscardHandler), TaskMaxAge: time.Hour, KeyCacheTTL: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() { defer close(watched); cached.WatchKeyChanges(ctx) }()
	t.Cleanup(func() { cancel(); <-watched })
	ts := httptest.NewServer(cached.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL

	for _, ods := range []string{odsA, odsB} {
		if res := f.do("GET", "/v1/inbox", f.keys[ods], ""); res.status != http.StatusOK {
			t.Fatalf("%s before revocation: %d %s", ods, res.status, res.body)
		}
	}
	// The listener is in place (its catch-up flush is behind us) before the
	// revocation, so what follows is the notification's doing.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var listening int
		if err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN %gpfed_api_keys%'`).Scan(&listening); err != nil {
			t.Fatal(err)
		}
		if listening > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the key change listener did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res := f.do("GET", "/v1/inbox", f.keys[odsA], ""); res.status != http.StatusOK { // cached again
		t.Fatalf("before revocation: %d %s", res.status, res.body)
	}
	if _, err := f.db.RevokeAPIKeys(context.Background(), odsA, ""); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		res := f.do("GET", "/v1/inbox", f.keys[odsA], "")
		if res.status == http.StatusUnauthorized {
			break
		}
		if time.Since(revoked) > 5*time.Second {
			t.Fatalf("revoked key still accepted %v after revocation with a 1h TTL: %d", time.Since(revoked), res.status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revoked key refused %v after the revocation committed", time.Since(revoked).Round(time.Millisecond))
	if res := f.do("GET", "/v1/inbox", f.keys[odsB], ""); res.status != http.StatusOK {
		t.Fatalf("another practice's key after the flush: %d %s", res.status, res.body)
	}
}
