package batch_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/batch"
)

// Concurrent callers share groups: while one group runs, the next gathers.
func TestGroupsConcurrentCalls(t *testing.T) {
	t.Parallel()
	var groups, biggest atomic.Int64
	fn := func(_ context.Context, in []int) ([]int, error) {
		groups.Add(1)
		if n := int64(len(in)); n > biggest.Load() {
			biggest.Store(n)
		}
		time.Sleep(5 * time.Millisecond) // a commit's worth of time
		out := make([]int, len(in))
		for i, v := range in {
			out[i] = v * 2
		}
		return out, nil
	}
	g := batch.New(fn, 16, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx) }()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := g.Do(context.Background(), i)
			if err != nil || got != 2*i {
				t.Errorf("Do(%d) = %d, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	cancel()
	<-done
	if n := groups.Load(); n >= 200 || biggest.Load() < 2 || biggest.Load() > 16 {
		t.Fatalf("%d groups for 200 calls, largest %d; want grouping up to 16", n, biggest.Load())
	}
	if _, err := g.Do(context.Background(), 1); !errors.Is(err, batch.ErrClosed) {
		t.Fatalf("Do after stop: %v, want ErrClosed", err)
	}
}

// Callers arriving a few milliseconds apart make small groups; with a
// linger they share groups, each of which waits about the linger for its
// later members and no longer, however many flushers there are. Bounds are
// taken from the calls' actual spread, so a loaded machine's late sleeps do
// not fail it.
func TestLingerGroupsCallsSpreadInTime(t *testing.T) {
	t.Parallel()
	const calls, apart, linger = 24, 2 * time.Millisecond, 40 * time.Millisecond
	run := func(linger time.Duration) (groups int64, span, worst time.Duration) {
		var n atomic.Int64
		var mu sync.Mutex
		fn := func(_ context.Context, in []time.Time) ([]int, error) {
			n.Add(1)
			mu.Lock()
			for _, at := range in {
				worst = max(worst, time.Since(at))
			}
			mu.Unlock()
			return make([]int, len(in)), nil
		}
		g := batch.New(fn, 16, 4).WithLinger(linger)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); g.Run(ctx) }()
		var wg sync.WaitGroup
		start := time.Now()
		for range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := g.Do(context.Background(), time.Now()); err != nil {
					t.Error(err)
				}
			}()
			time.Sleep(apart)
		}
		span = time.Since(start)
		wg.Wait()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return n.Load(), span, worst
	}
	alone, spanAlone, _ := run(0)
	lingered, span, worst := run(linger)
	t.Logf("%d calls over %s: %d groups without a linger; over %s: %d groups with %s, longest wait %s",
		calls, spanAlone, alone, span, lingered, linger, worst)
	// A group gathers for one linger at most, or until it holds 16.
	if most := int64(span/linger) + 1 + calls/16; lingered > most {
		t.Errorf("%d groups with a linger of %s over %s: want at most %d", lingered, linger, span, most)
	}
	// Without one, groups are small unless the machine starved the flushers
	// (then there is nothing to compare).
	if alone >= calls/4 && lingered >= alone {
		t.Errorf("%d groups with a linger, %d without: the linger gathered nothing", lingered, alone)
	}
	if worst > linger+span/2 {
		t.Errorf("a call waited %s for its group (linger %s)", worst, linger)
	}
}

// A failing group fails each of its calls; a caller that gave up is not run.
func TestGroupErrorsAndAbandonedCalls(t *testing.T) {
	t.Parallel()
	var ran atomic.Int64
	g := batch.New(func(_ context.Context, in []string) ([]string, error) {
		ran.Add(int64(len(in)))
		return nil, errors.New("database down")
	}, 8, 1)
	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	if _, err := g.Do(gone, "abandoned"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	if _, err := g.Do(context.Background(), "x"); err == nil || err.Error() != "database down" {
		t.Fatalf("Do = %v, want the group's error", err)
	}
	if n := ran.Load(); n != 1 {
		t.Fatalf("ran %d items, want 1 (the abandoned call never runs)", n)
	}
}
