package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gpfed/gpfed/internal/secret"
	"github.com/gpfed/gpfed/internal/store"
)

func init() {
	register("admin-key", "issue a federation-admin API key (shown once)", runAdminKey)
	register("secret-key", "print a new random GPFED_SECRET_KEY (the key that seals webhook secrets)", runSecretKey)
}

func runSecretKey(_ context.Context, app *App, args []string) error {
	if len(args) != 0 {
		return usagef("usage: gpfed secret-key")
	}
	fmt.Fprintln(app.Stderr, "a new key for GPFED_SECRET_KEY; keep it in your secret store (losing it means rotating every webhook secret):")
	fmt.Fprintln(app.Stdout, secret.NewKey())
	return nil
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

const webhookUsage = "usage: gpfed practices webhook [--rotate [--keep-previous DURATION]] ODS [URL]   " +
	"(ODS URL sets the URL, ODS alone clears the webhook, --rotate replaces the secret; gpfed generates every secret)"

func practicesWebhook(ctx context.Context, app *App, args []string) error {
	fs := flag.NewFlagSet("practices webhook", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	rotate := fs.Bool("rotate", false, "replace the signing secret with a new generated one")
	keep := fs.Duration("keep-previous", 0, "keep signing with the replaced secret too for this long (at most 72h)")
	if err := fs.Parse(args); err != nil {
		return usagef("%v; %s", err, webhookUsage)
	}
	args = fs.Args()
	switch {
	case len(args) == 3:
		return usagef("gpfed generates webhook secrets (32 random bytes, shown once): drop the SECRET argument; %s", webhookUsage)
	case len(args) < 1 || len(args) > 2, *keep < 0, *keep > 0 && !*rotate:
		return usagef("%s", webhookUsage)
	case *keep > store.MaxSecretOverlap:
		return usagef("--keep-previous: %v", store.ErrOverlapTooLong)
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	c := store.WebhookChange{ODS: args[0], Rotate: *rotate, KeepPrevious: *keep, Actor: cliActor("cli")}
	if c.URL, err = webhookTarget(ctx, app, db, args, *rotate); err != nil {
		return err
	}
	secret, ch, err := db.ChangeWebhook(ctx, keyring(app), c)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ExitError{Code: 1, Msg: fmt.Sprintf("no practice %s", args[0])}
	case errors.Is(err, store.ErrInactive):
		return ExitError{Code: 1, Msg: fmt.Sprintf("%s is not an active member of the federation: no webhook can be set for it", args[0])}
	case errors.Is(err, store.ErrNoSecretKey):
		return ExitError{Code: 1, Msg: "GPFED_SECRET_KEY is not set: gpfed seals webhook secrets with it (`gpfed secret-key` prints one)"}
	case err != nil:
		return err
	}
	reportWebhook(app, args[0], ch, secret)
	return nil
}

// webhookTarget is the URL a webhook command sets: the one given (checked
// against the webhook policy), the current one for a bare --rotate, or ""
// to clear.
func webhookTarget(ctx context.Context, app *App, db *store.DB, args []string, rotate bool) (string, error) {
	if len(args) == 2 {
		if reason := practiceParser(app).CheckWebhookURL(args[1]); reason != "" {
			return "", usagef("webhook URL %s", reason)
		}
		return args[1], nil
	}
	if !rotate {
		return "", nil
	}
	p, err := db.GetPractice(ctx, args[0])
	if errors.Is(err, store.ErrNotFound) || (err == nil && p.WebhookURL == "") {
		return "", ExitError{Code: 1, Msg: fmt.Sprintf("practice %s has no webhook to rotate the secret of", args[0])}
	}
	return p.WebhookURL, err
}

// reportWebhook says what changed; a new secret goes alone to standard
// output (so a script can capture it) and is never shown again.
func reportWebhook(app *App, ods string, ch store.ChannelChange, secret string) {
	switch {
	case ch.ODSCode == "":
		fmt.Fprintf(app.Stderr, "webhook for %s unchanged\n", ods)
	case ch.NewOrigin == "":
		fmt.Fprintf(app.Stderr, "webhook for %s removed: tasks now wait in its API inbox\n", ods)
	default:
		fmt.Fprintf(app.Stderr, "webhook for %s: %s -> %s\n", ods, originText(ch.OldOrigin), ch.NewOrigin)
	}
	if ch.PreviousUntil != nil {
		fmt.Fprintf(app.Stderr, "deliveries are signed with the previous secret too until %s\n", ch.PreviousUntil.UTC().Format(time.RFC3339))
	}
	if secret != "" {
		fmt.Fprintf(app.Stderr, "new webhook signing secret for %s; give it to the practice now, it is not shown again:\n", ods)
		fmt.Fprintln(app.Stdout, secret)
	}
}

// practicesRateLimit sets a practice's per-key API rate limit.
func practicesRateLimit(ctx context.Context, app *App, args []string) error {
	if len(args) != 2 {
		return usagef("usage: gpfed practices rate-limit ODS N|default   (requests per minute per API key; 0 is unlimited)")
	}
	var limit *int
	if args[1] != "default" {
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 {
			return usagef("rate limit %q: want a whole number of requests per minute >= 0, or default", args[1])
		}
		limit = &n
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.SetRateLimit(ctx, args[0], limit); errors.Is(err, store.ErrNotFound) {
		return ExitError{Code: 1, Msg: fmt.Sprintf("no practice %s", args[0])}
	} else if err != nil {
		return err
	}
	if limit == nil {
		fmt.Fprintf(app.Stdout, "%s follows GPFED_RATE_LIMIT_PER_MINUTE (%d per minute per key)\n", args[0], app.Cfg.Security.RateLimitPerMinute)
		return nil
	}
	fmt.Fprintf(app.Stdout, "%s: %d requests per minute per key (0: unlimited)\n", args[0], *limit)
	return nil
}

// practicesReseal reports whether every stored webhook secret is sealed
// under the current key (every command reseals on start; this one says so).
func practicesReseal(ctx context.Context, app *App, args []string) error {
	if len(args) != 0 {
		return usagef("usage: gpfed practices reseal")
	}
	kr := keyring(app)
	if !kr.HasKey() {
		return ExitError{Code: 1, Msg: "GPFED_SECRET_KEY is not set: nothing can be sealed"}
	}
	db, err := openDB(ctx, app) // reseals on the way
	if err != nil {
		return err
	}
	defer db.Close()
	problems, plaintext, err := db.CheckSecrets(ctx, kr)
	if err != nil {
		return err
	}
	if err := store.SecretProblemsError(problems); err != nil {
		return err
	}
	fmt.Fprintf(app.Stdout, "every stored webhook secret is sealed under key %s (%d in clear)\n", kr.CurrentID(), plaintext)
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
