// Package ctxwait waits under a context.
package ctxwait

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends (its error). When ctx's deadline falls
// before d has passed it gives up at once with context.DeadlineExceeded,
// rather than sleeping only to fail.
func Sleep(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
