package main

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// overheadTarget is issue 8's target for gpfed's own share of a booking's latency.
const overheadTarget = 50 * time.Millisecond

// report prints the outcome counts and latency percentiles, and fails when
// not every booking was made.
func report(res []result, floor []time.Duration) error {
	codes := map[int]int{}
	var total, provider, overhead []time.Duration
	var errs int
	for _, r := range res {
		if r.err != nil {
			errs++
			continue
		}
		codes[r.status]++
		if r.status != http.StatusCreated {
			continue
		}
		total = append(total, r.total)
		provider = append(provider, r.provider)
		overhead = append(overhead, max(r.total-r.provider, 0))
	}
	fmt.Printf("answers: %v, transport errors %d\n", codes, errs)
	if len(total) == 0 {
		return fmt.Errorf("no booking was made")
	}
	fmt.Printf("%-34s %8s %8s %8s %8s\n", "per booked (201) request", "p50", "p90", "p99", "max")
	row := func(name string, ds []time.Duration) {
		fmt.Printf("%-34s %8s %8s %8s %8s\n", name, pct(ds, 50), pct(ds, 90), pct(ds, 99), pct(ds, 100))
	}
	row("latency seen by the caller", total)
	row("provider's own time (find + book)", provider)
	row("gpfed overhead (difference)", overhead)
	row("floor: GET /healthz meanwhile", floor)
	p99 := quantile(overhead, 99)
	verdict := "met"
	if p99 >= overheadTarget {
		verdict = "NOT met"
	}
	fmt.Printf("\noverhead p99 %s: target < %s %s; %.2fx the provider's own p99 (%s)\n", ms(p99), ms(overheadTarget),
		verdict, float64(p99)/float64(max(quantile(provider, 99), 1)), ms(quantile(provider, 99)))
	fmt.Printf("overhead p99 is %.1fx the floor's p99 (%s): the machine's own noise at this load\n",
		float64(p99)/float64(max(quantile(floor, 99), 1)), ms(quantile(floor, 99)))
	if codes[http.StatusCreated] != len(res) {
		return fmt.Errorf("%d of %d bookings were not booked (201)", len(res)-codes[http.StatusCreated], len(res))
	}
	return nil
}

func quantile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func pct(ds []time.Duration, p int) string { return ms(quantile(ds, p)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
