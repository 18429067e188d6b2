package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// BenchmarkClaim is one whole claim as the delivery engine makes it (the
// statement under the claim lock with its commit, then the read of what it
// took: two round trips) of up to 32 items from 8 endpoints with 400 tasks
// queued. The lease is a microsecond, so every claim finds the same work
// due again. Run it on a quiet machine: under a busy one the lock's holder
// waits for a core, which is what docs/BENCHMARKS.md (session 8) is about.
func BenchmarkClaim(b *testing.B) {
	db, _ := testdb.New(b)
	codes := testdb.NumberedFederation(b, db, "E", 8)
	for i := range 400 {
		testdb.Task(b, db, codes[i%8], codes[(i+1)%8])
	}
	opt := store.ClaimOptions{Limit: 32, Cap: 8, Lease: time.Microsecond}
	for b.Loop() {
		items, err := db.Claim(context.Background(), opt)
		if err != nil || len(items) != 32 {
			b.Fatalf("claim: %d items, %v; want 32", len(items), err)
		}
	}
}
