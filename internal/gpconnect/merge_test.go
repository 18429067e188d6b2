package gpconnect

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/slot"
)

// TestWindowSlotsMerge: windows answer in any order, but the merged slots are the same: in the
// searched range, each id once from the earliest window that has it, sorted by start then id.
func TestWindowSlotsMerge(t *testing.T) {
	t.Parallel()
	at := func(d, h int) string { return formatFHIRDateTime(time.Date(2026, 6, d, h, 0, 0, 0, london)) }
	from, to := ukDate(2026, 6, 1), ukDate(2026, 6, 29)
	window0 := bundleJSON(slotJSON("b", at(2, 9), at(2, 10), ""), slotJSON("a", at(2, 9), at(2, 10), ""),
		slotJSON("early", at(1, 8), at(1, 9), ""),
		slotJSON("seam", at(14, 23), at(15, 1), `,"serviceType":[{"text":"from window 0"}]`),
		slotJSON("before", "2026-05-31T09:00:00+01:00", "2026-05-31T09:10:00+01:00", ""))
	window1 := bundleJSON(slotJSON("seam", at(14, 23), at(15, 1), `,"serviceType":[{"text":"from window 1"}]`),
		slotJSON("late", at(28, 9), at(28, 10), ""), slotJSON("c", at(20, 9), at(20, 10), ""),
		slotJSON("after", at(29, 9), at(29, 10), ""))
	ids := func(slots []slot.Slot) (out []string) {
		for _, s := range slots {
			out = append(out, s.ID+"/"+s.SlotType)
		}
		return out
	}
	want := []string{"early/", "a/", "b/", "seam/from window 0", "c/", "late/"}
	for _, order := range [][]int{{0, 1}, {1, 0}} {
		found := newWindowSlots(2)
		for _, w := range order {
			if _, err := found.add(w, []byte([]string{window0, window1}[w])); err != nil {
				t.Fatal(err)
			}
		}
		got := found.merge(from, to)
		if diff := cmp.Diff(want, ids(got)); diff != "" {
			t.Errorf("windows answering in order %v: slots (-want +got):\n%s", order, diff)
		}
		if dropped := found.slots[len(got):cap(found.slots)]; dropped[0] != (slot.Slot{}) || dropped[len(dropped)-1] != (slot.Slot{}) {
			t.Errorf("windows answering in order %v: dropped slots still held", order)
		}
	}

	one := newWindowSlots(1)
	if _, err := one.add(0, []byte(window1)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"seam/from window 1", "c/", "late/"}, ids(one.merge(from, to))); diff != "" {
		t.Errorf("one window: slots (-want +got):\n%s", diff)
	}

	none := newWindowSlots(1)
	if _, err := none.add(0, []byte(emptyBundle)); err != nil {
		t.Fatal(err)
	}
	if got := none.merge(from, to); got == nil || len(got) != 0 {
		t.Errorf("no slots: got %#v, want an empty, non-nil list", got)
	}
}

// TestAppendSlotBundle: a search's windows share one slice that grows to exactly the slots it
// holds (the flight budget charges per slot), and a malformed window leaves it as it was.
func TestAppendSlotBundle(t *testing.T) {
	t.Parallel()
	first := bundleJSON(slotJSON("a", "2026-06-01T09:00:00+01:00", "2026-06-01T09:10:00+01:00", ""),
		slotJSON("b", "2026-06-01T10:00:00+01:00", "2026-06-01T10:10:00+01:00", ""))
	second := bundleJSON(slotJSON("c", "2026-06-15T09:00:00+01:00", "2026-06-15T09:10:00+01:00", ""))
	slots, err := AppendSlotBundle(nil, []byte(first))
	if err != nil {
		t.Fatal(err)
	}
	if slots, err = AppendSlotBundle(slots, []byte(second)); err != nil {
		t.Fatal(err)
	}
	if len(slots) != 3 || cap(slots) != 3 || slots[2].ID != "c" {
		t.Fatalf("got %d slots (capacity %d): %+v", len(slots), cap(slots), slots)
	}
	spare := append(make([]slot.Slot, 0, 8), slots...)
	bad := bundleJSON(slotJSON("d", "2026-06-16T09:00:00+01:00", "2026-06-16T09:10:00+01:00", ""),
		slotJSON("e", "2026-06-16T10:00:00+01:00", "2026-06-16T09:00:00+01:00", "")) // ends before it starts
	got, err := AppendSlotBundle(spare, []byte(bad))
	if err == nil || len(got) != 3 || &got[0] != &spare[0] {
		t.Fatalf("malformed Bundle: %d slots, error %v; want the 3 given back and an error", len(got), err)
	}
	if tail := spare[3:8]; tail[0] != (slot.Slot{}) {
		t.Errorf("malformed Bundle: its slots stay in the spare capacity: %+v", tail[0])
	}
}
