package gpconnect

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestWindowsFetchedConcurrently: a 28-day search's two windows are in flight at the same time
// (the default per-practice limit is 2), so a slow provider costs one latency, not two.
func TestWindowsFetchedConcurrently(t *testing.T) {
	t.Parallel()
	var inFlight, peak atomic.Int32
	both := make(chan struct{})
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for peak.Load() < n && !peak.CompareAndSwap(peak.Load(), n) {
		}
		if n == 2 {
			close(both)
		}
		select { // hold each request until both are in flight (or give up)
		case <-both:
		case <-time.After(3 * time.Second):
		}
		writeFHIR(w, 200, []byte(emptyBundle))
	}, nil)
	res, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 6, 1), ukDate(2026, 6, 29))
	if err != nil {
		t.Fatal(err)
	}
	if peak.Load() != 2 || rec.count() != 2 || res.Calls != 2 {
		t.Errorf("peak in flight %d, requests %d, calls %d; want both windows at once", peak.Load(), rec.count(), res.Calls)
	}
}

// TestFailedWindowCancelsTheOther: a window that fails for good fails the search with its own
// error, and the other window's request is abandoned rather than waited for.
func TestFailedWindowCancelsTheOther(t *testing.T) {
	t.Parallel()
	c, p, _ := setup(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.RawQuery, "start=ge2026-06-01") {
			writeFHIR(w, 403, []byte(`{"resourceType":"OperationOutcome","issue":[{"details":{"coding":[{"code":"ACCESS_DENIED"}]}}]}`))
			return
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
			writeFHIR(w, 200, []byte(emptyBundle))
		}
	}, nil)
	start := time.Now()
	res, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 6, 1), ukDate(2026, 6, 29))
	gerr := asError(t, err)
	if gerr.Status != 403 || gerr.SpineCode != "ACCESS_DENIED" || res.Slots != nil {
		t.Errorf("error %+v, slots %v", gerr, res.Slots)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the search waited %s for the cancelled window", d)
	}
}
