package worker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	dto "github.com/prometheus/client_model/go"

	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/webhook"
	"github.com/gpfed/gpfed/queue"
	"github.com/gpfed/gpfed/worker"
)

// notificationEntries lists the asynq entries the notifications queue
// holds or finished (completed entries are retained), in any state.
func notificationEntries(t *testing.T, e *env) []string {
	t.Helper()
	var ids []string
	list := []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		e.insp.ListPendingTasks, e.insp.ListActiveTasks, e.insp.ListScheduledTasks,
		e.insp.ListRetryTasks, e.insp.ListCompletedTasks, e.insp.ListArchivedTasks,
	}
	for _, l := range list {
		tasks, err := l(queue.QueueNotifications)
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Fatal(err)
		}
		for _, ti := range tasks {
			ids = append(ids, ti.ID)
		}
	}
	return ids
}

// A delivered task's sender notification is delivered by the fast path:
// once, signed, with no trip through the queue.
func TestFastPathDeliversSenderNotification(t *testing.T) {
	// Not parallel with the other fast-path test: both read the dispatch counters.
	before := dispatchCounts()
	e := setupWith(t, worker.NewFastPath(4))
	if err := e.db.SetWebhook(context.Background(), sender, e.rc.srv.URL+"/hooks/"+sender, secret, 0); err != nil {
		t.Fatal(err)
	}
	id := newTask(t, e.db, recipient, time.Hour)
	waitState(t, e.db, id, "delivered")
	notes := waitNotes(t, e.db, id, 1)
	if n := notes[0]; n.Kind != "task.delivered" || n.State != "delivered" || n.Channel != "webhook" || n.Recipient != sender {
		t.Fatalf("notification = %+v, want task.delivered delivered by webhook to %s", n, sender)
	}
	reqs, ok := e.rc.snapshot()
	if len(reqs) != 2 || reqs[0].Event != webhook.EventTask || reqs[1].Event != webhook.EventNotification || !reqs[1].Verified {
		t.Fatalf("receiver saw %+v, want the task then one verified notification", reqs)
	}
	if ok[reqs[1].Key] != 1 {
		t.Fatalf("notification %s answered 2xx %d times, want 1", reqs[1].Key, ok[reqs[1].Key])
	}
	if got := notificationEntries(t, e); len(got) != 0 {
		t.Fatalf("notifications queue holds %v, want nothing (fast path)", got)
	}
	if got := dispatchCounts().minus(before); got != [3]float64{1, 0, 0} {
		t.Fatalf("dispatch counters (fast_path, queue, fast_path_to_queue) moved by %v, want [1 0 0]", got)
	}
	var outbox int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox`).Scan(&outbox); err != nil {
		t.Fatal(err)
	}
	if outbox != 0 {
		t.Fatalf("%d outbox rows left, want 0 (the delivery consumes its own)", outbox)
	}
}

// A fast-path attempt the receiver asks to retry goes to the queue, which
// delivers it: two POSTs, one 2xx, one queue entry.
func TestFastPathRetryGoesToQueue(t *testing.T) {
	before := dispatchCounts()
	e := setupWith(t, worker.NewFastPath(4), 200, 503)
	if err := e.db.SetWebhook(context.Background(), sender, e.rc.srv.URL+"/hooks/"+sender, secret, 0); err != nil {
		t.Fatal(err)
	}
	id := newTask(t, e.db, recipient, time.Hour)
	notes := waitNotes(t, e.db, id, 1)
	if n := notes[0]; n.State != "delivered" || n.Channel != "webhook" {
		t.Fatalf("notification = %+v, want delivered by webhook", n)
	}
	reqs, ok := e.rc.snapshot()
	var statuses []int
	var key string
	for _, r := range reqs {
		if r.Event == webhook.EventNotification {
			statuses, key = append(statuses, r.Status), r.Key
		}
	}
	if len(statuses) != 2 || statuses[0] != 503 || statuses[1] != 200 || ok[key] != 1 {
		t.Fatalf("notification POSTs answered %v (2xx %d times), want [503 200] and one 2xx", statuses, ok[key])
	}
	got := notificationEntries(t, e)
	if len(got) != 1 || got[0] != queue.NotificationDeliverID(uuid.MustParse(key)) {
		t.Fatalf("notifications queue holds %v, want exactly the retried notification", got)
	}
	var attempts int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT attempts FROM notifications WHERE id = $1`, key).Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Fatalf("notification attempts = %d, want 2", attempts)
	}
	if got := dispatchCounts().minus(before); got != [3]float64{1, 0, 1} {
		t.Fatalf("dispatch counters (fast_path, queue, fast_path_to_queue) moved by %v, want [1 0 1]", got)
	}
}

type counts [3]float64

// dispatchCounts reads gpfed_notification_dispatch_total by path.
func dispatchCounts() counts {
	var c counts
	for i, path := range []string{"fast_path", "queue", "fast_path_to_queue"} {
		var m dto.Metric
		if err := metrics.NotificationDispatch.WithLabelValues(path).Write(&m); err != nil {
			panic(err)
		}
		c[i] = m.GetCounter().GetValue()
	}
	return c
}

func (c counts) minus(d counts) [3]float64 {
	return [3]float64{c[0] - d[0], c[1] - d[1], c[2] - d[2]}
}

// Go runs at most limit functions at once and nothing after Close; Close
// cancels what is still running once its timeout passes.
func TestFastPathBoundsAndClose(t *testing.T) {
	t.Parallel()
	fp := worker.NewFastPath(2)
	release := make(chan struct{})
	var cancelled atomic.Int32
	block := func(ctx context.Context) {
		select {
		case <-release:
		case <-ctx.Done():
			cancelled.Add(1)
		}
	}
	for i := range 2 {
		if !fp.Go(block) {
			t.Fatalf("Go refused function %d of 2 within the limit", i+1)
		}
	}
	if fp.Go(block) {
		t.Fatal("Go ran a third function with limit 2")
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for !fp.Go(func(context.Context) {}) { // room again once one returns
		if time.Now().After(deadline) {
			t.Fatal("no room after the running functions returned")
		}
		time.Sleep(time.Millisecond)
	}

	fp2 := worker.NewFastPath(1)
	if !fp2.Go(func(ctx context.Context) { <-ctx.Done(); cancelled.Add(1) }) {
		t.Fatal("Go refused on an empty fast path")
	}
	start := time.Now()
	fp2.Close(50 * time.Millisecond)
	if cancelled.Load() != 1 || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("Close returned after %s with %d cancelled, want the hung function cancelled after 50ms", time.Since(start), cancelled.Load())
	}
	if fp2.Go(func(context.Context) {}) {
		t.Fatal("Go ran a function after Close")
	}
	fp.Close(time.Second)
	var nilFP *worker.FastPath
	if nilFP.Go(func(context.Context) {}) {
		t.Fatal("a nil fast path ran a function")
	}
}
