package worker

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/queue"
)

func TestCapacityRetryDelay(t *testing.T) {
	t.Parallel()
	for n, want := range map[int][2]time.Duration{0: {time.Second, 2 * time.Second}, 1: {2 * time.Second, 4 * time.Second},
		4: {15 * time.Second, 30 * time.Second}, 20: {15 * time.Second, 30 * time.Second}} {
		for range 50 {
			if d := retryDelay(n, nil, asynq.NewTask(queue.TypeCapacityFetch, nil)); d < want[0] || d > want[1] {
				t.Fatalf("retry %d: %s, want %s..%s", n, d, want[0], want[1])
			}
		}
	}
	for range 50 {
		if d := retryDelay(0, nil, asynq.NewTask(queue.TypeBookingSettle, nil)); d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("booking settle retry 0: %s, want its own schedule (0.5s..1s)", d)
		}
	}
}
