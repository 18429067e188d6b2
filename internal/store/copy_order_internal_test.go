package store

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/slot"
)

// A group's rows go into COPY in start order, every row once, practices
// interleaved; ties keep practice and fetch order.
func TestStartOrderInterleavesAGroup(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var parts []slotRows
	var all []slot.Slot
	for p := range 5 {
		n := 50 + r.IntN(50)
		slots := make([]slot.Slot, n)
		for i := range slots {
			slots[i] = slot.Slot{ID: fmt.Sprintf("%c%d", 'a'+p, i), Start: base.Add(time.Duration(r.IntN(200)) * 15 * time.Minute)}
		}
		all = append(all, slots...)
		rows := make([]insertRow, n)
		for i := range slots {
			rows[i] = insertRow{Slot: &slots[i]}
		}
		parts = append(parts, slotRows{ods: fmt.Sprintf("P%d", p), rows: rows})
	}
	order := startOrder(parts, len(all))
	if len(order) != len(all) {
		t.Fatalf("%d rows ordered, want %d", len(order), len(all))
	}
	seen := map[[2]int32]bool{}
	switches := 0
	for i, ref := range order {
		if seen[[2]int32{ref.part, ref.row}] {
			t.Fatalf("row %d/%d twice", ref.part, ref.row)
		}
		seen[[2]int32{ref.part, ref.row}] = true
		if got := parts[ref.part].rows[ref.row].Start.UnixNano(); got != ref.start {
			t.Fatalf("ref %d carries start %d, its row %d", i, ref.start, got)
		}
		if i == 0 {
			continue
		}
		prev := order[i-1]
		if prev.start > ref.start || prev.start == ref.start && (prev.part > ref.part || prev.part == ref.part && prev.row > ref.row) {
			t.Fatalf("rows %d and %d out of order: %+v then %+v", i-1, i, prev, ref)
		}
		if prev.part != ref.part {
			switches++
		}
	}
	if switches < len(parts) {
		t.Errorf("practices switched %d times in %d rows: not interleaved", switches, len(order))
	}
}
