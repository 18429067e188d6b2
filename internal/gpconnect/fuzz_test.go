package gpconnect

import (
	"errors"
	"testing"
	"time"
)

// FuzzParseSlotBundle checks that no provider body can panic the parser and that every slot it
// accepts satisfies the invariants the store relies on.
func FuzzParseSlotBundle(f *testing.F) {
	f.Add(fixture(f, "slot-search-response.json"))
	f.Add(fixture(f, "operationoutcome-bad-request.json"))
	f.Add([]byte(emptyBundle))
	f.Add([]byte(bundleJSON(slotJSON("a", "2026-10-25T01:30:00+01:00", "2026-10-25T01:30:00.5Z", ""), scheduleS1, locationL1Object, practitionerP1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		slots, err := ParseSlotBundle(data)
		if err != nil {
			var perr *ParseError
			if !errors.As(err, &perr) || slots != nil {
				t.Fatalf("error %v (%T) with %d slots; want *ParseError and no slots", err, err, len(slots))
			}
			return
		}
		seen := map[string]bool{}
		for i, s := range slots {
			if s.ID == "" || !s.End.After(s.Start) || seen[s.ID] {
				t.Fatalf("slot %d invalid or duplicate: %+v", i, s)
			}
			seen[s.ID] = true
			if s.LocalDate != s.Start.In(london).Format(time.DateOnly) {
				t.Fatalf("slot %d LocalDate %q for start %s", i, s.LocalDate, s.Start)
			}
			if i > 0 && slots[i-1].Start.After(s.Start) {
				t.Fatalf("slots not sorted at %d", i)
			}
		}
	})
}
