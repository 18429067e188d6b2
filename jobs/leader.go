// Package jobs holds gpfed's cron-scheduled jobs (capacity sync fan-out,
// reconciliation) and the Postgres lease that lets exactly one scheduler
// replica run them while others wait as hot standbys.
package jobs

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

// Leader holds a named Postgres lease, renewing it every TTL/3. Jobs ask
// IsLeader before running; a replica that is not leader skips silently.
type Leader struct {
	DB     *store.DB
	Name   string
	Holder string
	TTL    time.Duration
	Log    *slog.Logger
	// OnElected runs (in the leader goroutine) each time this replica becomes leader.
	OnElected func(ctx context.Context)

	leader atomic.Bool
}

// IsLeader reports whether this replica held the lease at its last renewal.
func (l *Leader) IsLeader() bool { return l.leader.Load() }

// Run campaigns until ctx ends, then releases the lease.
func (l *Leader) Run(ctx context.Context) {
	if l.TTL <= 0 {
		l.TTL = 30 * time.Second
	}
	tick := time.NewTicker(l.TTL / 3)
	defer tick.Stop()
	for {
		l.campaign(ctx)
		select {
		case <-ctx.Done():
			if l.leader.Swap(false) {
				_ = l.DB.ReleaseLease(context.WithoutCancel(ctx), l.Name, l.Holder)
				l.Log.Info("leadership released", "lease", l.Name)
			}
			return
		case <-tick.C:
		}
	}
}

func (l *Leader) campaign(ctx context.Context) {
	ok, err := l.DB.TryAcquireLease(ctx, l.Name, l.Holder, l.TTL)
	if err != nil {
		if ctx.Err() == nil {
			l.Log.Warn("lease renewal failed; stepping down", "lease", l.Name, "error", err)
		}
		ok = false
	}
	was := l.leader.Swap(ok)
	switch {
	case ok && !was:
		l.Log.Info("elected leader", "lease", l.Name, "holder", l.Holder)
		if l.OnElected != nil {
			l.OnElected(ctx)
		}
	case !ok && was:
		l.Log.Warn("lost leadership", "lease", l.Name)
	}
}
