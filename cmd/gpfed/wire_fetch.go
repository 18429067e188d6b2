package main

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpfed/gpfed/internal/flight"
	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/sds"
	"github.com/gpfed/gpfed/worker"
)

// sdsClient is the process's Spine Directory Service client (capacity
// fetches and booking calls share it, and so its rate limit), or nil when
// GPFED_SDS_URL is not set (every practice then needs an endpoint override).
func (app *App) sdsClient() (*sds.Client, error) {
	app.sdsOnce.Do(func() { app.sds, app.sdsErr = newSDSClient(app) })
	return app.sds, app.sdsErr
}

func newSDSClient(app *App) (*sds.Client, error) {
	c := app.Cfg.SDS
	if c.URL == "" {
		return nil, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	return sds.New(sds.Config{
		BaseURL: c.URL, APIKey: c.APIKey, Timeout: c.Timeout, RatePerSecond: c.RateLimit,
		HTTPClient: &http.Client{Transport: tr}, Logger: app.Log,
		Observer: func(call sds.Call) { metrics.ObserveSDSCall(call.Step, call.Status, call.Duration) },
	})
}

// fetchDeps wires the capacity handler's endpoint discovery (SDS lookups
// cached per run, GP Connect's "session"; none without GPFED_SDS_URL) and
// its byte budget.
func fetchDeps(app *App) (worker.FetchDeps, error) {
	budget := flight.New(app.Cfg.Sync.MaxBytesInFlight)
	watchBudget.Do(func() {
		processBudget = budget
		metrics.WatchBytesInFlight(func() float64 { used, _ := budget.InUse(); return float64(used) })
	})
	d := worker.FetchDeps{Budget: budget}
	client, err := app.sdsClient()
	if err != nil || client == nil {
		return d, err
	}
	// A run never outlives its 6-hour deadline, so neither does its cache.
	d.SDS = sds.NewCache(client, 6*time.Hour)
	return d, nil
}

// watchBudget registers the gauge once per process (sync --once and demo
// build the worker mux once, but tests may build several).
var (
	watchBudget   sync.Once
	processBudget *flight.Budget
	// peakGPCLimit is the highest adaptive GP Connect limit this process reached.
	peakGPCLimit atomic.Int64
	// processSaver is the snapshot saver of the process's (last) worker mux.
	processSaver atomic.Pointer[worker.SnapshotSaver]
)

// fetchStats words this process's sync sizing for `sync --once`'s summary.
func fetchStats(app *App) string {
	_, peak := processBudget.InUse()
	out := fmt.Sprintf("this process: GP Connect calls in flight limited to at most %d (adaptive, ceiling %d); peak bytes in flight %.1f MiB of a %.0f MiB budget",
		peakGPCLimit.Load(), app.Cfg.GPConnect.MaxConcurrent, float64(peak)/(1<<20), float64(app.Cfg.Sync.MaxBytesInFlight)/(1<<20))
	if s := processSaver.Load(); s != nil {
		if groups, practices := s.Groups(); groups > 0 {
			out += fmt.Sprintf("; snapshots saved in %d groups (%.1f practices a group on average)", groups, float64(practices)/float64(groups))
		}
	}
	return out
}
