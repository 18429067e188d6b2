package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/jobs"
)

// The leader's retention job prunes access records older than
// GPFED_AUDIT_RETENTION in batches and leaves younger ones.
func TestRetentionPrunesAccessLog(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	ctx := context.Background()
	now := time.Now()
	for i := range 7 {
		age := 10 * 24 * time.Hour
		if i < 5 {
			age = 400 * 24 * time.Hour
		}
		if err := db.RecordAccess(ctx, store.AccessRecord{At: now.Add(-age), ActorRole: "anonymous", Action: "auth.failed",
			Status: 401}); err != nil {
			t.Fatal(err)
		}
	}
	r := jobs.NewRetention(db, jobs.RetentionConfig{Audit: 365 * 24 * time.Hour, Batch: 2}, nil)
	rep, err := r.RunOnce(ctx)
	if err != nil || rep.AccessRecordsDeleted != 5 {
		t.Fatalf("report %+v, %v; want 5 access records deleted", rep, err)
	}
	left, err := db.ListAccess(ctx, store.AccessFilter{})
	if err != nil || len(left) != 2 {
		t.Fatalf("%d records left (%v), want the 2 younger ones", len(left), err)
	}
}
