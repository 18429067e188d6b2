package gpconnect

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SlotSearchResult is the outcome of SearchFreeSlots.
type SlotSearchResult struct {
	Slots    []Slot
	Calls    int      // HTTP requests made, retries included
	TraceIDs []string // Ssp-TraceID of every request, in order
}

// SearchFreeSlots covers [from, to) where from/to are UK local calendar dates (time.Time at local
// midnight Europe/London, or any time on that date). It splits the range into windows of at most
// 14 days, de-duplicates by Slot.ID and returns slots sorted by Start then ID.
//
// A failure in any window fails the whole search: a partial result would read as lost capacity.
// The error wraps an *Error (use errors.As); the result then still reports Calls and TraceIDs for
// metrics and tracing, with nil Slots.
func (c *Client) SearchFreeSlots(ctx context.Context, p Provider, from, to time.Time) (*SlotSearchResult, error) {
	if err := validateProvider(p); err != nil {
		return nil, fmt.Errorf("search free slots: %w", err)
	}
	from, to = localMidnight(from), localMidnight(to)
	if to.Before(from) {
		return nil, fmt.Errorf("search free slots for %s: to %s is before from %s",
			p.ODS, to.Format(time.DateOnly), from.Format(time.DateOnly))
	}
	res := &SlotSearchResult{Slots: []Slot{}}
	seen := make(map[string]bool)
	for _, w := range splitWindows(from, to) {
		slots, err := c.searchWindow(ctx, p, w, res)
		if err != nil {
			res.Slots = nil
			return res, fmt.Errorf("search free slots for %s %s..%s: %w",
				p.ODS, formatFHIRDateTime(w.Start), formatFHIRDateTime(w.End), err)
		}
		for _, s := range slots {
			// A provider that returns slots outside the asked-for range (some ignore the window)
			// must not inflate capacity or leak slots across runs: keep [from, to) only.
			if s.Start.Before(from) || !s.Start.Before(to) {
				continue
			}
			if !seen[s.ID] {
				seen[s.ID] = true
				res.Slots = append(res.Slots, s)
			}
		}
	}
	sortSlots(res.Slots)
	return res, nil
}

// searchWindow makes one Slot search and parses its Bundle, recording calls in res.
func (c *Client) searchWindow(ctx context.Context, p Provider, w window, res *SlotSearchResult) ([]Slot, error) {
	q := "/Slot?" + slotQuery(w, c.cfg.Consumer.ODS, c.cfg.OrgType)
	cr, err := c.get(ctx, p, InteractionSearchSlots, q)
	res.Calls += len(cr.traceIDs)
	res.TraceIDs = append(res.TraceIDs, cr.traceIDs...)
	if err != nil {
		return nil, err
	}
	slots, err := ParseSlotBundle(cr.body)
	if err != nil {
		return nil, c.malformed(InteractionSearchSlots, cr, err)
	}
	return slots, nil
}

// malformed reports a 2xx body that cannot be used. It is not retried: the provider would most
// likely answer the same way again.
func (c *Client) malformed(interaction string, cr callResult, err error) *Error {
	status := cr.status
	if status == 0 {
		status = 200
	}
	return &Error{
		Status: status, SpineCode: CodeMalformedResponse, TraceID: cr.traceID,
		Interaction: interaction, Attempts: len(cr.traceIDs), Err: err,
	}
}

// Capability is what gpfed reads from a provider's CapabilityStatement.
type Capability struct {
	FHIRVersion string // e.g. 3.0.1
	Version     string // GP Connect version, e.g. 1.2.7
	Software    string // software name and version, as published
}

type fhirCapabilityStatement struct {
	ResourceType string `json:"resourceType"`
	Version      string `json:"version"`
	FHIRVersion  string `json:"fhirVersion"`
	Software     struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"software"`
}

// Metadata reads the provider's CapabilityStatement (GET /metadata). It doubles as a cheap
// reachability and configuration check for a practice.
func (c *Client) Metadata(ctx context.Context, p Provider) (*Capability, error) {
	if err := validateProvider(p); err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	cr, err := c.get(ctx, p, InteractionMetadata, "/metadata")
	if err != nil {
		return nil, fmt.Errorf("read metadata for %s: %w", p.ODS, err)
	}
	var cs fhirCapabilityStatement
	if err := json.Unmarshal(cr.body, &cs); err != nil {
		return nil, fmt.Errorf("read metadata for %s: %w", p.ODS,
			c.malformed(InteractionMetadata, cr, &ParseError{Reason: "not JSON", Err: err}))
	}
	if cs.ResourceType != "CapabilityStatement" {
		perr := &ParseError{Reason: fmt.Sprintf("resourceType %.40q, want CapabilityStatement", cs.ResourceType)}
		return nil, fmt.Errorf("read metadata for %s: %w", p.ODS, c.malformed(InteractionMetadata, cr, perr))
	}
	return &Capability{
		FHIRVersion: cs.FHIRVersion,
		Version:     cs.Version,
		Software:    strings.TrimSpace(cs.Software.Name + " " + cs.Software.Version),
	}, nil
}
