// Command booking benchmarks POST /v1/bookings end to end (issue 8): at a
// fixed offered rate (open loop, default 50 bookings/s for 15 s) it books
// distinct free slots for distinct patients across a simulated federation
// and measures, per booking, the latency the caller sees and the time the
// practice itself spent answering that booking's calls (Find patient and
// Book, timed inside the simulated provider). gpfed's overhead is the
// difference: everything gpfed adds (its API, Postgres, the claim and the
// record, the network to the provider). The target is an overhead p99
// under 50 ms; the run also reports the overhead against the provider's
// own latency measured in the same run.
//
// gpfed runs as real child processes (serve and worker) built by `make
// build`; the simulated practices are in this process; Redis is a private
// redis-server; Postgres is a fresh database on the server DATABASE_URL
// points at. Run with `make bench-booking`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gpfed/gpfed/e2e"
	"github.com/gpfed/gpfed/internal/sim"
)

type params struct {
	bin             string
	rate            int
	duration        time.Duration
	practices       int
	providerLatency time.Duration
	logLevel        string
	keep            bool
	cpuProfile      string
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-booking:", err)
		os.Exit(1)
	}
}

func run() error {
	var p params
	flag.StringVar(&p.bin, "bin", "bin/gpfed", "the gpfed binary (make build)")
	flag.IntVar(&p.rate, "rate", 50, "bookings per second offered (open loop)")
	flag.DurationVar(&p.duration, "duration", 15*time.Second, "how long to offer bookings")
	flag.IntVar(&p.practices, "practices", 30, "simulated member practices")
	flag.DurationVar(&p.providerLatency, "provider-latency", 30*time.Millisecond, "median latency of every provider answer (lognormal)")
	flag.StringVar(&p.logLevel, "log-level", "warn", "GPFED_LOG_LEVEL of serve and worker")
	flag.BoolVar(&p.keep, "keep", false, "keep the logs and the database")
	flag.StringVar(&p.cpuProfile, "cpuprofile", "", "write CPU profiles of serve and worker to this path (.serve, .worker appended)")
	flag.Parse()
	if p.rate < 1 || p.duration <= 0 || p.practices < 2 {
		return fmt.Errorf("-rate, -duration and -practices must be positive (practices at least 2)")
	}
	e, err := setUp(p)
	if err != nil {
		return err
	}
	defer e.close()
	ctx, cancel := context.WithTimeout(context.Background(), p.duration+5*time.Minute)
	defer cancel()
	plan, err := e.plan(ctx, p.rate*int(p.duration/time.Second))
	if err != nil {
		return err
	}
	printHeader(p, len(plan))
	floorCtx, stopFloor := context.WithCancel(ctx)
	floor := e.sampleFloor(floorCtx)
	res := e.offer(ctx, plan, p.rate)
	stopFloor()
	return report(res, <-floor)
}

func printHeader(p params, n int) {
	host, _ := os.Hostname()
	fmt.Printf("bench-booking  %s  %s  go %s  GOMAXPROCS=%d  %d CPUs\n", time.Now().UTC().Format(time.RFC3339), host,
		runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Printf("offered: %d bookings/s for %s (%d bookings), open loop; %d simulated practices, provider latency median %s (lognormal, sigma 0.5) per call\n",
		p.rate, p.duration, n, p.practices, p.providerLatency)
	fmt.Printf("each booking: distinct slot and patient, patient registered at the slot's practice (Find patient + Book at the provider)\n")
	fmt.Printf("command: go run ./bench/booking %s\n\n", strings.Join(os.Args[1:], " "))
}

func benchEnv(p params) []string {
	env := []string{"GPFED_LOG_LEVEL=" + p.logLevel, "GPFED_SYNC_DAYS=14"}
	if p.cpuProfile != "" {
		env = append(env, "GPFED_CPUPROFILE="+p.cpuProfile)
	}
	return env
}

func setUp(p params) (*env, error) {
	dir, err := os.MkdirTemp("", "gpfed-bench-booking-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, keep: p.keep, timer: newProviderTimer()}
	if e.redis, err = e2e.StartRedis(dir); err != nil {
		e.close()
		return nil, err
	}
	e.adminURL = adminURL()
	e.dbName = "gpfed_bench_booking_" + strconv.Itoa(os.Getpid())
	dbURL, err := e2e.CreateDatabase(context.Background(), e.adminURL, e.dbName)
	if err != nil {
		e.close()
		return nil, err
	}
	e.stack, err = e2e.NewStack(context.Background(), e2e.StackConfig{Bin: p.bin, Dir: dir, DatabaseURL: dbURL,
		RedisURL: e.redis.URL(), Practices: p.practices, Seed: 3, WrapHooks: e.timer.wrap,
		SimLatency: sim.LatencyDist{Median: p.providerLatency},
		Env:        benchEnv(p)})
	if err != nil {
		e.close()
		return nil, err
	}
	if _, err := e.stack.Run(context.Background(), "sync", "--once", "--days", "14"); err != nil {
		e.close()
		return nil, fmt.Errorf("first sync: %w", err)
	}
	for _, name := range []string{"serve", "worker"} {
		if _, err := e.stack.Start(name, []string{name}); err != nil {
			e.close()
			return nil, err
		}
	}
	if err := e.stack.WaitReady(30 * time.Second); err != nil {
		e.close()
		return nil, err
	}
	e.api = e2e.NewClient(e.stack.APIURL)
	return e, nil
}
