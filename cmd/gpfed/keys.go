package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
)

func init() {
	register("admin-key", "issue a federation-admin API key (shown once)", runAdminKey)
}

func practicesToken(ctx context.Context, app *App, args []string) error {
	if len(args) != 1 {
		return usagef("usage: gpfed practices token ODS")
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	raw, k, err := db.CreateAPIKey(ctx, store.RolePractice, args[0], "cli")
	if errors.Is(err, store.ErrNotFound) {
		return ExitError{Code: 1, Msg: fmt.Sprintf("practice %s is not an active member", args[0])}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(app.Stderr, "API key for %s (prefix %s); store it now, it is not shown again:\n", args[0], k.Prefix)
	fmt.Fprintln(app.Stdout, raw)
	return nil
}

func practicesRevoke(ctx context.Context, app *App, args []string) error {
	if len(args) != 1 {
		return usagef("usage: gpfed practices revoke ODS|KEY_PREFIX")
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.RevokeAPIKeys(ctx, args[0], args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(app.Stdout, "revoked %d key(s)\n", n)
	return nil
}

func practicesWebhook(ctx context.Context, app *App, args []string) error {
	if len(args) != 1 && len(args) != 3 {
		return usagef("usage: gpfed practices webhook ODS URL SECRET   (or ODS alone to clear)")
	}
	url, secret := "", ""
	if len(args) == 3 {
		url, secret = args[1], args[2]
		if reason := practice.CheckEndpoint(url); reason != "" {
			return usagef("webhook URL: %s", reason)
		}
		if len(secret) < 16 {
			return usagef("webhook secret: at least 16 characters")
		}
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.SetWebhook(ctx, args[0], url, secret); err != nil {
		return err
	}
	fmt.Fprintf(app.Stdout, "webhook for %s updated\n", args[0])
	return nil
}

func runAdminKey(ctx context.Context, app *App, args []string) error {
	label := "admin"
	if len(args) == 1 {
		label = args[0]
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	raw, k, err := db.CreateAPIKey(ctx, store.RoleAdmin, "", label)
	if err != nil {
		return err
	}
	fmt.Fprintf(app.Stderr, "federation-admin key (prefix %s); store it now, it is not shown again:\n", k.Prefix)
	fmt.Fprintln(app.Stdout, raw)
	return nil
}
