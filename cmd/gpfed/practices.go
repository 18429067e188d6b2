package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"text/tabwriter"

	"github.com/gpfed/gpfed/internal/practice"
)

func init() {
	register("practices", "manage member practices: import FILE | list | token ODS | revoke ODS | webhook [--keep-previous D] ODS URL SECRET|- | deactivate [--yes] ODS... | max-in-flight ODS N|default", runPractices)
}

func runPractices(ctx context.Context, app *App, args []string) error {
	if len(args) == 0 {
		return usagef("practices: need a subcommand: import, list, token, revoke, webhook, deactivate, max-in-flight")
	}
	switch args[0] {
	case "import":
		return practicesImport(ctx, app, args[1:])
	case "list":
		return practicesList(ctx, app, args[1:])
	case "token":
		return practicesToken(ctx, app, args[1:])
	case "revoke":
		return practicesRevoke(ctx, app, args[1:])
	case "webhook":
		return practicesWebhook(ctx, app, args[1:])
	case "deactivate":
		return practicesDeactivate(ctx, app, args[1:])
	case "max-in-flight":
		return practicesMaxInFlight(ctx, app, args[1:])
	}
	return usagef("practices: unknown subcommand %q", args[0])
}

func practicesImport(ctx context.Context, app *App, args []string) error {
	if len(args) != 1 {
		return usagef("usage: gpfed practices import FILE.csv   (- reads standard input)")
	}
	var in io.Reader = os.Stdin
	if args[0] != "-" {
		f, err := os.Open(args[0])
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return usagef("cannot read %s: %v", args[0], pe.Err)
		}
		if err != nil {
			return usagef("%v", err)
		}
		defer f.Close()
		in = f
	}
	ps, err := practice.ParseCSV(in)
	var ie *practice.ImportError
	if errors.As(err, &ie) {
		return ExitError{Code: 1, Msg: fmt.Sprintf("%s: %v", args[0], ie)}
	}
	if err != nil {
		return err
	}
	setWebhooks := false
	for _, p := range ps {
		if p.WebhookURL != "" {
			setWebhooks = true
		}
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.ImportPractices(ctx, ps, setWebhooks)
	if err != nil {
		return err
	}
	fmt.Fprintf(app.Stdout, "imported %d practices: %d new, %d updated, %d unchanged, %d deactivated\n",
		len(ps), res.Inserted, res.Updated, res.Unchanged, res.Deactivated)
	if res.Deactivated > 0 {
		fmt.Fprintf(app.Stdout, "departed practices: %d undelivered task(s) failed with recipient_left (senders told); their API keys are revoked\n",
			res.FailedTasks)
	}
	return nil
}

func practicesList(ctx context.Context, app *App, args []string) error {
	fs := flag.NewFlagSet("practices list", flag.ContinueOnError)
	all := fs.Bool("all", false, "include deactivated practices")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	ps, err := db.ListPractices(ctx, !*all)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(app.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ODS\tNAME\tASID\tACTIVE\tCHANNEL\tENDPOINT")
	for _, p := range ps {
		ch := "inbox"
		if p.WebhookURL != "" {
			ch = "webhook"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", p.ODSCode, p.Name, p.ASID, p.Active, ch, p.Endpoint)
	}
	return tw.Flush()
}
