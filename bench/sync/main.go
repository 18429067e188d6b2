// Command sync benchmarks a whole capacity sync the way an operator runs it:
// `gpfed sim` serves a simulated federation (N practices, ~500 free slots
// each over 28 days, lognormal latency with a 200 ms median) in one process,
// and `gpfed sync --once` fetches and stores everything in another, whose
// wall time and peak RSS are measured. Run with `make bench-sync`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-sync:", err)
		os.Exit(1)
	}
}

func run() error {
	sizes := flag.String("practices", "250,1000", "federation sizes to run, comma-separated")
	latency := flag.Duration("latency", 200*time.Millisecond, "median provider latency")
	perDay := flag.Int("slots-per-day", 24, "free slots per practice per weekday (~500 per practice over 28 days)")
	concurrency := flag.Int("concurrency", 128, "worker concurrency and GP Connect concurrent calls")
	bin := flag.String("bin", "bin/gpfed", "gpfed binary")
	flag.Parse()
	for _, n := range strings.Split(*sizes, ",") {
		if err := benchOne(strings.TrimSpace(n), *latency, *perDay, *concurrency, *bin); err != nil {
			return err
		}
	}
	return nil
}

func benchOne(n string, latency time.Duration, perDay, concurrency int, bin string) error {
	ctx := context.Background()
	dbURL, err := freshDB(ctx, "gpfed_bench")
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "gpfed-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	csvPath := filepath.Join(tmp, "federation.csv")
	// Redis DB 14 keeps the benchmark away from the application's queues.
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "REDIS_URL=redis://127.0.0.1:6379/14", "GPFED_LOG_LEVEL=warn",
		fmt.Sprintf("GPFED_WORKER_CONCURRENCY=%d", concurrency), fmt.Sprintf("GPFED_GPC_MAX_CONCURRENT=%d", concurrency))

	simCmd := exec.Command(bin, "sim", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--practices", n,
		"--latency", latency.String(), "--slots-per-day", fmt.Sprint(perDay), "--write-csv", csvPath)
	simCmd.Env, simCmd.Stderr = env, os.Stderr
	if err := simCmd.Start(); err != nil {
		return fmt.Errorf("start sim: %w", err)
	}
	simCPU := func() time.Duration { return procCPU(simCmd.Process.Pid) }
	if err := waitFile(csvPath, 10*time.Second); err != nil {
		return err
	}
	imp := exec.Command(bin, "practices", "import", csvPath)
	imp.Env, imp.Stdout, imp.Stderr = env, os.Stderr, os.Stderr
	if err := imp.Run(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if err := flushRedis(); err != nil {
		return err
	}

	syncCmd := exec.Command(bin, "sync", "--once")
	syncCmd.Env = env
	out := &strings.Builder{}
	syncCmd.Stdout, syncCmd.Stderr = out, os.Stderr
	machineBefore := machineCPU()
	simBefore := simCPU()
	start := time.Now()
	err = syncCmd.Run()
	wall := time.Since(start)
	machineUsed := machineCPU() - machineBefore
	simUsed := simCPU() - simBefore
	_ = simCmd.Process.Signal(syscall.SIGTERM)
	_ = simCmd.Wait()
	if err != nil {
		return fmt.Errorf("sync --once: %w\n%s", err, out.String())
	}
	ru := syncCmd.ProcessState.SysUsage().(*syscall.Rusage)
	rss := ru.Maxrss // KiB on Linux
	syncCPU := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	slots, calls, err := runFacts(ctx, dbURL)
	if err != nil {
		return err
	}
	var np float64
	fmt.Sscan(n, &np)
	fmt.Printf("practices=%s days=28 latency_median=%s concurrency=%d\n", n, latency, concurrency)
	fmt.Printf("  wall=%.2fs practices/s=%.1f slots=%d slots/s=%.0f gpconnect_calls=%d peak_rss=%.1fMiB cpus=%d\n",
		wall.Seconds(), np/wall.Seconds(), slots, float64(slots)/wall.Seconds(), calls, float64(rss)/1024, runtime.NumCPU())
	fmt.Printf("  cpu: sync process %.1fs, simulator %.1fs, whole machine %.1fs (postgres, redis and anything else: %.1fs)\n",
		syncCPU.Seconds(), simUsed.Seconds(), machineUsed.Seconds(), (machineUsed - syncCPU - simUsed).Seconds())
	last := strings.TrimSpace(out.String())
	if i := strings.LastIndex(last, "\n"); i >= 0 {
		last = last[i+1:]
	}
	fmt.Printf("  %s\n", last)
	return nil
}

func runFacts(ctx context.Context, dbURL string) (slots, calls int, err error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM slots), (SELECT COALESCE(sum(calls), 0) FROM sync_run_practices)`).Scan(&slots, &calls)
	return slots, calls, err
}

// freshDB (re)creates a database on the server of DATABASE_URL / the test admin URL.
func freshDB(ctx context.Context, name string) (string, error) {
	admin := os.Getenv("GPFED_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect %s: %w", admin, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String(), nil
}

func flushRedis() error {
	cmd := exec.Command("redis-cli", "-n", "14", "FLUSHDB")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("flush bench redis db: %v: %s", err, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitFile(path string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 {
			time.Sleep(100 * time.Millisecond)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("sim did not write its CSV")
}

// procCPU reads a process's user+system CPU time from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	var ut, st int64
	fmt.Sscan(fields[11], &ut)
	fmt.Sscan(fields[12], &st)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ = 100 on Linux
}

// machineCPU is the busy (non-idle) CPU time of the whole machine so far.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var busy int64
	for i, v := range f[1:] {
		var n int64
		fmt.Sscan(v, &n)
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100
}
