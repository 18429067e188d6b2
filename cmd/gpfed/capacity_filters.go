package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gpfed/gpfed/internal/capacity"
	"github.com/gpfed/gpfed/internal/store"
)

// listLimit bounds how many valid values an error lists (a federation may
// have hundreds of practices).
const listLimit = 15

// sdsRoleCode is the shape of an SDS job role code (R0260 is a GP).
var sdsRoleCode = regexp.MustCompile(`^R[0-9]{4}$`)

// checkCapacityFilters explains, before any query, a filter that cannot
// match: a practice that is not an active member, a role or channel that
// is not one (an empty table and exit 0 used to be the only answer).
func checkCapacityFilters(ctx context.Context, db *store.DB, f store.CapacityFilter) error {
	if len(f.Practices) > 0 {
		if err := checkPractices(ctx, db, f.Practices); err != nil {
			return err
		}
	}
	if f.DeliveryChannel != "" && !slices.Contains(capacity.Channels, f.DeliveryChannel) {
		hint := ""
		for _, c := range capacity.Channels {
			if strings.EqualFold(c, f.DeliveryChannel) {
				hint = fmt.Sprintf(" (did you mean %s? channels are case-sensitive)", c)
			}
		}
		return usagef("--channel %q is not a delivery channel%s; valid: %s", f.DeliveryChannel, hint,
			strings.Join(capacity.Channels, ", "))
	}
	if f.Role != "" && f.Role != "unspecified" && !sdsRoleCode.MatchString(f.Role) {
		roles, _, err := db.CapacityFacets(ctx, f.From, f.To)
		if err != nil {
			return err
		}
		return usagef("--role %q is not an SDS job role code (R followed by 4 digits, e.g. R0260 for a GP); codes in the data for %s to %s: %s",
			f.Role, f.From.Format(time.DateOnly), f.To.Format(time.DateOnly), listOrNone(roles))
	}
	return nil
}

func checkPractices(ctx context.Context, db *store.DB, want []string) error {
	ps, err := db.ListPractices(ctx, true)
	if err != nil {
		return err
	}
	active := map[string]bool{}
	valid := make([]string, 0, len(ps))
	for _, p := range ps {
		active[p.ODSCode] = true
		valid = append(valid, p.ODSCode+" ("+p.Name+")")
	}
	var unknown []string
	for _, ods := range want {
		if !active[ods] {
			unknown = append(unknown, ods)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return usagef("--practice %s: not an active member; active members: %s", strings.Join(unknown, ", "), listOrNone(valid))
}

// explainEmpty says why a query with valid filters returned no rows: the
// dates lie outside what was synced, or the role or channel has no slots
// in them. It returns nil when there is nothing better to say.
func explainEmpty(ctx context.Context, db *store.DB, f store.CapacityFilter) error {
	first, last, ok, err := db.CapacityExtent(ctx)
	if err != nil {
		return err
	}
	span := fmt.Sprintf("%s to %s", f.From.Format(time.DateOnly), f.To.Format(time.DateOnly))
	if !ok {
		return ExitError{Code: 2, Msg: "no capacity has been synced yet: run `gpfed sync --once` (or wait for the scheduled sync)"}
	}
	if f.To.Before(first) || f.From.After(last) {
		return ExitError{Code: 2, Msg: fmt.Sprintf("no synced capacity for %s: the last syncs cover %s to %s (GPFED_SYNC_DAYS ahead of each sync)",
			span, first.Format(time.DateOnly), last.Format(time.DateOnly))}
	}
	if f.Role == "" && f.DeliveryChannel == "" {
		return nil // the practices simply have no free slots then
	}
	roles, channels, err := db.CapacityFacets(ctx, f.From, f.To)
	if err != nil {
		return err
	}
	if f.Role != "" {
		return ExitError{Code: 2, Msg: fmt.Sprintf("no free slots with role %s for %s; roles in the data: %s", f.Role, span, listOrNone(roles))}
	}
	return ExitError{Code: 2, Msg: fmt.Sprintf("no free %s slots for %s; channels in the data: %s", f.DeliveryChannel, span, listOrNone(channels))}
}

func listOrNone(vs []string) string {
	switch {
	case len(vs) == 0:
		return "none"
	case len(vs) > listLimit:
		return fmt.Sprintf("%s and %d more", strings.Join(vs[:listLimit], ", "), len(vs)-listLimit)
	}
	return strings.Join(vs, ", ")
}
