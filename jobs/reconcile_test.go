package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/logging"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/jobs"
	"github.com/gpfed/gpfed/queue"
)

func (f *deliveryFixture) reconciler() *jobs.DeliveryReconciler {
	// A clock a minute ahead puts everything just created past the grace period.
	return &jobs.DeliveryReconciler{DB: f.db, Inspector: f.insp, Redis: f.opt, Log: logging.Discard(),
		Now: func() time.Time { return time.Now().Add(time.Minute) }}
}

type ref struct {
	queue, id string
}

func (f *deliveryFixture) entries(t *testing.T, refs []ref) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	for _, r := range refs {
		_, err := f.insp.GetTaskInfo(r.queue, r.id)
		got[r.id] = err == nil
	}
	return got
}

func TestReconcileRequeuesAfterRedisFlush(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	var refs []ref
	for range 3 {
		refs = append(refs, ref{queue.QueueTasks, queue.TaskDeliverID(f.task(t, "1 day", ""))})
	}
	nid := f.notification(t, store.NotifyCapacityLow, "")
	refs = append(refs, ref{queue.QueueNotifications, queue.NotificationDeliverID(nid)})
	done := f.task(t, "1 day", "state = 'delivered'") // finished: never requeued
	f.relayAll(t)

	all := func(v bool) map[string]bool {
		m := map[string]bool{}
		for _, r := range refs {
			m[r.id] = v
		}
		return m
	}
	if diff := cmp.Diff(all(true), f.entries(t, refs)); diff != "" {
		t.Fatalf("queued before flush (-want +got):\n%s", diff)
	}
	rec := f.reconciler()
	rep, err := rec.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jobs.ReconcileReport{Checked: 4}, rep); diff != "" {
		t.Fatalf("report with live entries (-want +got):\n%s", diff)
	}

	// The relay's long-lived client keeps enqueueing after the flush, as in
	// production: its entries work, but the Inspector cannot see their queue.
	if err := f.redis.FlushDB(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	early := f.task(t, "1 day", "")
	f.relayAll(t)
	refs = append(refs, ref{queue.QueueTasks, queue.TaskDeliverID(early)})
	if diff := cmp.Diff(all(false), f.entries(t, refs)); diff != "" {
		t.Fatalf("visible after flush (-want +got):\n%s", diff)
	}
	rep, err = rec.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The four lost entries are enqueued again; the one the relay put back
	// is found to be there (TaskID conflict) and left alone.
	if diff := cmp.Diff(jobs.ReconcileReport{Checked: 5, Requeued: 4}, rep); diff != "" {
		t.Fatalf("report after flush (-want +got):\n%s", diff)
	}
	if rep, _ := rec.RunOnce(context.Background()); rep != (jobs.ReconcileReport{Checked: 5}) {
		t.Fatalf("second run: %+v, want 5 checked, none requeued", rep)
	}
	if n := f.count(t, `SELECT count(*) FROM outbox`); n != 0 {
		t.Errorf("outbox rows = %d, want 0 (enqueued directly)", n)
	}
	if diff := cmp.Diff(all(true), f.entries(t, refs)); diff != "" {
		t.Fatalf("queued after reconcile (-want +got):\n%s", diff)
	}
	if _, err := f.insp.GetTaskInfo(queue.QueueTasks, queue.TaskDeliverID(done)); err == nil {
		t.Error("a delivered task was requeued")
	}
}

// An open task whose queue entry finished without finishing the task (a
// handler that returned early) gets its stale entry replaced.
func TestReconcileReplacesFinishedEntry(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	id := f.task(t, "1 day", "")
	f.relayAll(t)
	srv := asynq.NewServer(f.opt, asynq.Config{Concurrency: 1, Queues: queue.Queues, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 20 * time.Millisecond})
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypeTaskDeliver, func(context.Context, *asynq.Task) error { return nil })
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	qid := queue.TaskDeliverID(id)
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := f.insp.GetTaskInfo(queue.QueueTasks, qid)
		if err == nil && info.State == asynq.TaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry not completed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Shutdown()
	rep, err := f.reconciler().RunOnce(context.Background())
	if err != nil || rep.Requeued != 1 {
		t.Fatalf("RunOnce = %+v, %v; want 1 requeued", rep, err)
	}
	info, err := f.insp.GetTaskInfo(queue.QueueTasks, qid)
	if err != nil || info.State != asynq.TaskStatePending {
		t.Fatalf("entry after reconcile: %+v, %v; want pending", info, err)
	}
}

func TestReconcileExpires(t *testing.T) {
	t.Parallel()
	f := newDeliveryFixture(t)
	expired := f.task(t, "-1 second", "attempts = 7, last_error = 'webhook answered 503'")
	live := f.task(t, "1 day", "")
	nid := f.notification(t, store.NotifySyncStale, "")
	f.exec(t, `UPDATE notifications SET expires_at = now() - interval '1 second' WHERE id = $1`, nid)
	f.relayAll(t)

	rep, err := f.reconciler().RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jobs.ReconcileReport{Checked: 1, ExpiredTasks: 1, ExpiredNotifications: 1}, rep); diff != "" {
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
	got := []row{get(taskQ, expired), get(taskQ, live),
		get(`SELECT state, COALESCE(last_error, '') FROM notifications WHERE id = $1`, nid)}
	want := []row{
		{"failed", "not delivered within its maximum age (last error: webhook answered 503)"},
		{"accepted", ""},
		{"failed", "not delivered within its maximum age"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	// The sender is told, through the outbox like any notification.
	if n := f.count(t, `SELECT count(*) FROM notifications n JOIN outbox o ON o.ref_id = n.id
		WHERE n.task_id = $1 AND n.kind = 'task.failed' AND n.recipient_ods = 'A20047' AND n.data->>'reason' = 'expired'`, expired); n != 1 {
		t.Errorf("task.failed notifications with outbox rows = %d, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM task_events WHERE task_id = $1 AND actor = 'system' AND to_state = 'failed'`, expired); n != 1 {
		t.Errorf("audit events = %d, want 1", n)
	}
	// Running again changes nothing.
	if rep, err := f.reconciler().RunOnce(context.Background()); err != nil || rep.ExpiredTasks+rep.ExpiredNotifications != 0 {
		t.Errorf("second run = %+v, %v", rep, err)
	}
}
