package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/jobs"
)

func (f *deliveryFixture) maintenance() *jobs.DeliveryMaintenance {
	return jobs.NewDeliveryMaintenance(f.db, jobs.MaintenanceConfig{}, nil)
}

// Open work past its maximum age fails, its sender is told (through the
// delivery queue like any notification), and a second run changes
// nothing; work a live claim holds is left to that claim.
func TestMaintenanceExpires(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	expired := f.task(t, "-1 second", "attempts = 7, last_error = 'webhook answered 503'")
	live := f.task(t, "1 day", "")
	nid := f.notification(t, store.NotifySyncStale, "")
	f.exec(t, `UPDATE notifications SET expires_at = now() - interval '1 second' WHERE id = $1`, nid)
	claimed := f.task(t, "-1 second", "")
	f.exec(t, `UPDATE delivery_queue SET claim_token = gen_random_uuid(), due_at = now() + interval '1 minute' WHERE ref_id = $1`, claimed)

	rep, err := f.maintenance().RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jobs.MaintenanceReport{ExpiredTasks: 1, ExpiredNotifications: 1}, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	type row struct{ State, LastError string }
	get := func(q string, id uuid.UUID) row {
		var r row
		if err := f.db.Pool.QueryRow(context.Background(), q, id).Scan(&r.State, &r.LastError); err != nil {
			t.Fatal(err)
		}
		return r
	}
	taskQ := `SELECT state, COALESCE(last_error, '') FROM tasks WHERE id = $1`
	got := []row{get(taskQ, expired), get(taskQ, live), get(taskQ, claimed),
		get(`SELECT state, COALESCE(last_error, '') FROM notifications WHERE id = $1`, nid)}
	want := []row{
		{"failed", "not delivered within its maximum age (last error: webhook answered 503)"},
		{"accepted", ""},
		{"accepted", ""},
		{"failed", "not delivered within its maximum age"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	if n := f.count(t, `SELECT count(*) FROM notifications n JOIN delivery_queue q ON q.ref_id = n.id
		WHERE n.task_id = $1 AND n.kind = 'task.failed' AND n.recipient_ods = 'A20047' AND n.data->>'reason' = 'expired'`, expired); n != 1 {
		t.Errorf("queued task.failed notifications = %d, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM task_events WHERE task_id = $1 AND actor = 'system' AND to_state = 'failed'`, expired); n != 1 {
		t.Errorf("audit events = %d, want 1", n)
	}
	if rep, err := f.maintenance().RunOnce(context.Background()); err != nil || rep != (jobs.MaintenanceReport{}) {
		t.Errorf("second run = %+v, %v", rep, err)
	}
}

// An open task or notification without a queue row (a manual change to
// the database, say) gets one back, due at once.
func TestMaintenanceRepairsQueue(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	task := f.task(t, "1 day", "")
	nid := f.notification(t, store.NotifyCapacityLow, "")
	f.exec(t, `DELETE FROM delivery_queue`)
	rep, err := f.maintenance().RunOnce(context.Background())
	if err != nil || rep.Repaired != 2 {
		t.Fatalf("RunOnce = %+v, %v; want 2 repaired", rep, err)
	}
	if n := f.count(t, `SELECT count(*) FROM delivery_queue WHERE ref_id = ANY($1) AND due_at <= now() + interval '1 second'`,
		[]uuid.UUID{task, nid}); n != 2 {
		t.Fatalf("queue rows = %d, want 2", n)
	}
	_ = time.Now
}
