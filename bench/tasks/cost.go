package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/gpfed/gpfed/internal/cpustat"
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
		u.cpu[name] = cpustat.Process(pid).Seconds()
	}
	if e.pg != nil {
		u.cpu["postgres (private)"] = cpustat.Tree(e.pg.Pid()).Seconds()
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
	if e.skeleton != nil {
		out["skeleton (API+worker)"] = e.skeleton.Pid()
	}
	return out
}

// report prints what each delivered task cost between two snapshots.
func reportCost(before, after usage, tasks int) {
	fmt.Printf("    cost per task:")
	for _, name := range []string{"gpfed serve", "gpfed worker", "skeleton (API+worker)", "postgres (private)", "redis-server", "bench (posters+receivers)"} {
		if after.cpu[name] == 0 {
			continue
		}
		fmt.Printf("  %s %.3f ms CPU;", name, 1000*(after.cpu[name]-before.cpu[name])/float64(tasks))
	}
	fmt.Printf("\n                   %.1f Redis commands, %.1f Postgres commits\n",
		float64(after.redisCalls-before.redisCalls)/float64(tasks), float64(after.pgCommits-before.pgCommits)/float64(tasks))
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
