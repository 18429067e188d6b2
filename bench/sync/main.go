// Command sync benchmarks a whole capacity sync the way an operator runs it, and the floor it is
// judged against, in the same run:
//
//   - gpfed's figure: `gpfed sim` serves a simulated federation (N practices, ~460 free slots each
//     over 28 days, lognormal latency around a median) in one process, and `gpfed sync --once`
//     resolves every practice through the simulator's SDS, fetches and stores everything in
//     another, whose wall time, peak RSS and CPU are measured; once per median latency and per
//     concurrency ceiling tried.
//   - the decode+COPY limit: the same provider bytes decoded by gpfed's own parser and COPYed by
//     gpfed's own encoder into a copy of the slots table, from several goroutines with nothing
//     else (no network, queue, leases, history, aggregates): slots per second this machine can
//     store at best.
//
// Run with `make bench-sync`; docs/BENCHMARKS.md records the figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

type params struct {
	practices       int
	latencies       []time.Duration
	ceilings        []int // GPFED_GPC_MAX_CONCURRENT values tried
	perDay          int
	discovery       string // sds | csv
	limitPractices  int
	limitDuration   time.Duration
	limitGoroutines int
	// keyOrders are the orders in which the limit's practice codes are
	// inserted (see limitKey); the first is the reference.
	keyOrders  []string
	bin        string
	env        []string
	syncEnv    []string // the sync process's alone
	privatePG  bool
	pgSettings []string // extra settings for the private cluster
	resync     bool     // sync the region a second time on the same database
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-sync:", err)
		os.Exit(1)
	}
}

func run() error {
	var p params
	var lat, ceil, env, syncEnv string
	flag.IntVar(&p.practices, "practices", 6500, "federation size")
	flag.StringVar(&lat, "latency", "200ms,1s", "median provider latencies to run, comma-separated")
	flag.StringVar(&ceil, "concurrency", "512", "GPFED_GPC_MAX_CONCURRENT ceilings to try, comma-separated (the limit adapts below it)")
	flag.IntVar(&p.perDay, "slots-per-day", 24, "free slots per practice per weekday (~460 per practice over 28 days)")
	flag.StringVar(&p.discovery, "discovery", "sds", "sds: CSV of ODS codes, endpoints from the simulated SDS; csv: endpoints in the CSV")
	flag.IntVar(&p.limitPractices, "limit-practices", 400, "practices whose responses the decode+COPY limit replays")
	flag.DurationVar(&p.limitDuration, "limit-time", 10*time.Second, "how long to measure the decode+COPY limit")
	flag.IntVar(&p.limitGoroutines, "limit-goroutines", 2*runtime.NumCPU(), "goroutines decoding and copying for the limit")
	var orders string
	flag.StringVar(&orders, "limit-order", "ascending,scattered,grouped", "orders of the limit's practice codes, comma-separated, each measured: ascending (the reference: every insert at the primary key's right edge, one practice per transaction), scattered (spread over the key space, as a federation's practices finish) or grouped (ascending, as many practices per transaction as the sync's saver groups)")
	flag.StringVar(&p.bin, "bin", "bin/gpfed", "gpfed binary")
	flag.StringVar(&env, "env", "", "extra KEY=VALUE settings for gpfed, comma-separated (e.g. GPFED_SYNC_MAX_BYTES_IN_FLIGHT=33554432)")
	flag.StringVar(&syncEnv, "sync-env", "", "extra KEY=VALUE settings for the sync process alone, comma-separated (e.g. GOGC=200: -env would set it for the simulator too)")
	flag.BoolVar(&p.resync, "resync", false, "after each sync, sync the same region again on the same database (a night on which nothing changed: snapshots compared, not rewritten)")
	flag.BoolVar(&p.privatePG, "private-postgres", false, "use a throwaway PostgreSQL cluster (fsync on, pg_stat_statements) whose CPU and statements are reported on their own")
	var pgSettings string
	flag.StringVar(&pgSettings, "pg-settings", "", "extra settings for the -private-postgres cluster, comma-separated (e.g. shared_buffers=1GB)")
	flag.Parse()
	if pgSettings != "" {
		p.pgSettings = strings.Split(pgSettings, ",")
	}
	var err error
	if p.latencies, err = parseList(lat, time.ParseDuration); err != nil {
		return fmt.Errorf("-latency: %w", err)
	}
	if p.ceilings, err = parseList(ceil, atoi); err != nil {
		return fmt.Errorf("-concurrency: %w", err)
	}
	if p.discovery != "sds" && p.discovery != "csv" {
		return fmt.Errorf("-discovery must be sds or csv")
	}
	if env != "" {
		p.env = strings.Split(env, ",")
	}
	if syncEnv != "" {
		p.syncEnv = strings.Split(syncEnv, ",")
	}
	for _, o := range strings.Split(orders, ",") {
		if o != "ascending" && o != "scattered" && o != "grouped" {
			return fmt.Errorf("-limit-order: %q is not ascending, scattered or grouped", o)
		}
		p.keyOrders = append(p.keyOrders, o)
	}
	ctx := context.Background()
	if order := os.Getenv(limitChildEnv); order != "" {
		return limitChild(ctx, p, order)
	}
	if p.privatePG {
		stop, err := startPrivatePostgres(p.pgSettings)
		if err != nil {
			return fmt.Errorf("private postgres: %w", err)
		}
		defer stop()
	}
	printMachine(ctx)
	// The reference limit is measured before the syncs as well as after them, and the share is taken
	// of the two's mean: a VM's speed drifts (the limit alone ran at 97,830-154,866 slots/s within
	// an hour on one 2-vCPU VM, its own process's CPU per slot moving as much), and a reference
	// measured only after the syncs carried all of that drift into the share.
	before, err := measureLimitApart(ctx, p, p.keyOrders[0])
	if err != nil {
		return fmt.Errorf("decode+COPY limit: %w", err)
	}
	fmt.Print("\n(before the syncs)")
	before.print()
	var results []result
	for _, l := range p.latencies {
		for _, c := range p.ceilings {
			r, err := benchSync(ctx, p, l, c)
			if err != nil {
				return err
			}
			r.print()
			results = append(results, r)
		}
	}
	var lims []limit
	for _, order := range p.keyOrders {
		lim, err := measureLimitApart(ctx, p, order)
		if err != nil {
			return fmt.Errorf("decode+COPY limit: %w", err)
		}
		lim.print()
		lims = append(lims, lim)
	}
	printSummary(results, before, lims)
	return nil
}

// cpuPerSlot is CPU time per slot in microseconds.
func cpuPerSlot(cpu time.Duration, slots int64) float64 {
	return float64(cpu.Nanoseconds()) / 1e3 / float64(max(slots, 1))
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func atoi(s string) (int, error) {
	var n int
	_, err := fmt.Sscan(s, &n)
	return n, err
}

// printSummary sets each run beside the limit, as the targets read: the reference is the mean of
// the first limit measured before the syncs and after them.
func printSummary(rs []result, before limit, lims []limit) {
	fmt.Println("\nsummary (targets: 6,500 practices x 28 days under 30 s at 200 ms and under 60 s at 1 s; peak RSS under 200 MB; >= 60% of the decode+COPY limit per slot)")
	ref := (before.SlotsPerSec + lims[0].SlotsPerSec) / 2
	fmt.Printf("  decode+COPY limit: %.0f slots/s (%s; the mean of %.0f before the syncs and %.0f after them)\n",
		ref, lims[0].describe(), before.SlotsPerSec, lims[0].SlotsPerSec)
	for _, r := range rs {
		fmt.Printf("  latency %-6s ceiling %-4d  wall %6.1fs  %7.0f slots/s = %5.1f%% of the limit  peak RSS %5.1f MiB (%5.1f MB)  load %s -> %s\n",
			r.latency, r.ceiling, r.wall.Seconds(), r.slotsPerSec(), 100*r.slotsPerSec()/ref,
			r.rssMiB, r.rssMiB*1.048576, r.loadBefore, r.loadAfter)
	}
	// The same comparison by the machine's CPU per slot stored (every process: the sync, the
	// simulator, Postgres and the rest for gpfed; the limit's process and the rest for the limit).
	limCPU := (cpuPerSlot(before.BenchCPU+before.Other, before.Slots) + cpuPerSlot(lims[0].BenchCPU+lims[0].Other, lims[0].Slots)) / 2
	fmt.Printf("  machine CPU per slot: the limit %.1f us (mean of before and after);", limCPU)
	for _, r := range rs {
		c := cpuPerSlot(r.syncCPU+r.simCPU+r.other, int64(r.slots))
		fmt.Printf("  %s %.1f us (the limit's %.1f%%)", r.latency, c, 100*limCPU/c)
	}
	fmt.Println()
	fmt.Printf("  the limit after the syncs alone: gpfed's share of it:")
	for _, r := range rs {
		fmt.Printf("  %s %.1f%%", r.latency, 100*r.slotsPerSec()/lims[0].SlotsPerSec)
	}
	fmt.Println()
	for _, other := range lims[1:] {
		fmt.Printf("  beside it, the limit %s (after the syncs): %.0f slots/s (%.1f%% of the reference measured then); gpfed's share of it:",
			other.describe(), other.SlotsPerSec, 100*other.SlotsPerSec/lims[0].SlotsPerSec)
		for _, r := range rs {
			fmt.Printf("  %s %.1f%%", r.latency, 100*r.slotsPerSec()/other.SlotsPerSec)
		}
		fmt.Println()
	}
}
