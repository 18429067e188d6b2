package ctxwait_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/ctxwait"
)

func TestSleep(t *testing.T) {
	t.Parallel()
	start := time.Now()
	if err := ctxwait.Sleep(context.Background(), 20*time.Millisecond); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("plain sleep: %v after %s", err, time.Since(start))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := ctxwait.Sleep(ctx, time.Second); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 20*time.Millisecond {
		t.Fatalf("deadline before the end: %v after %s, want DeadlineExceeded at once", err, time.Since(start))
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	if err := ctxwait.Sleep(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
