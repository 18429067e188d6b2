package main

import (
	"context"
	"fmt"

	"github.com/gpfed/gpfed/internal/store"
)

func init() {
	register("migrate", "apply database migrations", runMigrate)
}

func runMigrate(ctx context.Context, app *App, args []string) error {
	if len(args) > 0 {
		return usagef("migrate takes no arguments")
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(app.Stdout, "migrations applied: %d %v\n", len(applied), applied)
	return nil
}

// openDB connects and makes sure the schema is current, so every command
// works on a fresh database without a separate step, and (with
// GPFED_SECRET_KEY) that every stored webhook secret is sealed under the
// current key.
func openDB(ctx context.Context, app *App) (*store.DB, error) {
	db, err := store.Open(ctx, app.Cfg.Database.URL, app.Cfg.Database.MaxConns)
	if err != nil {
		return nil, fmt.Errorf("%w (check DATABASE_URL)", err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := resealSecrets(ctx, app, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
