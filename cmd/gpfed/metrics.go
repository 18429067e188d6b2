package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gpfed/gpfed/internal/metrics"
)

// startMetrics serves this process's series (capacity fetch outcomes, GP
// Connect call latency, delivery latency) on GPFED_METRICS_ADDR for worker
// and scheduler processes; the API server serves its own /metrics. It
// returns a stop func; with no address configured it does nothing.
func startMetrics(ctx context.Context, app *App) func() {
	addr := app.Cfg.Server.MetricsAddr
	if addr == "" {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			app.Log.Error("metrics listener failed", "component", "metrics", "addr", addr, "error", err)
		}
	}()
	app.Log.Info("metrics listening", "component", "metrics", "addr", addr)
	return func() { _ = srv.Shutdown(context.WithoutCancel(ctx)) }
}
