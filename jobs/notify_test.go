package jobs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/logging"
	"github.com/gpfed/gpfed/jobs"
)

type note struct {
	Recipient, Kind, Key string
	Queued               bool
}

func (f *deliveryFixture) notes(t *testing.T) []note {
	t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), `SELECT n.recipient_ods, n.kind, COALESCE(n.coalesce_key, ''),
			EXISTS (SELECT 1 FROM delivery_queue q WHERE q.ref_id = n.id)
		FROM notifications n ORDER BY n.kind, n.recipient_ods`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (note, error) {
		var n note
		return n, r.Scan(&n.Recipient, &n.Kind, &n.Key, &n.Queued)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Every check, run twice, creates each notification once; each travels
// through the delivery queue.
func TestNotifierCoalesces(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	london, _ := time.LoadLocation("Europe/London")
	today := time.Now().In(london).Format(time.DateOnly)

	overdue := f.task(t, "1 day", "state = 'delivered'")
	f.exec(t, `UPDATE tasks SET due_date = $2::date - 1 WHERE id = $1`, overdue, today)
	f.task(t, "1 day", "due_date = current_date + 1")                          // not yet due
	acked := f.task(t, "1 day", "state = 'acknowledged', finished_at = now()") // done: never overdue
	f.exec(t, `UPDATE tasks SET due_date = $2::date - 5 WHERE id = $1`, acked, today)

	// Run 7: B failed, A succeeded; run 6 (older): A failed — superseded.
	f.exec(t, `INSERT INTO sync_runs (id, trigger, from_date, to_date, status) VALUES
		(6, 'schedule', current_date, current_date + 28, 'completed'),
		(7, 'schedule', current_date, current_date + 28, 'completed')`)
	f.exec(t, `INSERT INTO sync_run_practices (run_id, ods_code, status, spine_code, http_status) VALUES
		(6, 'A20047', 'failed', 'TIMEOUT', 0), (7, 'A20047', 'ok', NULL, 200), (7, 'B82001', 'failed', 'INTERNAL_SERVER_ERROR', 500)`)
	// A last succeeded 48h ago (stale after 36h); B 1h ago; C never, but joined just now.
	f.exec(t, `INSERT INTO practice_sync_state (ods_code, last_run_id, last_success_at) VALUES
		('A20047', 7, now() - interval '48 hours'), ('B82001', 7, now() - interval '1 hour')`)
	// Thresholds are 100 minutes over 7 days: A has 60 (+1000 outside the window), B 500.
	f.exec(t, `INSERT INTO capacity_daily (ods_code, local_date, free_slots, free_minutes) VALUES
		('A20047', $1::date, 2, 20), ('A20047', $1::date + 6, 4, 40), ('A20047', $1::date + 7, 100, 1000),
		('B82001', $1::date + 1, 50, 500)`, today)

	n := jobs.NewNotifier(f.db, jobs.NotifierConfig{Location: london, StaleAfter: 36 * time.Hour, LowCapacityDays: 7}, logging.Discard())
	first, err := n.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jobs.NotifyReport{Overdue: 1, SyncFailed: 1, SyncStale: 1, CapacityLow: 1}, first); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	second, err := n.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jobs.NotifyReport{}, second); diff != "" {
		t.Errorf("second run (-want +got):\n%s", diff)
	}
	want := []note{
		{"A20047", "capacity.low", "capacity.low:A20047:" + today, true},
		{"B82001", "sync.failed", "sync.failed:B82001:7", true},
		{"A20047", "sync.stale", "sync.stale:A20047:" + today, true},
		{"A20047", "task.overdue", "task.overdue:" + overdue.String(), true},
	}
	if diff := cmp.Diff(want, f.notes(t)); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
	if c := f.count(t, `SELECT count(*) FROM tasks WHERE overdue_notified_at IS NOT NULL`); c != 1 {
		t.Errorf("tasks stamped overdue_notified_at = %d, want 1", c)
	}
	// Notifications carry codes and counts, never patient data.
	if c := f.count(t, `SELECT count(*) FROM notifications WHERE data::text LIKE '%9434765919%'`); c != 0 {
		t.Errorf("%d notifications carry an NHS number", c)
	}
}

// A new day is a new low-capacity and stale notification; a new failed run
// is a new sync.failed.
func TestNotifierNewDayNewNotification(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	f.exec(t, `INSERT INTO practice_sync_state (ods_code, last_success_at) VALUES ('A20047', now() - interval '48 hours')`)
	now := time.Now()
	n := jobs.NewNotifier(f.db, jobs.NotifierConfig{Location: time.UTC, StaleAfter: 36 * time.Hour, LowCapacityDays: 7,
		Now: func() time.Time { return now }}, logging.Discard())
	for i, want := range []jobs.NotifyReport{{SyncStale: 1, CapacityLow: 1}, {}} {
		if got, err := n.RunOnce(context.Background()); err != nil || got != want {
			t.Fatalf("run %d = %+v, %v; want %+v", i, got, err, want)
		}
	}
	now = now.Add(24 * time.Hour)
	if got, err := n.RunOnce(context.Background()); err != nil || got != (jobs.NotifyReport{SyncStale: 1, CapacityLow: 1}) {
		t.Fatalf("next day = %+v, %v", got, err)
	}
}

// Workers call SyncFailures and LowCapacity from every handler that ends a
// run, so possibly at once: a Notifier built by NewNotifier is read-only
// (the earlier struct-literal Notifier filled in its defaults on each call,
// a data race that -race reports here).
func TestNotifierConcurrentCalls(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	n := jobs.NewNotifier(f.db, jobs.NotifierConfig{}, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for range 8 {
		wg.Add(3)
		go func() { defer wg.Done(); _, err := n.SyncFailures(context.Background()); errs <- err }()
		go func() { defer wg.Done(); _, err := n.LowCapacity(context.Background()); errs <- err }()
		go func() { defer wg.Done(); _, err := n.Overdue(context.Background()); errs <- err }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A and B have a threshold and no capacity, but have never synced: no low-capacity notification.
	if c := f.count(t, `SELECT count(*) FROM notifications`); c != 0 {
		t.Fatalf("notifications = %d, want 0", c)
	}
}
