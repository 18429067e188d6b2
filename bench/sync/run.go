package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/e2e"
	"github.com/gpfed/gpfed/internal/cpustat"
)

// result is one whole sync, measured.
type result struct {
	latency                time.Duration
	ceiling                int
	practices              int
	wall                   time.Duration
	slots, calls           int
	ok, failed             int
	rssMiB                 float64
	syncCPU, simCPU, other time.Duration
	pgCPU                  time.Duration // private cluster only
	statements             []string      // private cluster only: the costliest statements
	act0                   pgActivity    // before the sync
	pgActivity, slotsTable string
	loadBefore, loadAfter  string
	summary, sizing        string
	settings               []string
	again                  *result // -resync: the second sync of the same region
}

func (r result) slotsPerSec() float64 { return float64(r.slots) / r.wall.Seconds() }

func (r result) print() {
	fmt.Printf("\nsync: practices=%d days=28 latency_median=%s ceiling=%d (%s)\n", r.practices, r.latency, r.ceiling,
		strings.Join(r.settings, " "))
	fmt.Printf("  wall=%.2fs practices/s=%.1f slots=%d slots/s=%.0f gpconnect_calls=%d ok=%d failed=%d peak_rss=%.1fMiB\n",
		r.wall.Seconds(), float64(r.practices)/r.wall.Seconds(), r.slots, r.slotsPerSec(), r.calls, r.ok, r.failed, r.rssMiB)
	fmt.Printf("  %s\n", r.cpuLine())
	if private != nil {
		fmt.Printf("  postgres (private cluster) %.1fs = %.2f us per slot; its costliest statements:\n", r.pgCPU.Seconds(),
			float64(r.pgCPU.Microseconds())/float64(max(r.slots, 1)))
		for _, st := range r.statements {
			fmt.Printf("    %s\n", st)
		}
	}
	fmt.Printf("  %s\n  %s\n", r.pgActivity, r.slotsTable)
	fmt.Printf("  %s\n  %s\n", r.summary, r.sizing)
	if a := r.again; a != nil {
		fmt.Printf("  synced again (the same region and windows: every snapshot compared, what did not change not rewritten):\n")
		fmt.Printf("    wall=%.2fs practices/s=%.1f ok=%d failed=%d peak_rss=%.1fMiB\n", a.wall.Seconds(),
			float64(a.practices)/a.wall.Seconds(), a.ok, a.failed, a.rssMiB)
		fmt.Printf("    %s\n", a.cpuLine())
		fmt.Printf("    %s\n    %s\n", a.pgActivity, a.summary)
	}
}

// cpuLine is the sync's CPU by process, and the load around it.
func (r result) cpuLine() string {
	return fmt.Sprintf("cpu: sync process %.1fs, simulator %.1fs, everything else (postgres, redis, other users) %.1fs; load average %s -> %s",
		r.syncCPU.Seconds(), r.simCPU.Seconds(), r.other.Seconds(), r.loadBefore, r.loadAfter)
}

// benchSync runs one sync of a fresh federation: its own database, Redis and simulator.
func benchSync(ctx context.Context, p params, latency time.Duration, ceiling int) (result, error) {
	r := result{latency: latency, ceiling: ceiling, practices: p.practices}
	tmp, err := os.MkdirTemp("", "gpfed-bench-sync")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(tmp)
	dbName := fmt.Sprintf("gpfed_bench_sync_%d", os.Getpid())
	dbURL, drop, err := freshDB(ctx, dbName)
	if err != nil {
		return r, err
	}
	defer drop()
	redis, err := e2e.StartRedis(tmp)
	if err != nil {
		return r, err
	}
	defer redis.Stop()
	port, err := e2e.FreePort()
	if err != nil {
		return r, err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	r.settings = []string{fmt.Sprintf("GPFED_GPC_MAX_CONCURRENT=%d", ceiling), fmt.Sprintf("GPFED_SYNC_CONCURRENCY=%d", max(1, ceiling/2))}
	if p.discovery == "sds" {
		// The simulated SDS has no API gateway in front of it: no spike arrest to respect.
		r.settings = append(r.settings, "GPFED_SDS_URL="+base+"/spine-directory/FHIR/R4", "GPFED_SDS_API_KEY=bench", "GPFED_SDS_RATE_LIMIT=0")
	}
	r.settings = append(r.settings, p.env...)
	env := append(os.Environ(), "DATABASE_URL="+dbURL, "REDIS_URL="+redis.URL(), "GPFED_LOG_LEVEL=warn")
	env = append(env, r.settings...)
	for _, kv := range p.syncEnv { // printed with the rest, set for the sync process alone
		r.settings = append(r.settings, "sync:"+kv)
	}

	csvPath := filepath.Join(tmp, "federation.csv")
	simArgs := []string{"sim", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--practices", fmt.Sprint(p.practices),
		"--latency", latency.String(), "--slots-per-day", fmt.Sprint(p.perDay), "--write-csv", csvPath,
		// The load generator encodes its responses before the sync starts, as providers on
		// machines of their own would: the encoding is not the consumer's cost.
		"--pre-encode-days", "28"}
	if p.discovery == "sds" {
		simArgs = append(simArgs, "--ods-only")
	}
	sim := exec.Command(p.bin, simArgs...)
	sim.Env, sim.Stderr = env, os.Stderr
	if err := sim.Start(); err != nil {
		return r, fmt.Errorf("start sim: %w", err)
	}
	defer func() { _ = sim.Process.Signal(syscall.SIGTERM); _ = sim.Wait() }()
	if err := waitFile(csvPath, 5*time.Minute); err != nil {
		return r, err
	}
	// A sync needs no webhooks: importing the simulator's http:// receivers would
	// need the development policy and a sealing key, and print 6,500 secrets.
	if err := dropColumn(csvPath, "webhook_url"); err != nil {
		return r, err
	}
	imp := exec.Command(p.bin, "practices", "import", csvPath)
	imp.Env, imp.Stdout, imp.Stderr = env, os.Stderr, os.Stderr
	if err := imp.Run(); err != nil {
		return r, fmt.Errorf("import: %w", err)
	}
	resetStatements(ctx, dbURL)
	if err := runSync(ctx, p, env, sim.Process.Pid, dbURL, &r); err != nil || !p.resync {
		return r, err
	}
	again := result{latency: latency, ceiling: ceiling, practices: p.practices}
	resetStatements(ctx, dbURL)
	r.again = &again
	return r, runSync(ctx, p, env, sim.Process.Pid, dbURL, &again)
}

// runSync runs `gpfed sync --once` and measures it.
func runSync(ctx context.Context, p params, env []string, simPid int, dbURL string, r *result) error {
	cmd := exec.Command(p.bin, "sync", "--once")
	cmd.Env = append(env, p.syncEnv...)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	if conn, err := pgx.Connect(ctx, dbURL); err == nil {
		r.act0, _ = readActivity(ctx, conn)
		conn.Close(ctx)
	}
	r.loadBefore = loadAverage()
	machine0, sim0, pg0 := cpustat.Machine(), cpustat.Process(simPid), privateCPU()
	start := time.Now()
	err := cmd.Run()
	r.wall = time.Since(start)
	machine, simUsed := cpustat.Machine()-machine0, cpustat.Process(simPid)-sim0
	r.loadAfter = loadAverage()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 { // 1: some practice failed; still measured
			return fmt.Errorf("sync --once: %w\n%s", err, out.String())
		}
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r.rssMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
	r.syncCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	r.simCPU, r.other = simUsed, machine-r.syncCPU-simUsed
	r.pgCPU = privateCPU() - pg0
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "sync run ") {
			r.summary = l
		}
		if strings.HasPrefix(l, "this process: ") {
			r.sizing = l
		}
	}
	return runFacts(ctx, dbURL, r)
}

func runFacts(ctx context.Context, dbURL string, r *result) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if private != nil {
		r.statements = topStatements(ctx, conn)
	}
	act, actErr := readActivity(ctx, conn)
	// The latest run's practices: with -resync the database holds two runs.
	if err := conn.QueryRow(ctx, `WITH rp AS (SELECT * FROM sync_run_practices WHERE run_id = (SELECT max(id) FROM sync_runs))
		SELECT (SELECT count(*) FROM slots), (SELECT COALESCE(sum(calls), 0) FROM rp),
		(SELECT count(*) FROM rp WHERE status = 'ok'), (SELECT count(*) FROM rp WHERE status = 'failed')`).
		Scan(&r.slots, &r.calls, &r.ok, &r.failed); err != nil {
		return err
	}
	if actErr == nil {
		r.pgActivity = act.describe(r.act0, r.slots)
	}
	r.slotsTable = slotsTable(ctx, conn)
	return nil
}

// adminURL is the server the benchmark's databases live on.
func adminURL() string {
	if private != nil {
		return private.URL("postgres")
	}
	if u := os.Getenv("GPFED_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// freshDB creates database name (dropping a leftover of the same name) and returns its URL and
// a func that drops it.
func freshDB(ctx context.Context, name string) (string, func(), error) {
	admin := adminURL()
	if err := e2e.DropDatabase(ctx, admin, name); err != nil {
		return "", nil, err
	}
	url, err := e2e.CreateDatabase(ctx, admin, name)
	if err != nil {
		return "", nil, err
	}
	return url, func() { _ = e2e.DropDatabase(context.Background(), admin, name) }, nil
}

func waitFile(path string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 {
			time.Sleep(200 * time.Millisecond) // the simulator writes the file, then listens
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the simulator did not write its CSV")
}

// dropColumn rewrites the CSV at path without the named column.
func dropColumn(path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) == 0 {
		return fmt.Errorf("read %s: %v", path, err)
	}
	col := slices.Index(rows[0], name)
	if col < 0 {
		return nil
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	for _, row := range rows {
		if err := w.Write(slices.Delete(row, col, col+1)); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
