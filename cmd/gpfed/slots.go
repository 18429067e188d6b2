package main

import (
	"context"
	"encoding/json"
	"flag"
	"time"

	"github.com/gpfed/gpfed/internal/freeslot"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
)

func init() {
	register("slots", "list free slots across the federation: slots [--from D] [--to D] [--practice ODS]... [--role R] [--channel C] [--format table|json|csv] [--limit N]", runSlots)
}

// runSlots prints what GET /v1/slots lists: free slots no booking holds,
// soonest first, each with its practice's last successful sync (as_of).
func runSlots(ctx context.Context, app *App, args []string) error {
	loc, _ := time.LoadLocation(app.Cfg.Sync.TimeZone)
	now := time.Now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	fs := flag.NewFlagSet("slots", flag.ContinueOnError)
	fs.SetOutput(app.Stderr)
	from := fs.String("from", today.Format(time.DateOnly), "first date (YYYY-MM-DD, UK local)")
	to := fs.String("to", today.AddDate(0, 0, app.Cfg.Sync.Days-1).Format(time.DateOnly), "last date, inclusive")
	format := fs.String("format", "table", "table, json or csv")
	role := fs.String("role", "", "only slots of this SDS job role code (e.g. R0260)")
	channel := fs.String("channel", "", "only this delivery channel (In-person, Telephone, Video)")
	limit := fs.Int("limit", 100, "at most this many slots (soonest first)")
	var practices multiFlag
	fs.Var(&practices, "practice", "ODS code (repeatable; default all active practices)")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	r, err := parseRange(*from, *to)
	if err != nil {
		return usagef("%v", err)
	}
	if *format != "table" && *format != "json" && *format != "csv" {
		return usagef("--format must be table, json or csv")
	}
	if *limit < 1 {
		return usagef("--limit must be at least 1")
	}
	for _, ods := range practices {
		if !practice.ValidODS(ods) {
			return usagef("--practice %q is not an ODS code", ods)
		}
	}
	r.Practices, r.Role, r.DeliveryChannel = practices, *role, *channel
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	// The same filter rules and explanations as `gpfed capacity`.
	if err := checkCapacityFilters(ctx, db, r); err != nil {
		return err
	}
	slots, err := db.ListFreeSlots(ctx, store.SlotFilter{From: r.From, To: r.To, Now: time.Now(), Practices: practices,
		Role: *role, DeliveryChannel: *channel, Limit: *limit})
	if err != nil {
		return err
	}
	if len(slots) == 0 {
		if err := explainEmpty(ctx, db, r); err != nil {
			return err
		}
	}
	switch *format {
	case "json":
		views := make([]freeslot.View, len(slots))
		for i, s := range slots {
			views[i] = freeslot.ToView(s)
		}
		enc := json.NewEncoder(app.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(views)
	case "csv":
		return freeslot.WriteCSV(app.Stdout, slots)
	}
	return freeslot.WriteTable(app.Stdout, slots)
}
