package gpconnect

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
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
	found := newWindowSlots(len(windows))
	results := c.searchWindows(ctx, p, windows, found)
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
	res.Slots = found.merge(from, to)
	return res, nil
}

// decodedSlotBytes is what a decoded Slot holds in memory (struct and strings), roughly.
const decodedSlotBytes = 320

// windowResult is one window's search.
type windowResult struct {
	w        window
	traceIDs []string
	err      error
	failedAt time.Time
}

// searchWindows runs one search per window concurrently, each adding its slots to found; the
// first failure cancels the rest.
func (c *Client) searchWindows(ctx context.Context, p Provider, windows []window, found *windowSlots) []windowResult {
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
			r.traceIDs, r.err = c.searchWindow(ctx, p, i, w, found)
			if r.err != nil {
				r.failedAt = time.Now()
				cancel()
			}
		}()
	}
	wg.Wait()
	return results
}

// windowSlots gathers a search's slots in one slice as each window's response is decoded, in the
// order the responses arrive, so that merging the windows copies no slot: a region's sync carries
// millions. Windows add to it one at a time.
type windowSlots struct {
	mu    sync.Mutex
	slots []slot.Slot
	parts []windowPart // one per window added, in the order added
}

func newWindowSlots(windows int) *windowSlots {
	// Non-nil: a search that finds nothing returns no slots, not the nil of a failed one.
	return &windowSlots{slots: []slot.Slot{}, parts: make([]windowPart, 0, windows)}
}

// windowPart is where one window's slots lie in windowSlots.slots.
type windowPart struct{ window, start, end int }

// add decodes window's response body and appends its slots, reporting how many there were.
// Decoding, the costly part, runs outside the lock.
func (ws *windowSlots) add(window int, body []byte) (int, error) {
	d, err := decodeSlotBundle(body)
	if err != nil {
		return 0, err
	}
	defer d.release()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	start := len(ws.slots)
	slots, err := d.appendTo(ws.slots)
	if err != nil {
		return 0, err
	}
	ws.slots = slots
	ws.parts = append(ws.parts, windowPart{window: window, start: start, end: len(slots)})
	return len(slots) - start, nil
}

// merge returns the windows' slots that start in [from, to), each Slot.id once (from the earliest
// window that has it, as the windows are ordered, not as they answered), sorted by start then id.
// It filters in place, once every window has been added.
func (ws *windowSlots) merge(from, to time.Time) []slot.Slot {
	// A provider that returns slots outside the asked-for range (some ignore the window) must not
	// inflate capacity or leak slots across runs: keep [from, to) only.
	inRange := func(s *slot.Slot) bool { return !s.Start.Before(from) && s.Start.Before(to) }
	slots := ws.slots
	if len(ws.parts) <= 1 {
		// One window's slots are unique and sorted already (appendTo); a subsequence stays sorted.
		return compact(slots, func(i int) bool { return inRange(&slots[i]) })
	}
	keep := make([]bool, len(slots))
	b := parsePool.Get().(*parseBuffers) // for its seen set
	defer b.release()
	seen := b.seen
	slices.SortFunc(ws.parts, func(x, y windowPart) int { return cmp.Compare(x.window, y.window) })
	for _, part := range ws.parts {
		for i := part.start; i < part.end; i++ {
			if s := &slots[i]; inRange(s) {
				if _, dup := seen[s.ID]; !dup {
					seen[s.ID] = struct{}{}
					keep[i] = true
				}
			}
		}
	}
	kept := compact(slots, func(i int) bool { return keep[i] })
	sortSlots(kept)
	return kept
}

// compact moves the slots that keep selects (by index) to the front of slots, in order, and
// clears the rest so that their strings are not kept alive.
func compact(slots []slot.Slot, keep func(i int) bool) []slot.Slot {
	n := 0
	for i := range slots {
		if keep(i) {
			if n != i {
				slots[n] = slots[i]
			}
			n++
		}
	}
	clear(slots[n:])
	return slots[:n]
}

// searchWindow makes one Slot search and adds its slots to found.
func (c *Client) searchWindow(ctx context.Context, p Provider, i int, w window, found *windowSlots) ([]string, error) {
	q := "/Slot?" + slotQuery(w, c.cfg.Consumer.ODS, c.cfg.OrgType)
	cr, err := c.get(ctx, p, InteractionSearchSlots, q)
	if err != nil {
		return cr.traceIDs, err
	}
	n, err := found.add(i, cr.body)
	// The body is done with (the slots copy what they keep): its bytes go back to the budget, and
	// the decoded slots, which live until the practice is saved, are charged instead. found grows
	// to exactly the slots it holds (appendTo), so charging per slot covers it.
	claim := flight.FromContext(ctx)
	claim.Return(int64(cap(cr.body)))
	recycleBody(cr.body)
	if err != nil {
		return cr.traceIDs, c.malformed(InteractionSearchSlots, cr, err)
	}
	_ = claim.Take(ctx, int64(n)*decodedSlotBytes)
	return cr.traceIDs, nil
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
