package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/sds"
)

// discovery is one practice's SDS answer as `practices discover` shows it.
type discovery struct {
	ODS         string `json:"ods_code"`
	Name        string `json:"name,omitempty"`
	Member      bool   `json:"member"`
	Interaction string `json:"interaction"`
	// Outcome is found, not_enabled or error.
	Outcome  string `json:"outcome"`
	Address  string `json:"service_root,omitempty"`
	ASID     string `json:"asid,omitempty"`
	PartyKey string `json:"party_key,omitempty"`
	Code     string `json:"code,omitempty"`
	Error    string `json:"error,omitempty"`
	// Override is the practice's CSV endpoint and ASID, which syncs use
	// instead of SDS; OverrideMatches compares them with SDS's answer.
	Override        string `json:"override,omitempty"`
	OverrideMatches *bool  `json:"override_matches_sds,omitempty"`
}

// practicesDiscover shows what SDS says about practices (default: every
// active member) before a sync, without storing anything. Exit 1 when any
// lookup failed (outage, bad directory data, a refused key).
func practicesDiscover(ctx context.Context, app *App, args []string) error {
	fs := flag.NewFlagSet("practices discover", flag.ContinueOnError)
	fs.SetOutput(app.Stderr)
	ia := fs.String("interaction", gpconnect.InteractionSearchSlots, "interaction ID to look up (short forms like search:slot-1 work)")
	format := fs.String("format", "table", "table or json")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if *format != "table" && *format != "json" {
		return usagef("--format must be table or json")
	}
	codes, err := discoverCodes(fs.Args())
	if err != nil {
		return err
	}
	client, err := newSDSClient(app)
	if err != nil {
		return usagef("%v", err)
	}
	if client == nil {
		return usagef("practices discover needs GPFED_SDS_URL and GPFED_SDS_API_KEY (the Spine Directory Service)")
	}
	db, err := openDB(ctx, app)
	if err != nil {
		return err
	}
	defer db.Close()
	members, err := db.ListPractices(ctx, len(codes) == 0)
	if err != nil {
		return err
	}
	results := lookupAll(ctx, client, members, codes, fullInteraction(*ia))
	if *format == "json" {
		enc := json.NewEncoder(app.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		printDiscoveries(app.Stdout, results)
	}
	failed := 0
	for _, r := range results {
		if r.Outcome == "error" {
			failed++
		}
	}
	if failed > 0 {
		return ExitError{Code: 1, Msg: fmt.Sprintf("%d of %d lookups failed", failed, len(results))}
	}
	return nil
}

func discoverCodes(args []string) ([]string, error) {
	var codes []string
	for _, a := range args {
		c := strings.ToUpper(strings.TrimSpace(a))
		if !practice.ValidODS(c) {
			return nil, usagef("%q is not an ODS code", a)
		}
		codes = append(codes, c)
	}
	return codes, nil
}

// fullInteraction expands "search:slot-1" to the GP Connect interaction URN.
func fullInteraction(s string) string {
	if strings.HasPrefix(s, "urn:") {
		return s
	}
	return "urn:nhs:names:services:gpconnect:fhir:rest:" + s
}

// lookupAll asks SDS about codes (every member when empty), a few at a time.
func lookupAll(ctx context.Context, client *sds.Client, members []practice.Practice, codes []string, interaction string) []discovery {
	byODS := map[string]practice.Practice{}
	for _, p := range members {
		byODS[p.ODSCode] = p
	}
	if len(codes) == 0 {
		for _, p := range members {
			codes = append(codes, p.ODSCode)
		}
	}
	out := make([]discovery, len(codes))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, ods := range codes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			p, member := byODS[ods]
			ep, err := client.Lookup(ctx, ods, interaction)
			out[i] = describe(ods, p, member, interaction, ep, err)
		}()
	}
	wg.Wait()
	return out
}

func describe(ods string, p practice.Practice, member bool, interaction string, ep sds.Endpoint, err error) discovery {
	d := discovery{ODS: ods, Name: p.Name, Member: member, Interaction: interaction}
	var serr *sds.Error
	switch {
	case errors.Is(err, sds.ErrNotEnabled):
		d.Outcome = "not_enabled"
	case errors.As(err, &serr):
		d.Outcome, d.Code, d.Error = "error", serr.Code(), serr.Error()
	case err != nil:
		d.Outcome, d.Error = "error", err.Error()
	default:
		d.Outcome, d.Address, d.ASID, d.PartyKey = "found", ep.Address, ep.ASID, ep.PartyKey
	}
	if p.HasOverride() {
		d.Override = p.Endpoint + " " + p.ASID
		if d.Outcome == "found" {
			same := p.Endpoint == ep.Address && p.ASID == ep.ASID
			d.OverrideMatches = &same
		}
	}
	return d
}

func printDiscoveries(w io.Writer, ds []discovery) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ODS\tNAME\tSDS\tSERVICE ROOT\tASID\tPARTY KEY\tOVERRIDE (used by syncs)")
	for _, d := range ds {
		name := d.Name
		if !d.Member {
			name = "(not a member)"
		}
		sdsSays := map[string]string{"found": "found", "not_enabled": "not GP Connect enabled", "error": d.Code}[d.Outcome]
		root, asid, key := dash(d.Address), dash(d.ASID), dash(d.PartyKey)
		if d.Outcome == "error" {
			root = oneLine(d.Error, 100)
		}
		override := "-"
		switch {
		case d.OverrideMatches != nil && *d.OverrideMatches:
			override = "same as SDS"
		case d.Override != "":
			override = "differs: " + d.Override
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ODS, name, sdsSays, root, asid, key, override)
	}
	_ = tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
