package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/sim"
)

// Issue 3's crash proofs: 2,000 tasks through the API while the worker is
// SIGKILLed, Redis is flushed, or Postgres crashes half-way; every accepted
// task must end delivered exactly once per Idempotency-Key at its receiver
// and exactly once in the audit trail.

const (
	crashTasks       = 2000
	crashPosters     = 16
	crashDeliverWait = 150 * time.Second
)

func TestCrashWorkerKilled(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, stackOpts{})
	// Slow receivers keep many deliveries in flight when the kill lands:
	// POSTed, perhaps answered, not yet committed.
	for _, ods := range ts.ODS() {
		ts.Fed.SetWebhookFault(ods, sim.WebhookFault{Delay: 40 * time.Millisecond})
	}
	_, worker, _ := startAll(t, ts)
	runCrash(t, ts, func(t *testing.T, s *submitter) {
		if err := worker.Kill(); err != nil {
			t.Error(err)
		}
		t.Logf("worker SIGKILLed at %d accepted", s.n.Load())
		time.Sleep(time.Second)
		if err := worker.Start(); err != nil {
			t.Error(err)
		}
	})
}

func TestCrashRedisFlushed(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, stackOpts{})
	startAll(t, ts)
	var flushed time.Time
	runCrash(t, ts, func(t *testing.T, s *submitter) {
		// Park some deliveries waiting to retry first (fewer failures than
		// open the practice's circuit). Their schedule is in Postgres; the
		// flush takes every wake queued in Redis with it, so only the
		// workers' sweepers can set them off again.
		ods := ts.ODS()[0]
		before := ts.Fed.WebhookAttempts(ods)
		ts.Fed.SetWebhookFault(ods, sim.WebhookFault{Status: http.StatusServiceUnavailable, Times: 4})
		if err := waitFor(20*time.Second, func() error {
			if n := ts.Fed.WebhookAttempts(ods) - before; n < 4 {
				return fmt.Errorf("%d of 4 failing attempts", n)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		if err := ts.Redis.FlushAll(context.Background()); err != nil {
			t.Error(err)
		}
		flushed = time.Now()
		t.Logf("redis FLUSHALL at %d accepted, with deliveries to %s waiting to retry", s.n.Load(), ods)
	})
	if n := sweeperWakesAfter(t, ts, flushed); n == 0 {
		t.Error("no sweeper woke a worker after the flush")
	} else {
		t.Logf("sweepers woke workers %d times after the flush", n)
	}
}

// sweeperWakesAfter counts the workers' "due work found" log lines after at.
func sweeperWakesAfter(t *testing.T, ts *testStack, at time.Time) int {
	n := 0
	for _, line := range logLines(t, ts.Stack)["worker.log"] {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "due work found; waking a worker" && rec.Time.After(at) {
			n++
		}
	}
	return n
}

func TestCrashPostgresRestarted(t *testing.T) {
	t.Parallel()
	ts := newTestStack(t, stackOpts{privatePostgres: true})
	startAll(t, ts)
	s := runCrash(t, ts, func(t *testing.T, s *submitter) {
		if err := ts.Postgres.Crash(); err != nil {
			t.Error(err)
		}
		at := s.n.Load()
		down := time.Now()
		// Stay down until the API has refused something, and a little more.
		err := waitFor(30*time.Second, func() error {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.statuses[http.StatusServiceUnavailable] == 0 || time.Since(down) < 2*time.Second {
				return fmt.Errorf("no 503 yet")
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		if err := ts.Postgres.Start(); err != nil {
			t.Error(err)
		}
		t.Logf("postgres crashed at %d accepted, restarted after %s", at, time.Since(down).Round(time.Millisecond))
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.problems[http.StatusServiceUnavailable] == 0 {
		t.Error("the API never answered 503 application/problem+json while Postgres was down")
	}
}

func startAll(t *testing.T, ts *testStack) (serve, worker, scheduler *Proc) {
	t.Helper()
	serve, worker, scheduler, err := ts.StartAll()
	if err != nil {
		t.Fatal(err)
	}
	return serve, worker, scheduler
}

// runCrash submits crashTasks tasks, runs fault once half are accepted,
// waits for every accepted task to be delivered and checks the receivers
// and the audit trail.
func runCrash(t *testing.T, ts *testStack, fault func(*testing.T, *submitter)) *submitter {
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Second)
	defer cancel()
	s := newSubmitter(ts)
	start := time.Now()
	faulted := s.atHalf(ctx, crashTasks, func() { fault(t, s) })
	s.run(ctx, crashTasks, crashPosters)
	<-faulted
	t.Logf("submission took %s", time.Since(start).Round(time.Millisecond))
	s.summary(t)
	accepted := s.acceptedIDs()
	if len(accepted) != crashTasks {
		t.Errorf("accepted %d of %d tasks", len(accepted), crashTasks)
	}
	waitDelivered(ctx, t, ts, len(accepted), crashDeliverWait)
	t.Logf("all delivered %s after the start", time.Since(start).Round(time.Millisecond))
	checkProcesses(t, ts)
	checkExactlyOnce(ctx, t, ts, accepted)
	return s
}

// waitDelivered polls Postgres until n tasks are delivered and none open.
func waitDelivered(ctx context.Context, t *testing.T, ts *testStack, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	lastLog := time.Now()
	for {
		counts, err := stateCounts(ctx, ts.DB)
		if err == nil && counts["delivered"] == n && counts["accepted"] == 0 {
			var pending int
			err = ts.DB.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE state = 'pending'`).Scan(&pending)
			counts["notifications pending"] = pending
			if err == nil && pending == 0 {
				return
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("after %s: tasks by state %v (err %v), want %d delivered", timeout, counts, err, n)
		}
		if time.Since(lastLog) > 15*time.Second {
			t.Logf("waiting: tasks by state %v", counts)
			lastLog = time.Now()
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func checkProcesses(t *testing.T, ts *testStack) {
	t.Helper()
	for _, p := range ts.procs {
		if ok, err := p.Running(); !ok {
			t.Errorf("%s is not running: %v", p.Name, err)
		}
	}
}

// checkExactlyOnce compares what the receivers got, what Postgres holds and
// the audit trail with the accepted set.
func checkExactlyOnce(ctx context.Context, t *testing.T, ts *testStack, accepted map[string]bool) {
	t.Helper()
	received, raw := receivedTasks(t, ts)
	dups := raw - len(received)
	t.Logf("receivers: %d distinct Idempotency-Keys, %d verified task POSTs answered 2xx (%d raw duplicates)",
		len(received), raw, dups)
	missing, extra := setDiff(accepted, keys(received))
	report(t, "accepted but never received", missing)
	report(t, "received but never accepted", extra)

	stored, err := column(ctx, ts, `SELECT id::text FROM tasks`)
	if err != nil {
		t.Fatal(err)
	}
	missing, extra = setDiff(accepted, stored)
	report(t, "accepted but not in Postgres", missing)
	report(t, "in Postgres but never accepted", extra)

	events, err := countBy(ctx, ts.DB, `SELECT task_id::text, count(*) FROM task_events WHERE to_state = 'delivered' GROUP BY task_id`)
	if err != nil {
		t.Fatal(err)
	}
	var notOnce []string
	for id := range accepted {
		if events[id] != 1 {
			notOnce = append(notOnce, fmt.Sprintf("%s: %d delivered events", id, events[id]))
		}
	}
	report(t, "tasks without exactly one 'delivered' audit event", notOnce)
	checkNotifications(ctx, t, ts, accepted)
}

// checkNotifications: each delivered task told its sender exactly once
// (one task.delivered notification, received under its own key).
func checkNotifications(ctx context.Context, t *testing.T, ts *testStack, accepted map[string]bool) {
	t.Helper()
	perTask, err := countBy(ctx, ts.DB, `SELECT task_id::text, count(*) FROM notifications
		WHERE kind = 'task.delivered' AND state = 'delivered' GROUP BY task_id`)
	if err != nil {
		t.Fatal(err)
	}
	var notOnce []string
	for id := range accepted {
		if perTask[id] != 1 {
			notOnce = append(notOnce, fmt.Sprintf("%s: %d", id, perTask[id]))
		}
	}
	report(t, "tasks without exactly one delivered task.delivered notification", notOnce)
	stored, err := column(ctx, ts, `SELECT id::text FROM notifications WHERE kind = 'task.delivered'`)
	if err != nil {
		t.Fatal(err)
	}
	received := map[string]bool{}
	raw := 0
	for _, ods := range ts.ODS() {
		for _, d := range ts.Fed.Received(ods) {
			if d.Event == "notification" {
				received[d.Key] = true
				raw++
			}
		}
	}
	t.Logf("notifications: %d stored, %d distinct keys received, %d raw POSTs answered 2xx", len(stored), len(received), raw)
	missing, extra := setDiff(stored, received)
	report(t, "notifications never received", missing)
	report(t, "notifications received but not stored", extra)
}

// receivedTasks maps each task Idempotency-Key seen at any receiver to its
// verified delivery count; raw is the sum. Each body must name its key.
func receivedTasks(t *testing.T, ts *testStack) (map[string]int, int) {
	out := map[string]int{}
	raw := 0
	for _, ods := range ts.ODS() {
		for _, d := range ts.Fed.Received(ods) {
			if d.Event != "task" {
				continue
			}
			var body struct {
				ID           string `json:"id"`
				RecipientODS string `json:"recipient_ods"`
			}
			if err := json.Unmarshal(d.Body, &body); err != nil || body.ID != d.Key || body.RecipientODS != ods {
				t.Errorf("delivery %s at %s: body names task %q for %q (err %v)", d.Key, ods, body.ID, body.RecipientODS, err)
			}
			out[d.Key]++
			raw++
		}
	}
	return out, raw
}

func keys(m map[string]int) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func setDiff(want, got map[string]bool) (missing, extra []string) {
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	return missing, extra
}

func report(t *testing.T, what string, items []string) {
	t.Helper()
	if len(items) == 0 {
		return
	}
	sort.Strings(items)
	t.Errorf("%d %s, e.g. %v", len(items), what, items[:min(len(items), 5)])
}

func column(ctx context.Context, ts *testStack, q string) (map[string]bool, error) {
	rows, err := ts.DB.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out[s] = true
	}
	return out, rows.Err()
}
