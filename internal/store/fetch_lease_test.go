package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// TestClaimFetch: a claim takes the lease once, keeps a second claimer out and names its run,
// and refuses a practice the run does not have. A claim the database lost in a crash (it commits
// without waiting for the disk) is the lease gone: the fetch's outcome then writes nothing and
// fails with ErrLeaseLost, and the retry claims again.
func TestClaimFetch(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	ctx := context.Background()
	const interaction = "urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1"
	testdb.Federation(t, db, "A10001")
	from := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	r, _, err := db.CreateSyncRun(ctx, "manual", from, from.AddDate(0, 0, 28), nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := db.ClaimFetch(ctx, r.ID, "A10001", interaction, "one", time.Minute)
	if err != nil || !first.Acquired || first.Status != "pending" || first.Name != testdb.Practice("A10001").Name {
		t.Fatalf("first claim: %+v, %v", first, err)
	}
	second, err := db.ClaimFetch(ctx, r.ID, "A10001", interaction, "two", time.Minute)
	if err != nil || second.Acquired || second.HolderRun != r.ID {
		t.Fatalf("second claim while the first holds the lease: %+v, %v", second, err)
	}
	if _, err := db.ClaimFetch(ctx, r.ID, "Z99999", interaction, "one", time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("claim of a practice outside the run: %v, want ErrNotFound", err)
	}

	// The first claim lost: its lease is gone, as after a crash before the claim reached the disk.
	if err := db.ReleaseFetchLease(ctx, "A10001", first.Token); err != nil {
		t.Fatal(err)
	}
	out := store.FetchOutcome{RunID: r.ID, ODSCode: "A10001", LeaseToken: first.Token, Diagnostics: "provider down"}
	if err := db.MarkPracticeFailed(ctx, out); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("outcome under the lost claim: %v, want ErrLeaseLost", err)
	}
	if _, err := db.SaveSnapshot(ctx, out, from, from.AddDate(0, 0, 28), nil); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("snapshot under the lost claim: %v, want ErrLeaseLost", err)
	}
	if status, _, _, err := db.RunPracticeStatus(ctx, r.ID, "A10001"); err != nil || status != "pending" {
		t.Fatalf("after the refused outcomes the practice is %q (%v), want still pending", status, err)
	}
	retry, err := db.ClaimFetch(ctx, r.ID, "A10001", interaction, "one", time.Minute)
	if err != nil || !retry.Acquired {
		t.Fatalf("retry's claim: %+v, %v", retry, err)
	}
}
