package gpconnect

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// drive runs callers that each loop acquire, wait latency, release until stop closes.
func drive(a *adaptive, callers int, latency time.Duration, congested bool, stop <-chan struct{}) *sync.WaitGroup {
	return driveLocal(a, callers, latency, congested, nil, 0, stop)
}

// driveLocal is drive where each call, once answered, also waits for one of the local slots for
// work (as an answer waits for room in the byte budget and then is read) before it ends.
func driveLocal(a *adaptive, callers int, latency time.Duration, congested bool, local chan struct{}, work time.Duration, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := a.acquire(context.Background()); err != nil {
					return
				}
				time.Sleep(latency)
				if local != nil {
					local <- struct{}{}
					time.Sleep(work)
					<-local
				}
				a.release(latency, congested)
			}
		})
	}
	return &wg
}

// TestAdaptiveLimitSettlesWhenLocalSideLimits: when answers queue for the local side (4 slots of
// 10 ms: 400 calls/s) rather than for providers (50 ms), the limit settles near twice rate x
// latency (40) instead of climbing to the ceiling while callers queue.
func TestAdaptiveLimitSettlesWhenLocalSideLimits(t *testing.T) {
	t.Parallel()
	a := newAdaptive(16, 512, nil)
	stop := make(chan struct{})
	wg := driveLocal(a, 400, 50*time.Millisecond, false, make(chan struct{}, 4), 10*time.Millisecond, stop)
	time.Sleep(5 * time.Second)
	got := a.Limit()
	close(stop)
	wg.Wait()
	if got < 16 || got > 100 {
		t.Errorf("limit %d, want near 40 (16..100)", got)
	}
}

// TestAdaptiveLimitFollowsLatency: with slow providers and many callers queueing, the limit grows
// (doubling per window) far past its start of 64; with few callers it shrinks towards twice what
// they keep in flight instead of holding capacity nobody uses.
func TestAdaptiveLimitFollowsLatency(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		callers  int
		latency  time.Duration
		min, max int
	}{{400, 100 * time.Millisecond, 256, 512}, {10, 20 * time.Millisecond, 16, 40}} {
		a := newAdaptive(16, 512, nil)
		stop := make(chan struct{})
		wg := drive(a, tc.callers, tc.latency, false, stop)
		deadline := time.Now().Add(5 * time.Second)
		for (a.Limit() < tc.min || a.Limit() > tc.max) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		got := a.Limit()
		close(stop)
		wg.Wait()
		if got < tc.min || got > tc.max {
			t.Errorf("%d callers, latency %s: limit %d, want %d..%d", tc.callers, tc.latency, got, tc.min, tc.max)
		}
	}
}

// TestAdaptiveLimitBacksOffWhenCongested: answers saying the providers or the SSP are overloaded
// bring the limit down to its floor.
func TestAdaptiveLimitBacksOffWhenCongested(t *testing.T) {
	t.Parallel()
	var changes atomic.Int32
	a := newAdaptive(8, 512, func(int) { changes.Add(1) })
	stop := make(chan struct{})
	wg := drive(a, 200, 10*time.Millisecond, true, stop)
	deadline := time.Now().Add(6 * time.Second)
	for a.Limit() > 8 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if a.Limit() != 8 || changes.Load() < 2 {
		t.Errorf("limit %d after congestion (changes %d), want the floor 8", a.Limit(), changes.Load())
	}
}
