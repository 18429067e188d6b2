package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// usage is a snapshot of what the deployment has consumed so far: CPU time
// of each process of ours, Redis commands and Postgres commits.
type usage struct {
	cpu        map[string]float64 // seconds, by process
	redisCalls int64
	pgCommits  int64
}

func (e *env) usage(ctx context.Context) usage {
	u := usage{cpu: map[string]float64{}}
	for name, pid := range e.pids() {
		u.cpu[name] = cpuSeconds(pid)
	}
	u.redisCalls = redisCalls(ctx, e.redis.Addr())
	u.pgCommits = pgCommits(ctx, e.adminURL, e.dbName)
	return u
}

func (e *env) pids() map[string]int {
	out := map[string]int{"bench (posters+receivers)": os.Getpid(), "redis-server": e.redis.Pid()}
	for _, p := range e.procs {
		out["gpfed "+p.Name] = p.Pid()
	}
	return out
}

// report prints what each delivered task cost between two snapshots.
func reportCost(before, after usage, tasks int) {
	fmt.Printf("    cost per task:")
	for _, name := range []string{"gpfed serve", "gpfed worker", "redis-server", "bench (posters+receivers)"} {
		if _, ok := after.cpu[name]; ok {
			fmt.Printf("  %s %.2f ms CPU;", name, 1000*(after.cpu[name]-before.cpu[name])/float64(tasks))
		}
	}
	fmt.Printf("\n                   %.1f Redis commands, %.1f Postgres commits (Postgres CPU is not attributed: shared server)\n",
		float64(after.redisCalls-before.redisCalls)/float64(tasks), float64(after.pgCommits-before.pgCommits)/float64(tasks))
}

// cpuSeconds is utime+stime of pid from /proc (0 when unknown).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

func redisCalls(ctx context.Context, addr string) int64 {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0
	}
	var total int64
	for _, line := range strings.Split(info, "\n") {
		if _, rest, ok := strings.Cut(line, "calls="); ok {
			n, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
			total += n
		}
	}
	return total
}

func pgCommits(ctx context.Context, adminURL, db string) int64 {
	c, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return 0
	}
	defer c.Close(ctx)
	var n int64
	_ = c.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, db).Scan(&n)
	return n
}
