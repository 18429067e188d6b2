package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gpfed/gpfed/internal/store"
)

func init() {
	register("migrate", "apply database migrations", runMigrate)
}

// runMigrate opens the database without the implicit migration every other
// command does, so it can report what it applied itself.
func runMigrate(ctx context.Context, app *App, args []string) error {
	if len(args) > 0 {
		return usagef("migrate takes no arguments")
	}
	db, err := openPool(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("after applying %d migration(s) %v: %w", len(applied), applied, err)
	}
	names, err := store.MigrationNames()
	if err != nil {
		return err
	}
	reportMigrations(app.Stdout, applied, names)
	return nil
}

func reportMigrations(w io.Writer, applied, all []string) {
	latest := ""
	if len(all) > 0 {
		latest = all[len(all)-1]
	}
	if len(applied) == 0 {
		fmt.Fprintf(w, "schema is current: all %d migrations were already applied (latest %s)\n", len(all), latest)
		return
	}
	fmt.Fprintf(w, "applied %d migration(s):\n", len(applied))
	for _, n := range applied {
		fmt.Fprintf(w, "  %s\n", n)
	}
	fmt.Fprintf(w, "schema is current: %d migrations (latest %s)\n", len(all), latest)
}

// serverFullWait bounds how long a command waits for Postgres to have a
// free connection at start.
const serverFullWait = 30 * time.Second

// openPool connects to DATABASE_URL, naming it when that fails. A server
// that is full ("too many clients") is waited for, up to serverFullWait:
// that usually passes within seconds (another process's burst), and a
// command that fails at once for it, or a service that crash-loops, helps
// no one.
func openPool(ctx context.Context, app *App) (*store.DB, error) {
	deadline := time.Now().Add(serverFullWait)
	warned := false
	for {
		db, err := store.Open(ctx, app.Cfg.Database.URL, app.Cfg.Database.MaxConns)
		if err == nil {
			return db, nil
		}
		if !store.ServerFull(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("%w (check DATABASE_URL)", err)
		}
		if !warned {
			app.Log.Warn("postgres has no free connection (max_connections reached); waiting", "component", "process",
				"wait_up_to", serverFullWait.String())
			warned = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// openDB connects and makes sure the schema is current, so every command
// works on a fresh database without a separate step.
func openDB(ctx context.Context, app *App) (*store.DB, error) {
	db, err := openPool(ctx, app)
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
