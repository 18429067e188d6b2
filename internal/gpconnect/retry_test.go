package gpconnect

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	var infos []CallInfo
	var mu sync.Mutex
	c, p, rec := setup(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		switch n {
		case 1:
			writeFHIR(w, 503, nil)
		case 2:
			writeFHIR(w, 502, []byte("<html>bad gateway</html>"))
		default:
			writeFHIR(w, 200, fixture(t, "slot-search-response.json"))
		}
	}, func(cfg *Config) {
		cfg.Observer = func(ci CallInfo) { mu.Lock(); infos = append(infos, ci); mu.Unlock() }
	})
	res, err := c.SearchFreeSlots(t.Context(), p, ukDate(2016, 8, 15), ukDate(2016, 8, 16))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Slots) != 2 || res.Calls != 3 || rec.count() != 3 {
		t.Errorf("slots = %d, calls = %d, requests = %d", len(res.Slots), res.Calls, rec.count())
	}
	mu.Lock()
	defer mu.Unlock()
	var statuses []int
	for i, ci := range infos {
		statuses = append(statuses, ci.Status)
		if ci.Attempt != i+1 || ci.TraceID != res.TraceIDs[i] || ci.ODS != "A20047" || (ci.Err == nil) != (ci.Status == 200) {
			t.Errorf("call info %d = %+v", i, ci)
		}
	}
	if diff := cmp.Diff([]int{503, 502, 200}, statuses); diff != "" {
		t.Errorf("observed statuses (-want +got):\n%s", diff)
	}
	if res.TraceIDs[0] == res.TraceIDs[1] {
		t.Error("retry reused the Ssp-TraceID")
	}
}

func TestRetriesExhausted(t *testing.T) {
	t.Parallel()
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeFHIR(w, 500, []byte(`{"resourceType":"OperationOutcome","issue":[{"details":{"coding":[{"code":"INTERNAL_SERVER_ERROR"}]},"diagnostics":"boom"}]}`))
	}, func(cfg *Config) { cfg.MaxAttempts = 3 })
	res, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 1), ukDate(2026, 5, 2))
	gerr := asError(t, err)
	if rec.count() != 3 || gerr.Attempts != 3 || !gerr.Retryable || gerr.SpineCode != "INTERNAL_SERVER_ERROR" || gerr.Diagnostics != "boom" {
		t.Errorf("requests = %d, error = %+v", rec.count(), gerr)
	}
	if res == nil || res.Calls != 3 || res.Slots != nil {
		t.Errorf("result on error = %+v", res)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	var first time.Time
	var gap atomic.Int64
	c, p, _ := setup(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			writeFHIR(w, 429, nil)
			return
		}
		gap.Store(int64(time.Since(first)))
		writeFHIR(w, 200, []byte(emptyBundle))
	}, func(cfg *Config) { cfg.BackoffMax = time.Second }) // jitter alone would wait <= 1ms
	if _, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 1), ukDate(2026, 5, 2)); err != nil {
		t.Fatal(err)
	}
	if d := time.Duration(gap.Load()); d < 950*time.Millisecond {
		t.Errorf("retried after %s, want >= 1s (Retry-After)", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c := &Client{cfg: Config{Now: func() time.Time { return now }}}
	for in, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Fri, 01 May 2026 12:00:30 GMT": 30 * time.Second,
		"Fri, 01 May 2026 11:00:00 GMT": 0,
	} {
		if got := c.parseRetryAfter(in); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
	c.cfg.BackoffMax = time.Second
	if got := c.backoff(1, time.Hour); got != 3*time.Second {
		t.Errorf("Retry-After cap = %s, want 3*BackoffMax", got)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	t.Parallel()
	c := &Client{cfg: Config{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}}
	for attempt, ceiling := range map[int]time.Duration{1: 100 * time.Millisecond, 3: 400 * time.Millisecond, 5: time.Second, 80: time.Second} {
		for range 200 {
			if d := c.backoff(attempt, 0); d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %s, want within [0, %s]", attempt, d, ceiling)
			}
		}
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers in time
	}, func(cfg *Config) { cfg.RequestTimeout = 50 * time.Millisecond; cfg.MaxAttempts = 2 })
	_, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 1), ukDate(2026, 5, 2))
	gerr := asError(t, err)
	if gerr.Status != 0 || gerr.SpineCode != CodeTimeout || gerr.Attempts != 2 || !gerr.Retryable || rec.count() != 2 {
		t.Errorf("requests = %d, error = %+v", rec.count(), gerr)
	}
}

func TestNetworkError(t *testing.T) {
	t.Parallel()
	c, p, _ := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		panic(http.ErrAbortHandler) // drop the connection without a response
	}, func(cfg *Config) { cfg.MaxAttempts = 2 })
	_, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 1), ukDate(2026, 5, 2))
	if gerr := asError(t, err); gerr.SpineCode != CodeNetwork || gerr.Attempts != 2 || gerr.Status != 0 {
		t.Errorf("error = %+v", gerr)
	}
}

func TestCancelledDuringBackoff(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		cancel()
		writeFHIR(w, 503, nil)
	}, func(cfg *Config) { cfg.BackoffBase, cfg.BackoffMax = time.Minute, time.Minute })
	start := time.Now()
	_, err := c.SearchFreeSlots(ctx, p, ukDate(2026, 5, 1), ukDate(2026, 5, 2))
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second || rec.count() != 1 {
		t.Errorf("error = %v after %s, %d requests", err, time.Since(start), rec.count())
	}
}

func TestCallerDeadlineIsTimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}, nil)
	_, err := c.SearchFreeSlots(ctx, p, ukDate(2026, 5, 1), ukDate(2026, 5, 2))
	if gerr := asError(t, err); gerr.SpineCode != CodeTimeout || !errors.Is(err, context.DeadlineExceeded) || rec.count() != 1 {
		t.Errorf("requests = %d, error = %+v", rec.count(), gerr)
	}
}
