package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
)

const deactivateUsage = "usage: gpfed practices deactivate [--yes] ODS...   (without --yes: show what would change)"

// practicesDeactivate ends practices' membership: their undelivered tasks
// fail with recipient_left (senders are told), their API keys are revoked
// and nothing more is sent to them. Without --yes it only says what would
// happen.
func practicesDeactivate(ctx context.Context, app *App, args []string) error {
	fs := flag.NewFlagSet("practices deactivate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	yes := fs.Bool("yes", false, "deactivate (default: a dry run)")
	if err := fs.Parse(args); err != nil {
		return usagef("%v; %s", err, deactivateUsage)
	}
	codes := fs.Args()
	if len(codes) == 0 {
		return usagef("%s", deactivateUsage)
	}
	for i, c := range codes {
		codes[i] = strings.ToUpper(strings.TrimSpace(c))
		if !practice.ValidODS(codes[i]) {
			return usagef("%q is not an ODS code", c)
		}
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	if !*yes {
		imp, err := db.ImpactOfLeaving(ctx, codes)
		if err != nil {
			return err
		}
		fmt.Fprintf(app.Stdout, "dry run: deactivating %s would fail %d undelivered task(s) with recipient_left (their senders are told), "+
			"let %d delivery(ies) in flight finish, and revoke %d API key(s). Add --yes to do it.\n",
			strings.Join(codes, ", "), imp.WaitingTasks, imp.InFlight, imp.Keys)
		return nil
	}
	d, err := db.DeactivatePractices(ctx, codes)
	if errors.Is(err, store.ErrNotFound) {
		return usagef("unknown practice among %s", strings.Join(codes, ", "))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(app.Stdout, "deactivated %d practice(s) %v; %d undelivered task(s) failed with recipient_left; their keys are revoked\n",
		len(d.Deactivated), d.Deactivated, d.FailedTasks)
	return nil
}

const capUsage = "usage: gpfed practices max-in-flight ODS N|default   (deliveries in flight to its endpoint at once)"

// practicesMaxInFlight sets or clears a practice's own in-flight cap.
func practicesMaxInFlight(ctx context.Context, app *App, args []string) error {
	if len(args) != 2 {
		return usagef("%s", capUsage)
	}
	var capacity *int
	if args[1] != "default" {
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 || n > 1000 {
			return usagef("N must be a whole number from 1 to 1000, or default; %s", capUsage)
		}
		capacity = &n
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.SetDeliveryCap(ctx, strings.ToUpper(args[0]), capacity); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return usagef("unknown practice %s", args[0])
		}
		return err
	}
	if capacity == nil {
		fmt.Fprintf(app.Stdout, "%s uses the default cap (GPFED_ENDPOINT_MAX_IN_FLIGHT=%d)\n", args[0], app.Cfg.Delivery.EndpointMaxInFlight)
		return nil
	}
	fmt.Fprintf(app.Stdout, "at most %d deliveries in flight to %s at once\n", *capacity, args[0])
	return nil
}
