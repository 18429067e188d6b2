// Command tasks benchmarks task delivery end to end against asynq's raw
// no-op throughput on the same Redis in the same run (issue 3):
//
//  1. raw asynq: N no-op tasks enqueued and processed at the worker's
//     concurrency, in this process; then the floor: the same closed loop as
//     (2) against a skeleton of the architecture with none of gpfed's own
//     work, with and without Postgres (skeleton.go);
//  2. end to end, closed loop: K posters send POST /v1/tasks as fast as the
//     API answers; throughput counts tasks whose webhook the receiver
//     answered 2xx;
//  3. latency at a fixed offered rate (open loop, default 500/s for 20s):
//     from the moment each POST was due to the receiver's 2xx, p50/p99.
//
// gpfed runs as real child processes (serve + worker) built by `make
// build`; the webhook receivers are the simulated federation's, in this
// process; Redis is a private redis-server; Postgres is a fresh database
// on the server DATABASE_URL points at. Run with `make bench-tasks`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type params struct {
	bin                 string
	concurrency         int
	rawN                int
	posters, closedN    int
	rates               []int // tasks/s; -N means N% of the closed-loop throughput
	rateSpec            string
	duration            time.Duration
	practices           int
	logLevel            string
	keep                bool
	privatePG           bool
	raw, closed, latent bool
	isolation           bool
	floor               bool
	extraEnv            []string
	dbSQL               string // run on the benchmark database before serve and worker start
}

func main() {
	if os.Getenv(skeletonEnv) == "1" {
		if err := skeletonMain(); err != nil {
			fmt.Fprintln(os.Stderr, "skeleton:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-tasks:", err)
		os.Exit(1)
	}
}

func run() error {
	var p params
	flag.StringVar(&p.bin, "bin", "bin/gpfed", "gpfed binary")
	flag.IntVar(&p.concurrency, "concurrency", 64, "worker concurrency (gpfed worker and raw asynq)")
	flag.IntVar(&p.rawN, "raw-n", 20000, "no-op tasks for the raw asynq reference")
	flag.IntVar(&p.posters, "posters", 32, "concurrent posters for the closed-loop run")
	flag.IntVar(&p.closedN, "closed-n", 6000, "tasks for the closed-loop run")
	rates := flag.String("rate", "500,200,80%", "offered rates for the latency runs, comma-separated: tasks/s, or N% of this run's closed-loop throughput (needs the closed phase)")
	flag.DurationVar(&p.duration, "duration", 20*time.Second, "length of the latency run")
	flag.IntVar(&p.practices, "practices", 8, "simulated practices (senders and recipients)")
	flag.StringVar(&p.logLevel, "log-level", "info", "GPFED_LOG_LEVEL for serve and worker")
	flag.BoolVar(&p.keep, "keep", false, "keep the logs directory")
	flag.BoolVar(&p.privatePG, "private-postgres", false, "run a private PostgreSQL cluster (fsync off) so its CPU per task can be measured")
	flag.Func("env", "KEY=VALUE for the gpfed processes (repeatable), e.g. -env GPFED_DB_MAX_CONNS=40", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE")
		}
		p.extraEnv = append(p.extraEnv, v)
		return nil
	})
	flag.StringVar(&p.dbSQL, "db-sql", "", "SQL to run on the benchmark database after migration, before gpfed starts (experiments: drop an index, change a setting)")
	phases := flag.String("phases", "raw,floor,closed,latency,isolation", "which measurements to run")
	flag.Parse()
	p.raw = strings.Contains(*phases, "raw")
	p.closed = strings.Contains(*phases, "closed")
	p.latent = strings.Contains(*phases, "latency")
	p.floor = strings.Contains(*phases, "floor")
	p.isolation = strings.Contains(*phases, "isolation")
	p.rateSpec = *rates
	for _, r := range strings.Split(*rates, ",") {
		r = strings.TrimSpace(r)
		pct, isPct := strings.CutSuffix(r, "%")
		n, err := strconv.Atoi(pct)
		if err != nil || n <= 0 || (isPct && n > 200) {
			return fmt.Errorf("-rate %q: want positive integers (tasks/s) or percentages of the closed-loop throughput", *rates)
		}
		if isPct {
			if !p.closed {
				return fmt.Errorf("-rate %s%%: a share of the closed-loop throughput needs the closed phase", pct)
			}
			n = -n // resolved once the closed loop has run
		}
		p.rates = append(p.rates, n)
	}

	printMachine(p)
	env, err := setUp(p)
	if err != nil {
		return err
	}
	defer env.close()
	ctx := context.Background()
	var rawRate float64
	if p.raw {
		r, err := benchRaw(ctx, env, p)
		if err != nil {
			return err
		}
		rawRate = r
	}
	var floorRate, noDBRate float64
	if p.floor {
		if floorRate, err = benchSkeleton(ctx, env, p, false); err != nil {
			return err
		}
		if noDBRate, err = benchSkeleton(ctx, env, p, true); err != nil {
			return err
		}
	}
	if err := env.flushAndStart(ctx, p); err != nil {
		return err
	}
	var e2eRate, notedRate float64
	if p.closed {
		if e2eRate, notedRate, err = benchClosed(ctx, env, p); err != nil {
			return err
		}
	}
	isolationRate := 200
	if p.latent {
		for _, rate := range p.rates {
			if rate < 0 { // a percentage of the closed-loop throughput
				share := -rate
				rate = int(e2eRate * float64(share) / 100)
				fmt.Printf("\n(%d%% of this run's closed-loop %.0f tasks/s = %d tasks/s)\n", share, e2eRate, rate)
				if rate <= 0 {
					continue
				}
				isolationRate = rate
			}
			if err := benchLatency(ctx, env, p, rate); err != nil {
				return err
			}
		}
	}
	if p.isolation {
		if err := benchIsolation(ctx, env, p, isolationRate); err != nil {
			return err
		}
	}
	fmt.Println()
	if rawRate > 0 && floorRate > 0 {
		fmt.Printf("skeleton with Postgres / raw asynq    = %5.1f%%\n", 100*floorRate/rawRate)
		fmt.Printf("skeleton without Postgres / raw asynq = %5.1f%% (only the two HTTP hops and the asynq task the issue prescribes)\n", 100*noDBRate/rawRate)
	}
	if floorRate > 0 && e2eRate > 0 {
		fmt.Printf("end-to-end / skeleton with Postgres   = %5.1f%% (target >= 100%%)\n", 100*e2eRate/floorRate)
		fmt.Printf("  counting to the last sender notified = %5.1f%% (the skeleton notifies no one)\n", 100*notedRate/floorRate)
	}
	if rawRate > 0 && e2eRate > 0 {
		fmt.Printf("end-to-end / raw asynq = %.1f%%\n", 100*e2eRate/rawRate)
	}
	fmt.Printf("load average at the end: %s\n", loadAvg())
	return nil
}

func printMachine(p params) {
	goVersion := runtime.Version()
	if out, err := exec.Command("go", "version").Output(); err == nil {
		goVersion = strings.TrimSpace(string(out))
	}
	fmt.Printf("machine: %d CPUs (%s), %s, load average %s\n", runtime.NumCPU(), cpuModel(), goVersion, loadAvg())
	fmt.Printf("params: worker concurrency %d, raw asynq %d no-op tasks, closed loop %d tasks by %d posters, "+
		"open loop %s tasks/s for %s each, %d practices, gpfed log level %s\n",
		p.concurrency, p.rawN, p.closedN, p.posters, p.rateSpec, p.duration, p.practices, p.logLevel)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
