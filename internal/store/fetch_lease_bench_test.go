package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/testdb"
)

// BenchmarkClaimFetch claims practices for a run one after another, as a worker does before each
// practice's fetch: one statement and its commit.
func BenchmarkClaimFetch(b *testing.B) {
	db, _ := testdb.New(b)
	ctx := context.Background()
	const practices = 2000
	codes := testdb.NumberedFederation(b, db, "C", practices)
	from := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	run := func() int64 {
		r, _, err := db.CreateSyncRun(ctx, "manual", from, from.AddDate(0, 0, 28), nil)
		if err != nil {
			b.Fatal(err)
		}
		return r.ID
	}
	runID, i := run(), 0
	for b.Loop() {
		if i == practices {
			b.StopTimer()
			if _, err := db.Pool.Exec(ctx, `DELETE FROM practice_fetch_leases`); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Pool.Exec(ctx, `UPDATE sync_runs SET finished_at = now() WHERE id = $1`, runID); err != nil {
				b.Fatal(err)
			}
			runID, i = run(), 0
			b.StartTimer()
		}
		c, err := db.ClaimFetch(ctx, runID, codes[i], "urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1", "bench", time.Minute)
		if err != nil || !c.Acquired {
			b.Fatalf("claim %s: %+v %v", codes[i], c, err)
		}
		i++
	}
}
