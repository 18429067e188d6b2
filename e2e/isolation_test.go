package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/sim"
)

// Issue 11's isolation proofs, with real processes: a practice whose
// webhook never answers (or answers 500 to everything) must not slow the
// others' deliveries, and never holds more deliveries in flight than its
// cap.

const (
	isoRate     = 240              // tasks per second offered
	isoDuration = 10 * time.Second // per phase
	isoCap      = 8                // GPFED_ENDPOINT_MAX_IN_FLIGHT (the default)
	// isoWebhookTimeout is the stack's GPFED_WEBHOOK_TIMEOUT.
	isoWebhookTimeout = 3 * time.Second
	// isoSlack absorbs scheduling noise on a shared 2-core CI machine: a
	// phase passes at 2x the baseline or within this of it.
	isoSlack = 25 * time.Millisecond
)

func TestIsolationHungReceiver(t *testing.T) {
	isolationRun(t, sim.WebhookFault{Timeout: true}, "never answers", nil)
}

func TestIsolationFailingReceiver(t *testing.T) {
	isolationRun(t, sim.WebhookFault{Status: http.StatusInternalServerError}, "answers 500", func(ts *testStack, bad string) {
		var failing, opened int
		err := ts.DB.QueryRow(context.Background(), `SELECT
			(SELECT count(*) FROM notifications WHERE audience = 'admin' AND kind = 'endpoint.failing' AND subject_ods = $1),
			(SELECT count(*) FROM endpoint_health WHERE ods_code = $1 AND state = 'open')`, bad).Scan(&failing, &opened)
		if err != nil {
			t.Fatal(err)
		}
		if failing != 1 || opened != 1 {
			t.Errorf("admins told %d times that %s is failing (want once); circuit open: %v", failing, bad, opened == 1)
		}
		t.Logf("%s: %d POSTs in all while it answered 500", bad, ts.Fed.WebhookAttempts(bad))
	})
}

// isolationRun measures the healthy practices' POST-to-receipt latency at
// a fixed offered rate with every practice healthy, then with a third of
// the tasks addressed to one practice whose webhook misbehaves as fault
// says (after which check, if given, looks at the stack), then healthy
// again, and compares the faulted phase with the slower of the two healthy
// ones: the baseline is the machine's own spread, measured twice, so that
// a noisy moment on a shared CI machine is not taken for a leak.
func isolationRun(t *testing.T, fault sim.WebhookFault, what string, check func(ts *testStack, bad string)) {
	ts := newTestStack(t, stackOpts{practices: 8, env: []string{"GPFED_WEBHOOK_TIMEOUT=" + isoWebhookTimeout.String()}})
	startAll(t, ts)
	bad, healthy := ts.ODS()[0], ts.ODS()[1:]
	offer(t, ts, healthy, "", 0, 2*time.Second) // warm-up: connections, caches
	before := offer(t, ts, healthy, "", 0, isoDuration)
	ts.Fed.SetWebhookFault(bad, fault)
	faulted := offer(t, ts, healthy, bad, 3, isoDuration)
	// gpfed gives up on a request after GPFED_WEBHOOK_TIMEOUT (3s, counted
	// from before the receiver sees it): a request counts until then at
	// most, less a margin for the receiver seeing it late (see
	// sim.Federation.WebhookPeakWithin).
	peak := ts.Fed.WebhookPeakWithin(bad, isoWebhookTimeout-100*time.Millisecond)
	if check != nil {
		check(ts, bad)
	}
	settle(t, ts, bad)
	after := offer(t, ts, healthy, "", 0, isoDuration)
	for _, p := range []int{50, 99} {
		b1, b2, f := pctl(before, p), pctl(after, p), pctl(faulted, p)
		b := max(b1, b2)
		t.Logf("healthy practices, p%d: %s and %s alone, %s beside one that %s (%.2fx the slower)", p, b1, b2, f, what,
			float64(f)/float64(b))
		if f > 2*b && f > b+isoSlack {
			t.Errorf("p%d rose from %s to %s beside a practice that %s: want within 2x", p, b, f, what)
		}
	}
	if peak > isoCap {
		t.Errorf("the practice that %s held %d deliveries at once; its cap is %d", what, peak, isoCap)
	} else {
		t.Logf("the practice that %s held at most %d deliveries at once (cap %d)", what, peak, isoCap)
	}
}

// settle takes the misbehaving practice out of the federation, which fails
// its backlog at once (its senders are told), and waits until nothing is
// left to deliver, so that the second healthy phase measures the healthy
// practices alone and not the backlog's notifications.
func settle(t *testing.T, ts *testStack, bad string) {
	t.Helper()
	ctx := context.Background()
	if out, err := ts.Run(ctx, "practices", "deactivate", "--yes", bad); err != nil {
		t.Fatalf("deactivate %s: %v\n%s", bad, err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var left int
		if err := ts.DB.QueryRow(ctx, `SELECT count(*) FROM delivery_queue`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries still queued 60 s after %s left", left, bad)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// offer posts isoRate tasks a second for d between the healthy practices;
// with every > 0, every such task goes to bad instead. It returns the
// POST-to-receipt latencies of the tasks to healthy practices.
func offer(t *testing.T, ts *testStack, healthy []string, bad string, every int, d time.Duration) []time.Duration {
	t.Helper()
	ctx := context.Background()
	n := int(isoRate * d.Seconds())
	interval := time.Second / isoRate
	start := time.Now().Add(20 * time.Millisecond)
	type sent struct {
		to, id string
		at     time.Time
	}
	var mu sync.Mutex
	var out []sent
	var wg sync.WaitGroup
	phase := fmt.Sprintf("%d", time.Now().UnixNano())
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		from := healthy[i%len(healthy)]
		to := healthy[(i+1+i/len(healthy))%len(healthy)]
		if to == from {
			to = healthy[(i+1)%len(healthy)]
		}
		if every > 0 && i%every == 0 {
			to = bad
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := ts.API.PostTask(ctx, ts.Keys[from], "iso-"+phase+"-"+fmt.Sprint(i),
				NewTask{RecipientODS: to, PatientNHSNumber: "9434765919", Type: "information", Priority: "routine",
					Subject: "isolation check", Body: "end-to-end isolation measurement"})
			if err != nil || resp.Status != http.StatusAccepted {
				t.Errorf("post: %v %d %s", err, resp.Status, resp.Body)
				return
			}
			mu.Lock()
			out = append(out, sent{to: to, id: resp.ID, at: due})
			mu.Unlock()
		}()
	}
	wg.Wait()
	var lat []time.Duration
	deadline := time.Now().Add(60 * time.Second)
	waiting := slices.DeleteFunc(out, func(s sent) bool { return s.to == bad })
	for len(waiting) > 0 {
		seen := receipts(ts, healthy)
		waiting = slices.DeleteFunc(waiting, func(s sent) bool {
			at, ok := seen[s.id]
			if ok {
				lat = append(lat, at.Sub(s.at))
			}
			return ok
		})
		if len(waiting) > 0 && time.Now().After(deadline) {
			t.Fatalf("%d tasks to healthy practices not received within 60 s", len(waiting))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return lat
}

// receipts maps each task id the practices' receivers accepted to when.
func receipts(ts *testStack, practices []string) map[string]time.Time {
	out := map[string]time.Time{}
	for _, ods := range practices {
		for _, d := range ts.Fed.Received(ods) {
			if d.Event == "task" {
				out[d.Key] = d.At
			}
		}
	}
	return out
}

func pctl(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*p+99)/100-1)]
}
