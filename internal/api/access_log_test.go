package api_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/gpfed/gpfed/internal/api"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

// Concurrent requests' access records share inserts and commits, every
// caller learns its own record's fate, one record the database refuses
// costs no other record, and a record written after the log stopped is
// still written.
func TestAccessLogGroupsRecords(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	l := api.NewAccessLog(db)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	const n, bad = 200, 77
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := store.AccessRecord{ActorRole: store.ActorAnonymous, Action: "auth.failed", Method: "GET",
				Route: fmt.Sprintf("GET /v1/inbox#%d", i), Status: 401, Reason: "missing_key", RemoteAddr: "127.0.0.1"}
			if i == bad {
				rec.ForwardedFor = "a\x00b" // Postgres text cannot hold NUL
			}
			errs[i] = l.Record(context.Background(), rec)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == bad) {
			t.Errorf("record %d: error %v", i, err)
		}
	}
	var rows, commits int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT xmin::text)
		FROM access_log WHERE route LIKE 'GET /v1/inbox#%'`).Scan(&rows, &commits); err != nil {
		t.Fatal(err)
	}
	if rows != n-1 {
		t.Fatalf("%d records stored, want %d", rows, n-1)
	}
	if commits >= rows/2 {
		t.Errorf("%d records took %d commits: not grouped", rows, commits)
	}
	t.Logf("%d records in %d commits", rows, commits)
	cancel()
	<-done
	if err := l.Record(context.Background(), store.AccessRecord{ActorRole: store.ActorAnonymous, Action: "auth.failed",
		Route: "after stop", Status: 401}); err != nil {
		t.Fatalf("record after stop: %v", err)
	}
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM access_log WHERE route = 'after stop'`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("record after stop: %d rows, %v", rows, err)
	}
}
