package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// fetchGCPercent and fetchMemoryBudgets are the garbage collector's
// settings for a process that fetches capacity (worker, sync --once) when
// the operator set neither GOGC nor GOMEMLIMIT: collect half as often as
// Go's default, and bound the heap instead by a soft limit of three byte
// budgets (GPFED_SYNC_MAX_BYTES_IN_FLIGHT, 144 MiB by default), which the
// budget keeps the live heap well under. A regional sync's process spent
// ~17% of its CPU collecting; in three alternating pairs of
// 3,000-practice syncs at 200 ms (bench/sync -sync-env, docs/BENCHMARKS.md)
// GOGC=200 with a 150 MiB limit took the machine's CPU per slot stored to
// 0.81x, 1.05x and 0.85x of the default's, for 2-12 MiB more peak RSS.
const (
	fetchGCPercent     = 200
	fetchMemoryBudgets = 3
)

// gcSettings are the collector settings tuneFetchGC applies: 0 leaves
// that one as the runtime has it (the operator's environment, or Go's
// default).
type gcSettings struct {
	percent int
	limit   int64
}

func fetchGC(getenv func(string) string, budget int64) gcSettings {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" || budget <= 0 {
		return gcSettings{} // the operator's choice, or nothing to bound the heap by
	}
	return gcSettings{percent: fetchGCPercent, limit: fetchMemoryBudgets * budget}
}

// tuneFetchGC applies fetchGC's settings to this process and logs them.
func tuneFetchGC(app *App) {
	s := fetchGC(os.Getenv, app.Cfg.Sync.MaxBytesInFlight)
	if s == (gcSettings{}) {
		return
	}
	debug.SetGCPercent(s.percent)
	debug.SetMemoryLimit(s.limit)
	app.Log.Debug("garbage collector set for fetching", slog.String("component", "process"), slog.Int("gogc", s.percent),
		slog.Int64("memory_limit_bytes", s.limit))
}
