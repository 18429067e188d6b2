package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gpfed/gpfed/internal/sim"
)

// benchIsolation repeats the open-loop run at rate with one practice's
// webhook hanging (it never answers; gpfed's webhook timeout ends each
// attempt) and every third task addressed to it, the rest between the
// other practices; it reports the healthy practices' latency against the
// same rate with nobody hanging, measured just before, and how many
// deliveries the hung receiver held at once.
func benchIsolation(ctx context.Context, e *env, p params, rate int) error {
	ods := e.stack.ODS()
	hung, healthy := ods[0], ods[1:]
	pairs := everyPair(healthy)
	r := func(i int) (string, string) {
		from, to := pairs(i)
		if i%3 == 0 {
			to = hung
		}
		return from, to
	}
	notHung := func(to string) bool { return to != hung }
	fmt.Printf("\n[4] isolation at %d tasks/s for %s: the same traffic between the healthy practices, then with %s hanging and a third of the tasks addressed to it (load %s)\n",
		rate, p.duration, hung, loadAvg())
	fmt.Printf("  without the hung receiver (every third task to %s, which answers):\n", hung)
	b50, b99, err := openLoop(ctx, e, p, rate, 7_000_000, r, notHung)
	if err != nil {
		return err
	}
	e.stack.Fed.SetWebhookFault(hung, sim.WebhookFault{Timeout: true})
	defer e.stack.Fed.SetWebhookFault(hung, sim.WebhookFault{})
	fmt.Printf("  with %s never answering:\n", hung)
	f50, f99, err := openLoop(ctx, e, p, rate, 8_000_000, r, notHung)
	if err != nil {
		return err
	}
	fmt.Printf("    healthy practices' p50 %s -> %s (%.2fx), p99 %s -> %s (%.2fx) (target within 2x)\n",
		b50.Round(100*time.Microsecond), f50.Round(100*time.Microsecond), ratio(f50, b50),
		b99.Round(100*time.Microsecond), f99.Round(100*time.Microsecond), ratio(f99, b99))
	fmt.Printf("    the hung receiver held at most %d deliveries at once (cap: GPFED_ENDPOINT_MAX_IN_FLIGHT), %d POSTs in all\n",
		e.stack.Fed.WebhookPeakInFlight(hung), e.stack.Fed.WebhookAttempts(hung))
	return nil
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
