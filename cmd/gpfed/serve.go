package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gpfed/gpfed/internal/api"
	"github.com/gpfed/gpfed/internal/service"
	"github.com/gpfed/gpfed/queue"
)

func init() {
	register("serve", "run the HTTP API and dashboard (and /metrics, /readyz on GPFED_METRICS_ADDR)", runServe)
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
	ln, err := net.Listen("tcp", app.Cfg.Server.Addr)
	if err != nil {
		return fmt.Errorf("listen %s (GPFED_HTTP_ADDR): %w", app.Cfg.Server.Addr, err)
	}
	g := service.Group{Log: app.Log}
	defer g.Stop()
	if err := startAPI(ctx, &g, app, c, ln); err != nil {
		ln.Close()
		return err
	}
	g.Wait(ctx)
	return nil
}

// startAPI serves the API on ln, and /metrics, /readyz and /healthz on the
// operations listener (GPFED_METRICS_ADDR), with the intake, the access
// log and the key watcher. In stop order: the HTTP server (no new
// requests; those in flight finish, each waiting for its intake commit and
// its access record), the operations listener, the access log, the
// intake, the key watcher.
func startAPI(ctx context.Context, g *service.Group, app *App, c *conns, ln net.Listener) error {
	waker := newWaker(app, c.Client)
	intake := queue.NewIntake(c.DB, waker, queue.IntakeConfig{})
	log := app.Log.With("component", "api")
	bookings, err := newBookingService(app, c.DB, c.Client)
	if err != nil {
		return err
	}
	access := api.NewAccessLog(c.DB)
	srv := &api.Server{DB: c.DB, Log: log, Intake: intake, AccessLog: access, Waker: waker, Inspector: c.Inspector,
		TaskMaxAge: app.Cfg.Tasks.MaxAge, KeyCacheTTL: apiKeyCacheTTL,
		LowCapacityDays: app.Cfg.Tasks.LowCapacityDays, Booking: bookings}
	apiServerSecurity(app, srv)
	// A dashboard on plain http at a loopback address (the demo) cannot use Secure cookies.
	srv.InsecureCookies = srv.InsecureCookies || isLoopback(ln.Addr())
	opsAddr, stopOps, err := startOps(ctx, app, srv.OpsHandler())
	if err != nil {
		return err
	}
	g.Start(ctx, "api key watcher", srv.WatchKeyChanges)
	g.Start(ctx, "task intake", intake.Run)
	g.Start(ctx, "access log", access.Run)
	g.Start(ctx, "operations listener", func(sctx context.Context) { <-sctx.Done(); stopOps() })
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second,
		MaxHeaderBytes: maxHeaderBytes}
	g.Start(ctx, "http server", func(sctx context.Context) {
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		log.Info("listening", "addr", ln.Addr().String(), "ops_addr", opsAddr)
		select {
		case err := <-errc:
			log.Error("http server stopped", "error", err)
			return
		case <-sctx.Done():
		}
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(sctx), app.Cfg.Worker.ShutdownTimeout)
		defer cancel()
		if err := hs.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("http shutdown", "error", err)
		}
		log.Info("stopped")
	})
	return nil
}
