package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// leaseKeeper renews this process's practice fetch leases while it holds
// any: one UPDATE for all of them every ttl/3, whatever their number. When
// the process dies the renewals stop and its leases lapse after ttl, so
// another worker (or run) can take the practices over.
type leaseKeeper struct {
	db       *store.DB
	instance string
	ttl      time.Duration
	log      *slog.Logger

	mu   sync.Mutex
	held int
	stop chan struct{}
}

// hold counts one more held lease, starting the renewals with the first.
func (k *leaseKeeper) hold() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.held++
	if k.held == 1 {
		k.stop = make(chan struct{})
		go k.renew(k.stop)
	}
}

// drop counts a lease released, stopping the renewals with the last.
func (k *leaseKeeper) drop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.held--
	if k.held == 0 {
		close(k.stop)
	}
}

func (k *leaseKeeper) renew(stop <-chan struct{}) {
	t := time.NewTicker(k.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), k.ttl/3)
		if _, err := k.db.RenewFetchLeases(ctx, k.instance, k.ttl); err != nil {
			// A save whose lease lapsed meanwhile aborts (ErrLeaseLost) and is retried.
			k.log.Warn("renew fetch leases", "instance", k.instance, "error", err)
		}
		cancel()
	}
}
