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
	fs := flag.NewFlagSet("slots", flag.ContinueOnError)
	fs.SetOutput(app.Stderr)
	ff := addFilterFlags(fs, app)
	limit := fs.Int("limit", 100, "at most this many slots (soonest first)")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	r, err := ff.filter()
	if err != nil {
		return err
	}
	if *limit < 1 {
		return usagef("--limit must be at least 1")
	}
	for _, ods := range r.Practices {
		if !practice.ValidODS(ods) {
			return usagef("--practice %q is not an ODS code", ods)
		}
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	// The same filter rules and explanations as `gpfed capacity`.
	if err := checkCapacityFilters(ctx, db, r); err != nil {
		return err
	}
	slots, err := db.ListFreeSlots(ctx, store.SlotFilter{From: r.From, To: r.To, Now: time.Now(), Practices: r.Practices,
		Role: r.Role, DeliveryChannel: r.DeliveryChannel, Limit: *limit})
	if err != nil {
		return err
	}
	if len(slots) == 0 {
		if err := explainEmpty(ctx, db, r); err != nil {
			return err
		}
	}
	switch *ff.format {
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
