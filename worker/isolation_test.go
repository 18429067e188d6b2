package worker_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/worker"
)

// A receiver that never answers holds at most its cap of deliveries; the
// others' tasks go straight through meanwhile.
func TestHungEndpointHoldsOnlyItsCap(t *testing.T) {
	t.Parallel()
	e := setup(t, options{cfg: worker.DeliveryConfig{EndpointCap: 2, WebhookTimeout: 3 * time.Second}})
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	e.rc.set(func(rc *receiver) { rc.hold = hold })
	for range 30 {
		e.send(t, recipient, time.Hour)
	}
	waitFor(t, 5*time.Second, "the hung receiver to hold its cap", func() bool {
		var n int
		e.rc.set(func(rc *receiver) { n = rc.inFlight })
		return n == 2
	})
	start := time.Now()
	var ids []uuid.UUID
	for range 20 {
		ids = append(ids, e.send(t, other, time.Hour))
	}
	for _, id := range ids {
		waitState(t, e.db, id, "delivered")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("20 tasks to a healthy practice took %s behind a hung one", took)
	}
	var peak int
	e.rc.set(func(rc *receiver) { peak = rc.peak })
	if peak > 2 {
		t.Errorf("the hung endpoint had %d deliveries in flight, cap 2", peak)
	}
	st, err := e.db.EndpointStatuses(context.Background())
	if err != nil || st[recipient].InFlight != 2 || st[recipient].Queued != 28 {
		t.Errorf("endpoint status %+v %v; want 2 in flight, 28 waiting", st[recipient], err)
	}
}

// A receiver answering 500 to everything opens its circuit after the
// configured failures; the admins and the practice are told once;
// deliveries wait without attempts while probes back off; when the
// receiver recovers one probe closes the circuit and everything flows.
func TestCircuitBreakerAgainstFailingReceiver(t *testing.T) {
	t.Parallel()
	policy := store.BreakerPolicy{FailuresToOpen: 5, ProbeMin: 300 * time.Millisecond, ProbeMax: 600 * time.Millisecond, NotifyEvery: time.Hour}
	e := setup(t, options{cfg: worker.DeliveryConfig{EndpointCap: 2, Breaker: policy}})
	e.rc.set(func(rc *receiver) { rc.always = http.StatusInternalServerError })
	var tasks []uuid.UUID
	for range 50 {
		tasks = append(tasks, e.send(t, recipient, time.Hour))
	}
	ctx := context.Background()
	waitFor(t, 5*time.Second, "the circuit to open", func() bool {
		st, err := e.db.EndpointStatuses(ctx)
		return err == nil && st[recipient].State == store.CircuitOpen
	})
	time.Sleep(2 * time.Second) // open: only probes, at 300 ms then 600 ms apart
	reqs, _ := e.rc.snapshot()
	// At most: the 5 failures that opened it, the one other in flight
	// (cap 2), and probes at 0.3, 0.9 and 1.5 s (a 4th may just make it).
	t.Logf("%d requests for 50 tasks until 2 s after the circuit opened", len(reqs))
	if n := len(reqs); n > 5+1+4 {
		t.Errorf("%d requests against a failing receiver; want the 5 that opened the circuit and a few probes", n)
	}
	if n := testdb.Count(t, e.db, `SELECT count(*) FROM notifications WHERE kind = 'endpoint.failing' AND subject_ods = $1`, recipient); n != 2 {
		t.Errorf("endpoint.failing notifications = %d, want 2 (admins, practice)", n)
	}
	// A probe may be between its request and its record when we look, and
	// another may start: read the attempts first, then the requests. An
	// attempt is recorded only after its request, so more attempts than
	// requests means a deferral was counted; the two must meet once the
	// last probe is recorded.
	var attempts, made int
	waitFor(t, 3*time.Second, "every request to be recorded as an attempt", func() bool {
		attempts = testdb.Count(t, e.db, `SELECT COALESCE(sum(attempts), 0) FROM tasks WHERE recipient_ods = $1`, recipient)
		reqs, _ := e.rc.snapshot()
		made = len(reqs)
		if attempts > made {
			t.Fatalf("attempts recorded %d, requests made %d: deferred deliveries must not count", attempts, made)
		}
		return attempts == made
	})
	e.rc.set(func(rc *receiver) { rc.always = 0 })
	for _, id := range tasks {
		waitState(t, e.db, id, "delivered")
	}
	st, _ := e.db.EndpointStatuses(ctx)
	if st[recipient].State != store.CircuitClosed {
		t.Errorf("circuit after recovery: %+v", st[recipient])
	}
	if n := testdb.Count(t, e.db, `SELECT count(*) FROM notifications WHERE kind = 'endpoint.recovered' AND subject_ods = $1`, recipient); n != 2 {
		t.Errorf("endpoint.recovered notifications = %d, want 2", n)
	}
}

// An urgent task overtakes a backlog of routine ones to the same practice.
func TestUrgentOvertakesRoutineBacklog(t *testing.T) {
	t.Parallel()
	e := setup(t, options{cfg: worker.DeliveryConfig{EndpointCap: 1}})
	hold := make(chan struct{})
	e.rc.set(func(rc *receiver) { rc.hold = hold })
	for range 40 {
		task := testdb.TaskSpec(sender, recipient)
		e.accept(t, task)
	}
	waitFor(t, 5*time.Second, "the first routine delivery to be in flight", func() bool {
		var n int
		e.rc.set(func(rc *receiver) { n = rc.inFlight })
		return n == 1
	})
	urgent := testdb.TaskSpec(sender, recipient)
	urgent.Priority = "urgent"
	id := e.accept(t, urgent)
	e.rc.set(func(rc *receiver) { rc.hold = nil })
	close(hold)
	waitState(t, e.db, id, "delivered")
	reqs, _ := e.rc.snapshot()
	pos := -1
	for i, r := range reqs {
		if r.Key == id.String() {
			pos = i
		}
	}
	// The one in flight when it arrived goes first; then the urgent one.
	if pos < 0 || pos > 1 {
		t.Fatalf("the urgent task was request %d of %d; want the second", pos+1, len(reqs))
	}
}

// Retries go out when they are due, not in bursts: each gap between
// attempts is at least the delay scheduled for it and not much more.
func TestRetryDelaysHonoured(t *testing.T) {
	t.Parallel()
	retry := worker.RetryPolicy{Base: 400 * time.Millisecond, Max: 2 * time.Second}
	e := setup(t, options{cfg: worker.DeliveryConfig{Retry: retry}, script: []int{503, 503, 503, 503}})
	id := e.send(t, recipient, time.Hour)
	var due []time.Time
	done := make(chan struct{})
	go func() { // read each scheduled retry time as it is recorded
		defer close(done)
		var last time.Time
		for len(due) < 4 {
			var at *time.Time
			_ = e.db.Pool.QueryRow(context.Background(), `SELECT q.due_at FROM delivery_queue q JOIN tasks t ON t.id = q.ref_id
				WHERE q.ref_id = $1 AND q.claim_token IS NULL AND t.attempts > 0`, id).Scan(&at)
			if at != nil && !at.Equal(last) {
				due = append(due, *at)
				last = *at
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitState(t, e.db, id, "delivered")
	<-done
	reqs, _ := e.rc.snapshot()
	if len(reqs) != 5 {
		t.Fatalf("requests %d, want 5", len(reqs))
	}
	for i := 1; i < len(reqs); i++ {
		late := reqs[i].At.Sub(due[i-1])
		t.Logf("retry %d: scheduled %s after the previous attempt, went out %s after its due time",
			i, due[i-1].Sub(reqs[i-1].At).Round(time.Millisecond), late.Round(time.Millisecond))
		if late < -20*time.Millisecond || late > 150*time.Millisecond {
			t.Errorf("retry %d went out %s after its due time (gap %s)", i, late, reqs[i].At.Sub(reqs[i-1].At))
		}
	}
}

// A practice that left before its delivery is not posted to: the claim
// finds it inactive and the task fails with recipient_left.
func TestNoDeliveryAfterLeaving(t *testing.T) {
	t.Parallel()
	e := setup(t, options{script: []int{503}, cfg: worker.DeliveryConfig{Retry: worker.RetryPolicy{Base: 2 * time.Second, Max: 2 * time.Second}}})
	id := e.send(t, recipient, time.Hour)
	waitFor(t, 5*time.Second, "the first attempt", func() bool { reqs, _ := e.rc.snapshot(); return len(reqs) == 1 })
	if _, err := e.db.DeactivatePractices(context.Background(), []string{recipient}); err != nil {
		t.Fatal(err)
	}
	r := waitState(t, e.db, id, "failed")
	if reqs, _ := e.rc.snapshot(); len(reqs) != 1 {
		t.Errorf("posted %d times; nothing may go after the practice left", len(reqs))
	}
	if r.LastError != "the recipient practice left the federation before delivery" {
		t.Errorf("task %+v", r)
	}
	if n := testdb.Count(t, e.db, `SELECT count(*) FROM notifications WHERE task_id = $1 AND kind = 'task.failed'
		AND data->>'reason' = 'recipient_left'`, id); n != 1 {
		t.Errorf("sender told %d times, want once", n)
	}
}
