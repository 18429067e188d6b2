package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
)

func init() {
	register("tasks", "operate on tasks: redeliver [--recipient ODS --failed-since TIME] [--yes] [ID...]", runTasks)
}

func runTasks(ctx context.Context, app *App, args []string) error {
	if len(args) == 0 || args[0] != "redeliver" {
		return usagef("tasks: the subcommand is redeliver; %s", redeliverUsage)
	}
	return tasksRedeliver(ctx, app, args[1:])
}

const redeliverUsage = "usage: gpfed tasks redeliver [--yes] ID... | gpfed tasks redeliver [--yes] --recipient ODS --failed-since TIME" +
	"   (TIME: RFC 3339 or a duration ago, e.g. 6h; without --yes: a dry run)"

// tasksRedeliver sends failed tasks again once their recipient's endpoint
// is fixed: the same task id and Idempotency-Key, a 'redelivered' audit
// event, and the sender told of the new outcome. Without --yes it lists
// what it would redeliver.
func tasksRedeliver(ctx context.Context, app *App, args []string) error {
	fs := flag.NewFlagSet("tasks redeliver", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	yes := fs.Bool("yes", false, "redeliver (default: a dry run)")
	recipient := fs.String("recipient", "", "ODS code of the recipient practice")
	since := fs.String("failed-since", "", "failed at or after this time: RFC 3339, or a duration ago (6h)")
	if err := fs.Parse(args); err != nil {
		return usagef("%v; %s", err, redeliverUsage)
	}
	f, err := redeliverFilter(fs.Args(), *recipient, *since, time.Now())
	if err != nil {
		return err
	}
	c, err := connect(ctx, app)
	if err != nil {
		return err
	}
	defer c.Close()
	found, err := c.DB.RedeliverTasks(ctx, f, app.Cfg.Tasks.MaxAge, "operator", !*yes)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(app.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tFROM\tTO\tFAILED\tLAST ERROR")
	for _, d := range found {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.SenderODS, d.RecipientODS, d.FailedAt.UTC().Format(time.RFC3339), oneLine(d.LastError, 80))
	}
	_ = tw.Flush()
	if !*yes {
		fmt.Fprintf(app.Stdout, "dry run: %d failed task(s) would be redelivered. Add --yes to do it.\n", len(found))
		return nil
	}
	if len(found) > 0 {
		newWaker(app, c.Client).Wake(ctx, false)
	}
	fmt.Fprintf(app.Stdout, "redelivering %d task(s); their senders will be told the outcome\n", len(found))
	return nil
}

// redeliverFilter checks the arguments: task ids, or a recipient and a
// failure time (never everything at once by accident).
func redeliverFilter(ids []string, recipient, since string, now time.Time) (store.RedeliverFilter, error) {
	var f store.RedeliverFilter
	for _, s := range ids {
		id, err := uuid.Parse(s)
		if err != nil {
			return f, usagef("%q is not a task id; %s", s, redeliverUsage)
		}
		f.IDs = append(f.IDs, id)
	}
	if recipient != "" {
		f.Recipient = strings.ToUpper(recipient)
		if !practice.ValidODS(f.Recipient) {
			return f, usagef("--recipient %q is not an ODS code", recipient)
		}
	}
	if since != "" {
		if d, err := time.ParseDuration(since); err == nil && d > 0 {
			f.FailedSince = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339, since); err == nil {
			f.FailedSince = t
		} else {
			return f, usagef("--failed-since %q: want RFC 3339 (2026-11-29T08:00:00Z) or a duration ago (6h)", since)
		}
	}
	switch {
	case len(f.IDs) > 0 && (f.Recipient != "" || since != ""):
		return f, usagef("give task ids, or --recipient with --failed-since, not both; %s", redeliverUsage)
	case len(f.IDs) == 0 && (f.Recipient == "" || since == ""):
		return f, usagef("%s", redeliverUsage)
	}
	return f, nil
}
