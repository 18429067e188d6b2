package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/audit"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/textrule"
)

func init() {
	register("audit", "query the access audit: [--from --to --practice --key --key-prefix --action --resource --failures] [--format table|csv|json] [--limit N]", runAudit)
}

// runAudit prints access records, newest first: a table (default, at most
// --limit rows) or, for an information-governance review, every match as
// CSV (--format csv) or JSON lines.
func runAudit(ctx context.Context, app *App, args []string) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(app.Stderr)
	vals := map[string]*string{}
	for _, p := range audit.Params {
		vals[p] = fs.String(strings.ReplaceAll(p, "_", "-"), "", auditFlagHelp[p])
	}
	format := fs.String("format", "table", "table, csv (every match) or json (every match, one object per line)")
	limit := fs.Int("limit", 50, "rows in table format")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() > 0 || *limit < 1 || (*format != "table" && *format != "csv" && *format != "json") {
		return usagef("usage: gpfed audit [filters] [--format table|csv|json] [--limit N]")
	}
	v := url.Values{}
	for p, s := range vals {
		if *s != "" {
			v.Set(p, *s)
		}
	}
	loc, _ := time.LoadLocation("Europe/London")
	f, errs := audit.ParseFilter(v, loc)
	if len(errs) > 0 {
		return usagef("%s", filterErrors(errs))
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	list := func(f store.AccessFilter) ([]store.AccessRecord, error) { return db.ListAccess(ctx, f) }
	switch *format {
	case "csv":
		return auditCSV(ctx, app.Stdout, list, f)
	case "json":
		return auditJSON(ctx, app.Stdout, list, f)
	}
	f.Limit = *limit
	recs, err := list(f)
	if err != nil {
		return err
	}
	return auditTable(app.Stdout, recs)
}

var auditFlagHelp = map[string]string{
	"from": "records at or after (RFC 3339, or a UK date YYYY-MM-DD)", "to": "records before (exclusive)",
	"practice": "the acting practice's ODS code", "key": "API key id (UUID)", "key_prefix": "API key prefix (gpfed_xxxxxx)",
	"action": "e.g. task.read, task.list_inbox, auth.failed", "resource": "a task or notification id",
	"failures": "true: refused requests only (status >= 400)",
}

func filterErrors(errs map[string]string) string {
	var parts []string
	for name, reason := range errs {
		parts = append(parts, "--"+strings.ReplaceAll(name, "_", "-")+" "+reason)
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func auditCSV(ctx context.Context, w io.Writer, list func(store.AccessFilter) ([]store.AccessRecord, error), f store.AccessFilter) error {
	cw, err := audit.NewCSVWriter(w)
	if err != nil {
		return err
	}
	if _, err := audit.Export(ctx, list, f, cw, 5000, 0); err != nil {
		return err
	}
	return cw.Flush()
}

func auditJSON(ctx context.Context, w io.Writer, list func(store.AccessFilter) ([]store.AccessRecord, error), f store.AccessFilter) error {
	jw := audit.NewJSONLines(w)
	_, err := audit.Export(ctx, list, f, jw, 5000, 0)
	return err
}

func auditTable(w io.Writer, recs []store.AccessRecord) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT (UK)\tWHO\tKEY\tACTION\tSTATUS\tRESOURCES\tFROM")
	loc, _ := time.LoadLocation("Europe/London")
	for _, r := range recs {
		who := r.ActorRole
		if r.ODSCode != "" {
			who = r.ODSCode
		}
		key := r.KeyPrefix
		if r.APIKeyID != uuid.Nil {
			key = r.APIKeyID.String()[:8] + " " + r.KeyPrefix
		}
		status := fmt.Sprint(r.Status)
		if r.Reason != "" {
			status += " " + r.Reason
		}
		res := strings.Join(r.ResourceIDs, ",")
		if len(r.ResourceIDs) > 2 {
			res = fmt.Sprintf("%s,… (%d)", strings.Join(r.ResourceIDs[:2], ","), len(r.ResourceIDs))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.In(loc).Format("2006-01-02 15:04:05"), who,
			textrule.Printable(key), r.Action, status, res, textrule.Printable(r.RemoteAddr))
	}
	return tw.Flush()
}
