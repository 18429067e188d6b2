package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// printMachine prints what a reader needs to compare figures across machines.
func printMachine(ctx context.Context) {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Join(strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:], " ")
	}
	pg := "?"
	if conn, err := pgx.Connect(ctx, adminURL()); err == nil {
		_ = conn.QueryRow(ctx, `SELECT current_setting('server_version') || ', fsync ' || current_setting('fsync') ||
			', shared_buffers ' || current_setting('shared_buffers')`).Scan(&pg)
		conn.Close(ctx)
	}
	redis := "?"
	if out, err := exec.Command("redis-server", "--version").Output(); err == nil {
		redis = strings.TrimSpace(string(out))
	}
	fmt.Printf("machine: %d CPUs (%s), %s RAM, %s %s/%s; PostgreSQL %s; %s; %s UTC, load average %s\n",
		runtime.NumCPU(), cpu, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH, pg, redis,
		time.Now().UTC().Format("2006-01-02 15:04"), loadAverage())
}

// loadAverage is the 1, 5 and 15 minute load average.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}
