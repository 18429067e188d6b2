package worker

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/ctxwait"
	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/store"
)

// claimsInFlight is how many claims one process keeps going at once: one.
// Claims are serialised by the claim lock anyway, and under the CPU
// saturation of a busy worker the lock's holder waits for a core, so every
// claim queued behind it waits longer still: sampling pg_locks every 5 ms
// during a bench/tasks run at 80% of its closed loop found the lock held
// 95% of the time with 1.5 claims waiting (4 in flight), though a whole
// claim takes 1.3-1.5 ms on a quiet machine (BenchmarkClaim), the lock held
// for its first round trip only. One claim at a time takes everything due
// that has room (22-24 deliveries a claim instead of 7-8; 0.09 claims a
// task instead of 0.26), and a claim that fills its batch pokes the next at
// once. Six alternating closed-loop pairs (scripts/ab-bench.sh, session 8):
// 4 in flight 878/1,215/963/1,048/1,129/1,150 tasks/s, 1 in flight
// 1,185/1,030/1,060/1,320/1,441/1,443, the worker's CPU a task 0.43-0.49
// ms against 0.35-0.47 in the last four pairs.
const claimsInFlight = 1

// claimLoop claims and launches deliveries until ctx ends, then waits for
// those in flight (interrupting them after DrainTimeout). Room is reserved
// before a claim (MaxInFlight minus what is in flight or being claimed),
// so concurrent claims never take more than the process may run.
func (e *Engine) claimLoop(ctx context.Context) {
	// Deliveries run under work, not ctx: a shutdown lets them finish.
	work, interrupt := context.WithCancel(context.WithoutCancel(ctx))
	defer interrupt()
	var running, claiming sync.WaitGroup
	var mu sync.Mutex
	reserved, outstanding, failures := 0, 0, 0
	claim := func(limit int) {
		defer claiming.Done()
		started := time.Now()
		items, err := e.db.Claim(ctx, store.ClaimOptions{Limit: limit, Cap: e.cfg.EndpointCap, Lease: e.cfg.Lease,
			Finished: e.finishedItems()})
		metrics.DeliveryClaimSeconds.Observe(time.Since(started).Seconds())
		metrics.DeliveryClaims.Inc()
		metrics.DeliveryClaimed.Add(float64(len(items)))
		if len(items) > 0 {
			e.launch(work, &running, items)
		}
		mu.Lock()
		reserved -= limit
		outstanding--
		if err != nil {
			failures++
		} else {
			failures = 0
		}
		n := failures
		mu.Unlock()
		switch {
		case err != nil:
			if ctx.Err() == nil && (n == 1 || n%50 == 0) {
				e.log.Warn("claim failed; retrying", "error", err, "failures", n)
			}
			_ = ctxwait.Sleep(ctx, min(time.Duration(n)*100*time.Millisecond, 2*time.Second))
			e.Poke()
		case len(items) == limit:
			e.Poke() // there is probably more
		}
	}
	for {
		select {
		case <-ctx.Done():
			claiming.Wait()
			e.drain(&running, interrupt)
			return
		case <-e.poke:
		}
		// One claim per poke: an idle engine asks once; a busy one is poked
		// by every finishing delivery and every full claim, and so keeps up
		// to claimsInFlight claims going.
		mu.Lock()
		if room := e.cfg.MaxInFlight - int(e.inFlight.Load()) - reserved; outstanding < claimsInFlight && room > 0 {
			limit := min(room, e.cfg.BatchSize)
			reserved += limit
			outstanding++
			claiming.Add(1)
			go claim(limit)
		}
		mu.Unlock()
	}
}

// launch delivers a claimed batch: one goroutine per item, and a lease
// keeper that renews the claim until every item's outcome is recorded.
func (e *Engine) launch(work context.Context, running *sync.WaitGroup, items []store.ClaimedItem) {
	e.inFlight.Add(int64(len(items)))
	lctx, release := e.holdLease(work, items)
	var batch sync.WaitGroup
	for _, it := range items {
		batch.Add(1)
		running.Add(1)
		go func() {
			defer running.Done()
			defer batch.Done()
			e.deliver(lctx, it)
			e.inFlight.Add(-1)
			e.Poke()
		}()
	}
	go func() { batch.Wait(); release() }()
}

// drain waits for deliveries in flight, interrupting them after
// DrainTimeout (an interrupted one is released, not counted).
func (e *Engine) drain(running *sync.WaitGroup, interrupt context.CancelFunc) {
	done := make(chan struct{})
	go func() { running.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(e.cfg.DrainTimeout):
		e.log.Warn("interrupting deliveries still in flight at shutdown", "in_flight", e.inFlight.Load())
		interrupt()
		<-done
	}
}

// holdLease renews the claim's lease every Lease/3 until release is
// called, and returns a context that ends leaseMargin before the lease it
// last secured runs out: POSTs stop when the lease can no longer be
// vouched for, so none is in flight once another worker may claim the item.
func (e *Engine) holdLease(ctx context.Context, items []store.ClaimedItem) (context.Context, func()) {
	token, ids := items[0].Token, make([]uuid.UUID, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	lctx, cancel := context.WithCancel(ctx)
	expire := time.AfterFunc(e.cfg.Lease-leaseMargin, cancel)
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(e.cfg.Lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-lctx.Done():
				return
			case <-tick.C:
			}
			sent := time.Now()
			n, err := e.db.ExtendClaims(context.WithoutCancel(lctx), token, ids, e.cfg.Lease)
			switch {
			case err != nil:
				e.log.Warn("could not renew a delivery lease", "error", err)
			case n > 0:
				expire.Reset(time.Until(sent.Add(e.cfg.Lease - leaseMargin)))
			}
		}
	}()
	return lctx, func() { close(done); expire.Stop(); cancel() }
}
