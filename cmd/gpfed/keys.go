package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

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

const webhookUsage = "usage: gpfed practices webhook [--keep-previous DURATION] ODS URL SECRET|-   (- reads the secret from standard input; ODS alone clears the webhook)"

func practicesWebhook(ctx context.Context, app *App, args []string) error {
	fs := flag.NewFlagSet("practices webhook", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keep := fs.Duration("keep-previous", 0, "keep signing with the replaced secret too for this long (rotation)")
	if err := fs.Parse(args); err != nil {
		return usagef("%v; %s", err, webhookUsage)
	}
	args = fs.Args()
	if (len(args) != 1 && len(args) != 3) || *keep < 0 || (*keep > 0 && len(args) != 3) {
		return usagef("%s", webhookUsage)
	}
	url, secret := "", ""
	if len(args) == 3 {
		url, secret = args[1], args[2]
		if secret == "-" {
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read the secret from standard input: %w", err)
			}
			secret = strings.TrimRight(line, "\r\n")
		}
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
	if err := db.SetWebhook(ctx, args[0], url, secret, *keep); err != nil {
		if errors.Is(err, store.ErrInactive) {
			return ExitError{Code: 1, Msg: fmt.Sprintf("%s is not an active member of the federation: no webhook can be set for it", args[0])}
		}
		return err
	}
	if *keep > 0 {
		fmt.Fprintf(app.Stdout, "webhook for %s updated; deliveries are signed with the previous secret too until %s\n",
			args[0], time.Now().Add(*keep).UTC().Format(time.RFC3339))
		return nil
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
