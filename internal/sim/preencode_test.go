package sim

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// TestPreEncodedSearchesAreTheSameBytes: a search answered with pre-encoded bytes gets exactly
// what encoding it on request gives, a search that matches none is encoded as usual, and a
// booking makes the practice's stored responses unused until it is gone.
func TestPreEncodedSearchesAreTheSameBytes(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 3, Seed: 11})
	windows := f.FortnightWindows(28)
	if len(windows) != 2 {
		t.Fatalf("windows = %v", windows)
	}
	search := func(p Practice, w [2]time.Time) []byte {
		t.Helper()
		resp, body := validCall(p, w[0], w[1]).do(t, srv.Client(), p)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		return body
	}
	want := map[string][][]byte{}
	for _, p := range f.Practices() {
		for _, w := range windows {
			want[p.ODS] = append(want[p.ODS], search(p, w))
		}
	}
	// slotParams sends Y12345 as the consumer's ODS code.
	if n := f.PreEncodeSearches(windows, SearchFilter{ODS: "Y12345", OrgType: OrgTypeGPPractice}); n == 0 {
		t.Fatal("nothing pre-encoded")
	}
	for _, p := range f.Practices() {
		for i, w := range windows {
			if got := search(p, w); !bytes.Equal(got, want[p.ODS][i]) {
				t.Errorf("%s window %d: pre-encoded response differs from the encoded one", p.ODS, i)
			}
		}
	}
	if stored, encoded := f.PreEncodedServed(); stored != int64(2*len(f.Practices())) || encoded != 0 {
		t.Errorf("served %d stored, %d encoded; want %d, 0", stored, encoded, 2*len(f.Practices()))
	}

	// Another window is encoded on request.
	p := f.Practices()[0]
	other := [2]time.Time{windows[0][0].AddDate(0, 0, 1), windows[0][1]}
	search(p, other)
	if _, encoded := f.PreEncodedServed(); encoded != 1 {
		t.Errorf("encoded on request = %d, want 1", encoded)
	}

	// A booked slot leaves the search: the stored bytes are not served while it is booked.
	bk := &f.byODS[p.ODS].bk
	var booked string
	f.visibleSlots(f.byODS[p.ODS], windows[0][0], windows[0][1], SearchFilter{ODS: "Y12345", OrgType: OrgTypeGPPractice},
		func(s *slot) bool { booked = s.id; return false })
	bk.mu.Lock()
	if bk.taken == nil {
		bk.taken = map[string]string{}
	}
	bk.taken[booked] = "A1"
	bk.mu.Unlock()
	if got := search(p, windows[0]); bytes.Equal(got, want[p.ODS][0]) || !bytes.Contains(want[p.ODS][0], []byte(`"id":"`+booked+`"`)) ||
		bytes.Contains(got, []byte(`"id":"`+booked+`"`)) {
		t.Errorf("a booked slot %s: the search still offers it", booked)
	}
	bk.mu.Lock()
	delete(bk.taken, booked)
	bk.mu.Unlock()
	if got := search(p, windows[0]); !bytes.Equal(got, want[p.ODS][0]) {
		t.Error("once the booking is gone the response is the first one again")
	}
}
