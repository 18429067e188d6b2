package worker

import (
	"context"
	"sync"
	"time"
)

// FastPath runs the first delivery attempt of the notifications that task
// deliveries create (the sender's task.delivered and task.failed) in this
// process, right after the delivery commits, instead of sending each
// through Redis and back to a worker slot. That is about a third of the
// queue traffic of a delivered task.
//
// It changes nothing about durability: the notification and its outbox row
// are committed before the fast path starts, the attempt locks the row
// exactly as the queue handler does, and an attempt that does not end the
// notification (retry, database trouble, shutdown) goes to the queue. If
// the process dies mid-attempt, the outbox row, due after
// store.DirectEnqueueGrace, makes the relay queue it.
//
// At most limit attempts run at once; beyond that, and after Close has
// begun, Go refuses and the caller queues the notification instead.
type FastPath struct {
	sem    chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// NewFastPath returns a fast path running at most limit attempts at once.
func NewFastPath(limit int) *FastPath {
	ctx, cancel := context.WithCancel(context.Background())
	return &FastPath{sem: make(chan struct{}, max(limit, 1)), ctx: ctx, cancel: cancel}
}

// Go runs fn in its own goroutine if there is room, and reports whether it
// did. fn's context is cancelled when Close gives up waiting.
func (f *FastPath) Go(fn func(ctx context.Context)) bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	select {
	case f.sem <- struct{}{}:
	default:
		return false
	}
	f.wg.Add(1)
	go func() {
		defer func() { <-f.sem; f.wg.Done() }()
		fn(f.ctx)
	}()
	return true
}

// Close refuses new attempts, waits up to timeout for running ones, then
// cancels them and waits for them to return (a cancelled attempt rolls
// back; its outbox row brings the notification back through the relay).
func (f *FastPath) Close(timeout time.Duration) {
	if f == nil {
		return
	}
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		f.cancel()
		<-done
	}
	f.cancel()
}
