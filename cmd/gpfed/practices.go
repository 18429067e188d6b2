package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/textrule"
)

func init() {
	register("practices", "manage member practices: import FILE | list | discover [ODS...] | token ODS | revoke ODS | webhook [--rotate [--keep-previous D]] ODS [URL] | rate-limit ODS N|default | reseal | deactivate [--yes] ODS... | max-in-flight ODS N|default", runPractices)
}

func runPractices(ctx context.Context, app *App, args []string) error {
	if len(args) == 0 {
		return usagef("practices: need a subcommand: import, list, discover, token, revoke, webhook, rate-limit, reseal, deactivate, max-in-flight")
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
	case "rate-limit":
		return practicesRateLimit(ctx, app, args[1:])
	case "reseal":
		return practicesReseal(ctx, app, args[1:])
	case "deactivate":
		return practicesDeactivate(ctx, app, args[1:])
	case "max-in-flight":
		return practicesMaxInFlight(ctx, app, args[1:])
	}
	return usagef("practices: unknown subcommand %q", args[0])
}

const importUsage = "usage: gpfed practices import [--tell-simulator URL] FILE.csv   (- reads standard input)"

func practicesImport(ctx context.Context, app *App, args []string) error {
	fset := flag.NewFlagSet("practices import", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	tellSim := fset.String("tell-simulator", "", "demo stacks only: hand each generated webhook secret to the simulator at this URL")
	if err := fset.Parse(args); err != nil {
		return usagef("%v; %s", err, importUsage)
	}
	args = fset.Args()
	if len(args) != 1 {
		return usagef("%s", importUsage)
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
	ps, err := practiceParser(app).Parse(in)
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
	res, err := db.ImportPracticesWith(ctx, ps, store.ImportOptions{SetWebhooks: setWebhooks, Keys: keyring(app),
		Actor: cliActor("import")})
	if errors.Is(err, store.ErrNoSecretKey) {
		return ExitError{Code: 1, Msg: "practices that get their first webhook need a generated secret, sealed with GPFED_SECRET_KEY, " +
			"which is not set (`gpfed secret-key` prints one); nothing was imported"}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(app.Stdout, "imported %d practices: %d new, %d updated, %d unchanged, %d deactivated\n",
		len(ps), res.Inserted, res.Updated, res.Unchanged, res.Deactivated)
	printChannelChanges(app, res.Channels)
	printNewSecrets(app, res.NewSecrets)
	if *tellSim != "" {
		if err := tellSimulator(ctx, *tellSim, res.NewSecrets); err != nil {
			return err
		}
	}
	if res.Deactivated > 0 {
		fmt.Fprintf(app.Stdout, "departed practices: %d undelivered task(s) failed with recipient_left (senders told); their API keys are revoked\n",
			res.FailedTasks)
	}
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

// printChannelChanges lists every webhook channel change an import made:
// where a practice's patient data goes is never changed silently.
func printChannelChanges(app *App, changes []store.ChannelChange) {
	for _, c := range changes {
		fmt.Fprintf(app.Stdout, "webhook channel of %s changed: %s -> %s%s%s\n", c.ODSCode, originText(c.OldOrigin),
			originText(c.NewOrigin), map[bool]string{true: " (new path)"}[c.PathChanged],
			map[bool]string{true: ", new secret"}[c.SecretRotated])
	}
}

func originText(o string) string {
	if o == "" {
		return "none (inbox)"
	}
	return o
}

// printNewSecrets shows generated webhook secrets once, on standard output
// (one "ODS SECRET" line each), with the warning on standard error.
func printNewSecrets(app *App, secrets map[string]string) {
	if len(secrets) == 0 {
		return
	}
	codes := make([]string, 0, len(secrets))
	for ods := range secrets {
		codes = append(codes, ods)
	}
	slices.Sort(codes)
	fmt.Fprintf(app.Stderr, "new webhook signing secrets for %d practice(s); give each to its practice now, they are not shown again:\n", len(codes))
	for _, ods := range codes {
		fmt.Fprintf(app.Stdout, "webhook secret %s %s\n", ods, secrets[ods])
	}
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
		// Stored text predates some rules: nothing from data may reach a
		// terminal as a control sequence.
		asid, endpoint := p.ASID, textrule.Printable(p.Endpoint)
		if !p.HasOverride() {
			asid, endpoint = "(SDS)", "(SDS, per interaction at each sync)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", p.ODSCode, textrule.Printable(p.Name), asid, p.Active, ch, endpoint)
	}
	return tw.Flush()
}

// tellSimulator hands generated webhook secrets to a simulated federation
// (`gpfed sim`, PUT /hooks/<ODS>/secret) so that its receivers verify what
// gpfed signs: the compose demo's import does this. Real practices get
// their secrets from the printed lines, by hand.
func tellSimulator(ctx context.Context, base string, secrets map[string]string) error {
	for ods, sec := range secrets {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimRight(base, "/")+"/hooks/"+ods+"/secret",
			strings.NewReader(sec))
		if err != nil {
			return usagef("--tell-simulator %q: %v", base, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("tell the simulator %s's secret: %w", ods, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("tell the simulator %s's secret: HTTP %d", ods, resp.StatusCode)
		}
	}
	return nil
}
