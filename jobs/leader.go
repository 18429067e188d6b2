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
	db        *store.DB
	name      string
	holder    string
	ttl       time.Duration
	log       *slog.Logger
	onElected func(ctx context.Context)

	leader atomic.Bool
}

// NewLeader returns a campaigner for lease name held as holder (ttl
// default 30s); onElected, when set, runs in the leader goroutine each time
// this replica becomes leader.
func NewLeader(db *store.DB, name, holder string, ttl time.Duration, onElected func(ctx context.Context), log *slog.Logger) *Leader {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Leader{db: db, name: name, holder: holder, ttl: ttl, onElected: onElected, log: log}
}

// IsLeader reports whether this replica held the lease at its last renewal.
func (l *Leader) IsLeader() bool { return l.leader.Load() }

// Run campaigns until ctx ends, then releases the lease.
func (l *Leader) Run(ctx context.Context) {
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	for {
		l.campaign(ctx)
		select {
		case <-ctx.Done():
			if l.leader.Swap(false) {
				_ = l.db.ReleaseLease(context.WithoutCancel(ctx), l.name, l.holder)
				l.log.Info("leadership released", "lease", l.name)
			}
			return
		case <-tick.C:
		}
	}
}

func (l *Leader) campaign(ctx context.Context) {
	ok, err := l.db.TryAcquireLease(ctx, l.name, l.holder, l.ttl)
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("lease renewal failed; stepping down", "lease", l.name, "error", err)
		}
		ok = false
	}
	was := l.leader.Swap(ok)
	switch {
	case ok && !was:
		l.log.Info("elected leader", "lease", l.name, "holder", l.holder)
		if l.onElected != nil {
			l.onElected(ctx)
		}
	case !ok && was:
		l.log.Warn("lost leadership", "lease", l.name)
	}
}
