package sim

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pre-encoded slot searches. A benchmark's simulator serves a region's whole slot search once
// per run, on the machine it measures gpfed on; encoding those responses (~1.4 GB for 6,500
// practices) is the load generator's work, not gpfed's, and a real federation's providers do it
// on their own machines. PreEncodeSearches encodes the responses to searches a consumer is
// expected to make before the simulator serves anything; serveSlots then answers a search that
// matches one exactly with the stored bytes, which are the bytes it would encode (every request
// is still checked as strictly, faults and latency still apply). A response is only reused while
// nothing it depends on has changed: the same horizon (today's date) and no slot of the practice
// booked; otherwise the search is encoded as usual.

// preEncoded is one stored response.
type preEncoded struct {
	q     slotQuery
	first time.Time // the horizon's first day when it was encoded
	body  []byte
}

// preEncodedSet is every practice's stored responses, immutable once built.
type preEncodedSet struct {
	byODS      map[string][]preEncoded
	hits, miss atomic.Int64
}

// PreEncodeSearches encodes, for every practice, the responses to Slot searches of each window
// with both _includes and consumer filter sf. Call it before serving; it replaces what a previous
// call stored. It returns the bytes stored.
func (f *Federation) PreEncodeSearches(windows [][2]time.Time, sf SearchFilter) int64 {
	set := &preEncodedSet{byODS: make(map[string][]preEncoded, len(f.practices))}
	first, _ := f.horizon()
	per := make([][]preEncoded, len(f.practices))
	var next atomic.Int64
	var total atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(f.practices) {
					return
				}
				p := f.practices[i]
				for _, w := range windows {
					q := slotQuery{start: w[0], end: w[1], practitioners: true, locations: true, filter: sf}
					body, err := encodeBundle(f.slotBundle(p, &q))
					if err != nil {
						continue // served the usual way, which reports the error
					}
					per[i] = append(per[i], preEncoded{q: q, first: first, body: body})
					total.Add(int64(len(body)))
				}
			}
		})
	}
	wg.Wait()
	for i, p := range f.practices {
		set.byODS[p.ods] = per[i]
	}
	f.pre.Store(set)
	return total.Load()
}

// PreEncodedServed is how many slot searches were answered with stored bytes, and how many
// were encoded on request, since PreEncodeSearches.
func (f *Federation) PreEncodedServed() (stored, encoded int64) {
	set := f.pre.Load()
	if set == nil {
		return 0, 0
	}
	return set.hits.Load(), set.miss.Load()
}

// preEncodedBody is the stored response to sq at p, or nil when there is none or it may be stale.
func (f *Federation) preEncodedBody(p *practice, sq *slotQuery) []byte {
	set := f.pre.Load()
	if set == nil {
		return nil
	}
	first, _ := f.horizon()
	for i := range set.byODS[p.ods] {
		e := &set.byODS[p.ods][i]
		if e.q.start.Equal(sq.start) && e.q.end.Equal(sq.end) && e.q.practitioners == sq.practitioners &&
			e.q.locations == sq.locations && e.q.filter == sq.filter && e.first.Equal(first) && !p.bk.anyTaken() {
			set.hits.Add(1)
			return e.body
		}
	}
	set.miss.Add(1)
	return nil
}

// FortnightWindows splits days local days from today's date into 14-day windows from local
// midnight to local midnight, as a consumer searching a range in the fewest calls does.
func (f *Federation) FortnightWindows(days int) [][2]time.Time {
	first, _ := f.horizon()
	var out [][2]time.Time
	for d := 0; d < days; d += 14 {
		out = append(out, [2]time.Time{first.AddDate(0, 0, d), first.AddDate(0, 0, min(d+14, days))})
	}
	return out
}
