// Package service gives gpfed's background loops (the delivery completer
// and sweeper, the intake, the key watcher, the leader lease, the queue
// server, metrics listeners) one start/stop idiom: each is a function that
// runs until its context ends and returns once it has cleaned up, and a
// Group starts them in dependency order and stops them in the reverse
// order, one at a time. The order a command starts its services in is
// therefore the one place its shutdown order is written down.
package service

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Func runs a service until ctx ends; it returns after its own clean-up.
type Func func(ctx context.Context)

// Group runs services. The zero value is ready to use; Log may be nil.
type Group struct {
	Log *slog.Logger

	mu      sync.Mutex
	running []*running
}

type running struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs fn in its own goroutine. Its context carries ctx's values but
// not its cancellation: services stop when Stop says so, in order, not all
// at once when a signal cancels ctx.
func (g *Group) Start(ctx context.Context, name string, fn Func) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &running{name: name, cancel: cancel, done: make(chan struct{})}
	g.mu.Lock()
	g.running = append(g.running, r)
	g.mu.Unlock()
	go func() {
		defer close(r.done)
		fn(sctx)
	}()
}

// Stop stops the services, last started first, each finishing before the
// next is told to stop. Calling it again does nothing.
func (g *Group) Stop() {
	g.mu.Lock()
	rs := g.running
	g.running = nil
	g.mu.Unlock()
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i]
		start := time.Now()
		r.cancel()
		<-r.done
		if g.Log != nil {
			g.Log.Debug("service stopped", "component", "service", "service", r.name,
				"took_ms", time.Since(start).Milliseconds())
		}
	}
}

// Wait blocks until ctx ends, then stops the group: the usual tail of a
// long-running command.
func (g *Group) Wait(ctx context.Context) {
	<-ctx.Done()
	g.Stop()
}
