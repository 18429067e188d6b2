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

// claimsInFlight is how many claims one process keeps going at once. The
// claim statement itself is short and serialised by the claim lock, but
// under load most of a claim's time is the round trip and scheduling, which
// overlap. Each claim walks every endpoint with queued work, so fewer
// claims in flight cost Postgres less (2 made 0.20 claims per task against
// 0.26-0.31 in closed loops, 5% fewer buffer accesses per task, throughput
// and p99 the same within the noise); 2 was tried and set back while CI's
// isolation test failed, a failure later found with another change, so 2
// is still worth trying with repeated CI runs.
const claimsInFlight = 4

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
