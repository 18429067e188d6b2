package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/e2e"
	"github.com/gpfed/gpfed/internal/cpustat"
)

// private is the throwaway cluster of -private-postgres (nil: the shared server).
var private *e2e.Postgres

// startPrivatePostgres runs a cluster of the benchmark's own, configured as the shared one is
// (fsync on, default buffers) plus pg_stat_statements, so that Postgres's share of a sync can be
// told apart from everything else on the machine.
func startPrivatePostgres(extra []string) (func(), error) {
	dir, err := os.MkdirTemp("", "gpfed-bench-pg-")
	if err != nil {
		return nil, err
	}
	settings := append([]string{"fsync=on", "shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all"}, extra...)
	pg, err := e2e.StartPostgresWith(dir, settings...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	private = pg
	return func() { pg.Stop(); os.RemoveAll(dir) }, nil
}

// privateCPU is the CPU time of the private cluster's processes so far (0 without one): the live
// ones, and the ones that ended (their time is the postmaster's children's time).
func privateCPU() time.Duration {
	if private == nil {
		return 0
	}
	return cpustat.Reaped(private.Pid()) + cpustat.Tree(private.Pid())
}

func resetStatements(ctx context.Context, dbURL string) {
	if private == nil {
		return
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
	_, _ = conn.Exec(ctx, `SELECT pg_stat_statements_reset()`)
}

// topStatements lists the statements that took the most time during the sync.
func topStatements(ctx context.Context, conn *pgx.Conn) []string {
	rows, err := conn.Query(ctx, `SELECT calls, total_exec_time, left(regexp_replace(query, '\s+', ' ', 'g'), 90)
		FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 10`)
	if err != nil {
		return []string{"pg_stat_statements: " + err.Error()}
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var calls int64
		var ms float64
		var q string
		if err := rows.Scan(&calls, &ms, &q); err != nil {
			break
		}
		out = append(out, fmt.Sprintf("%8.0f ms %7d calls %7.0f us/call  %s", ms, calls, 1000*ms/float64(max(calls, 1)), q))
	}
	return out
}
