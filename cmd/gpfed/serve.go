package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gpfed/gpfed/internal/api"
)

func init() {
	register("serve", "run the HTTP API, dashboard, /metrics and health endpoints", runServe)
}

// apiKeyCacheTTL is how long serve trusts a valid API key without asking
// Postgres again. Revoking a key, or deactivating its practice, empties
// the cache at once through LISTEN/NOTIFY (api.Server.WatchKeyChanges);
// the TTL bounds it only while that listener is down.
const apiKeyCacheTTL = 5 * time.Second

func runServe(ctx context.Context, app *App, args []string) error {
	if len(args) > 0 {
		return usagef("serve takes no arguments (address: GPFED_HTTP_ADDR)")
	}
	c, err := connect(ctx, app)
	if err != nil {
		return err
	}
	defer c.Close()
	db, client, inspector := c.DB, c.Client, c.Inspector

	log := app.Log.With("component", "api")
	svc, err := newBookingService(app, db, client)
	if err != nil {
		return err
	}
	srv := &api.Server{DB: db, Log: log, Enqueuer: client, Inspector: inspector, TaskMaxAge: app.Cfg.Tasks.MaxAge,
		TaskTimeout: deliveryTaskTimeout(app), KeyCacheTTL: apiKeyCacheTTL, SecureCookies: app.Cfg.Server.SecureCookies,
		Booking: svc}
	stopRelay := startRelay(ctx, app, db, client)
	defer stopRelay()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); srv.WatchKeyChanges(watchCtx) }()
	defer func() { stopWatch(); <-watched }()

	hs := &http.Server{Addr: app.Cfg.Server.Addr, Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	log.Info("listening", "addr", app.Cfg.Server.Addr)
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), app.Cfg.Worker.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
