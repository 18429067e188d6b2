package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/gpfed/gpfed/internal/capacity"
	"github.com/gpfed/gpfed/internal/store"
)

func init() {
	register("capacity", "print free capacity: capacity [--from D] [--to D] [--format table|json|csv] [--practice ODS]... [--role R] [--channel C]", runCapacity)
}

func runCapacity(ctx context.Context, app *App, args []string) error {
	fs := flag.NewFlagSet("capacity", flag.ContinueOnError)
	fs.SetOutput(app.Stderr)
	ff := addFilterFlags(fs, app)
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	f, err := ff.filter()
	if err != nil {
		return err
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkCapacityFilters(ctx, db, f); err != nil {
		return err
	}
	rows, err := db.Capacity(ctx, f)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		if err := explainEmpty(ctx, db, f); err != nil {
			return err
		}
	}
	switch *ff.format {
	case "json":
		enc := json.NewEncoder(app.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	case "csv":
		return capacity.WriteCSV(app.Stdout, rows)
	}
	return writeCapacityTable(app.Stdout, rows)
}

// filterFlags are the date range, output format and filters `capacity`
// and `slots` share.
type filterFlags struct {
	from, to, format, role, channel *string
	practices                       multiFlag
}

func addFilterFlags(fs *flag.FlagSet, app *App) *filterFlags {
	loc, _ := time.LoadLocation(app.Cfg.Sync.TimeZone)
	now := time.Now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	ff := &filterFlags{
		from:    fs.String("from", today.Format(time.DateOnly), "first date (YYYY-MM-DD, UK local)"),
		to:      fs.String("to", today.AddDate(0, 0, app.Cfg.Sync.Days-1).Format(time.DateOnly), "last date, inclusive"),
		format:  fs.String("format", "table", "table, json or csv"),
		role:    fs.String("role", "", "only slots of this SDS job role code (e.g. R0260)"),
		channel: fs.String("channel", "", "only this delivery channel (In-person, Telephone, Video)"),
	}
	fs.Var(&ff.practices, "practice", "ODS code (repeatable; default all active practices)")
	return ff
}

// filter is the parsed flags' filter, or a usage error.
func (ff *filterFlags) filter() (store.CapacityFilter, error) {
	f, err := parseRange(*ff.from, *ff.to)
	if err != nil {
		return f, usagef("%v", err)
	}
	if *ff.format != "table" && *ff.format != "json" && *ff.format != "csv" {
		return f, usagef("--format must be table, json or csv")
	}
	f.Practices, f.Role, f.DeliveryChannel = ff.practices, *ff.role, *ff.channel
	return f, nil
}

func parseRange(from, to string) (store.CapacityFilter, error) {
	var f store.CapacityFilter
	var err error
	if f.From, err = time.Parse(time.DateOnly, from); err != nil {
		return f, fmt.Errorf("--from %q: want YYYY-MM-DD", from)
	}
	if f.To, err = time.Parse(time.DateOnly, to); err != nil {
		return f, fmt.Errorf("--to %q: want YYYY-MM-DD", to)
	}
	if f.To.Before(f.From) {
		return f, fmt.Errorf("--to %s is before --from %s", to, from)
	}
	if f.To.Sub(f.From) > 366*24*time.Hour {
		return f, fmt.Errorf("the range is over 366 days")
	}
	return f, nil
}

func writeCapacityTable(w io.Writer, rows []store.CapacityRow) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ODS\tPRACTICE\tDATE\tSLOTS\tMINUTES\tBY CHANNEL\tBY ROLE\t")
	totalSlots, totalMins := 0, 0
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t\n", r.ODSCode, r.PracticeName, r.Date, r.FreeSlots, r.FreeMinutes,
			capacity.Pairs(r.ByDeliveryChannel), capacity.Pairs(r.ByRole))
		totalSlots += r.FreeSlots
		totalMins += r.FreeMinutes
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t%d\t%d\t\t\t\n", totalSlots, totalMins)
	return tw.Flush()
}
