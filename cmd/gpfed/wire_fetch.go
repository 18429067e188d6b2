package main

import (
	"net/http"
	"time"

	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/sds"
	"github.com/gpfed/gpfed/worker"
)

// newSDSClient builds the Spine Directory Service client, or nil when
// GPFED_SDS_URL is not set (every practice then needs an endpoint override).
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

// fetchDeps wires endpoint discovery for the capacity handler: SDS lookups
// cached per run (GP Connect's "session"), or none without GPFED_SDS_URL.
func fetchDeps(app *App) (worker.FetchDeps, error) {
	client, err := newSDSClient(app)
	if err != nil || client == nil {
		return worker.FetchDeps{}, err
	}
	// A run never outlives its 6-hour deadline, so neither does its cache.
	return worker.FetchDeps{SDS: sds.NewCache(client, 6*time.Hour)}, nil
}
