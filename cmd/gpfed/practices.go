package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/gpfed/gpfed/internal/practice"
)

func init() {
	register("practices", "manage member practices: import FILE | list | discover [ODS...] | token ODS | revoke ODS | webhook [--keep-previous D] ODS URL SECRET|-", runPractices)
}

func runPractices(ctx context.Context, app *App, args []string) error {
	if len(args) == 0 {
		return usagef("practices: need a subcommand: import, list, discover, token, revoke, webhook")
	}
	switch args[0] {
	case "import":
		return practicesImport(ctx, app, args[1:])
	case "list":
		return practicesList(ctx, app, args[1:])
	case "discover":
		return practicesDiscover(ctx, app, args[1:])
	case "token":
		return practicesToken(ctx, app, args[1:])
	case "revoke":
		return practicesRevoke(ctx, app, args[1:])
	case "webhook":
		return practicesWebhook(ctx, app, args[1:])
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
		if err != nil {
			return usagef("open %s: %v", args[0], err)
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
	viaSDS := 0
	for _, p := range ps {
		if !p.HasOverride() {
			viaSDS++
		}
	}
	switch {
	case viaSDS > 0 && app.Cfg.SDS.URL == "":
		fmt.Fprintf(app.Stdout, "%d practices have no endpoint override and will be resolved through SDS: set GPFED_SDS_URL and GPFED_SDS_API_KEY (until then their syncs fail with SDS_NOT_CONFIGURED)\n", viaSDS)
	case viaSDS > 0:
		fmt.Fprintf(app.Stdout, "%d practices will be resolved through SDS at each sync; check them first with: gpfed practices discover\n", viaSDS)
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
		asid, endpoint := p.ASID, p.Endpoint
		if !p.HasOverride() {
			asid, endpoint = "(SDS)", "(SDS, per interaction at each sync)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", p.ODSCode, p.Name, asid, p.Active, ch, endpoint)
	}
	return tw.Flush()
}
