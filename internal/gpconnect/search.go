package gpconnect

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gpfed/gpfed/internal/flight"
	"github.com/gpfed/gpfed/internal/slot"
)

// SlotSearchResult is the outcome of SearchFreeSlots.
type SlotSearchResult struct {
	Slots    []slot.Slot
	Calls    int      // HTTP requests made, retries included
	TraceIDs []string // Ssp-TraceID of every request, in order
}

// SearchFreeSlots covers [from, to) where from/to are UK local calendar dates (time.Time at local
// midnight Europe/London, or any time on that date). It splits the range into windows of at most
// 14 days, fetches them concurrently (the per-practice limit decides how many at once),
// de-duplicates by Slot.ID and returns slots sorted by Start then ID.
//
// A failure in any window fails the whole search and cancels the others: a partial result would
// read as lost capacity. The error wraps an *Error (use errors.As); the result then still reports
// Calls and TraceIDs for metrics and tracing, with nil Slots.
func (c *Client) SearchFreeSlots(ctx context.Context, p Provider, from, to time.Time) (*SlotSearchResult, error) {
	if err := validateProvider(p); err != nil {
		return nil, fmt.Errorf("search free slots: %w", err)
	}
	from, to = localMidnight(from), localMidnight(to)
	if to.Before(from) {
		return nil, fmt.Errorf("search free slots for %s: to %s is before from %s",
			p.ODS, to.Format(time.DateOnly), from.Format(time.DateOnly))
	}
	windows := splitWindows(from, to)
	results := c.searchWindows(ctx, p, windows)
	res := &SlotSearchResult{}
	var first *windowResult
	for i := range results {
		r := &results[i]
		res.Calls += len(r.traceIDs)
		res.TraceIDs = append(res.TraceIDs, r.traceIDs...)
		if r.err != nil && (first == nil || r.failedAt.Before(first.failedAt)) {
			first = r
		}
	}
	if first != nil {
		return res, fmt.Errorf("search free slots for %s %s..%s: %w",
			p.ODS, formatFHIRDateTime(first.w.Start), formatFHIRDateTime(first.w.End), first.err)
	}
	res.Slots = mergeWindows(results, from, to)
	return res, nil
}

// decodedSlotBytes is what a decoded Slot holds in memory (struct and strings), roughly.
const decodedSlotBytes = 320

// windowResult is one window's search.
type windowResult struct {
	w        window
	slots    []slot.Slot
	traceIDs []string
	err      error
	failedAt time.Time
}

// searchWindows runs one search per window concurrently; the first failure cancels the rest.
func (c *Client) searchWindows(ctx context.Context, p Provider, windows []window) []windowResult {
	results := make([]windowResult, len(windows))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i, w := range windows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			r.w = w
			r.slots, r.traceIDs, r.err = c.searchWindow(ctx, p, w)
			if r.err != nil {
				r.failedAt = time.Now()
				cancel()
			}
		}()
	}
	wg.Wait()
	return results
}

// mergeWindows joins the windows' slots in window order, keeping [from, to) only and each
// Slot.id once, sorted by start then id.
func mergeWindows(results []windowResult, from, to time.Time) []slot.Slot {
	n := 0
	for _, r := range results {
		n += len(r.slots)
	}
	out := make([]slot.Slot, 0, n)
	b := parsePool.Get().(*parseBuffers) // for its seen set
	defer b.release()
	seen := b.seen
	for _, r := range results {
		for _, s := range r.slots {
			// A provider that returns slots outside the asked-for range (some ignore the window)
			// must not inflate capacity or leak slots across runs: keep [from, to) only.
			if s.Start.Before(from) || !s.Start.Before(to) {
				continue
			}
			if _, dup := seen[s.ID]; !dup {
				seen[s.ID] = struct{}{}
				out = append(out, s)
			}
		}
	}
	sortSlots(out)
	return out
}

// searchWindow makes one Slot search and parses its Bundle.
func (c *Client) searchWindow(ctx context.Context, p Provider, w window) ([]slot.Slot, []string, error) {
	q := "/Slot?" + slotQuery(w, c.cfg.Consumer.ODS, c.cfg.OrgType)
	cr, err := c.get(ctx, p, InteractionSearchSlots, q)
	if err != nil {
		return nil, cr.traceIDs, err
	}
	slots, err := ParseSlotBundle(cr.body)
	// The body is done with (the slots copy what they keep): its bytes go back to the budget, and
	// the decoded slots, which live until the practice is saved, are charged instead.
	claim := flight.FromContext(ctx)
	claim.Return(int64(cap(cr.body)))
	recycleBody(cr.body)
	if err != nil {
		return nil, cr.traceIDs, c.malformed(InteractionSearchSlots, cr, err)
	}
	_ = claim.Take(ctx, int64(len(slots))*decodedSlotBytes)
	return slots, cr.traceIDs, nil
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
