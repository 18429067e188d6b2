package service_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/service"
)

// Services stop last-started first, each finishing before the next is
// told, even though the caller's context was cancelled for all at once.
func TestStopOrder(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var log []string
	note := func(s string) { mu.Lock(); log = append(log, s); mu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	var g service.Group
	started := make(chan struct{}, 3)
	for _, name := range []string{"completer", "sweeper", "queue server"} {
		g.Start(ctx, name, func(ctx context.Context) {
			started <- struct{}{}
			<-ctx.Done()
			note("stopping " + name)
			note("stopped " + name)
		})
	}
	for range 3 {
		<-started
	}
	cancel() // a signal: nothing stops until the group says so
	g.Wait(ctx)
	want := []string{"stopping queue server", "stopped queue server", "stopping sweeper", "stopped sweeper",
		"stopping completer", "stopped completer"}
	if diff := cmp.Diff(want, log); diff != "" {
		t.Fatalf("stop order (-want +got):\n%s", diff)
	}
	g.Stop() // again: nothing
}
