package sim

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestEncodeBundleMatches: the hand-written encoder writes exactly what json.Marshal writes, for
// every practice shape the generator makes and for strings that need escaping.
func TestEncodeBundleMatches(t *testing.T) {
	t.Parallel()
	f, _ := setup(t, Config{Practices: 30, Seed: 9})
	first, last := f.horizon()
	n := 0
	for _, pr := range f.practices {
		for _, sf := range []SearchFilter{{}, {OrgType: OrgTypeGPPractice}, {ODS: f.restrict, OrgType: OrgTypeUrgentCare}} {
			b := f.slotBundle(pr, &slotQuery{start: first, end: last.Add(24 * time.Hour), practitioners: true, locations: true, filter: sf})
			n += len(b.Entry)
			want, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeBundle(b)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: encoder differs from json.Marshal (%v)\n got %.300s\nwant %.300s", pr.ods, err, got, want)
			}
		}
	}
	odd := bundle{ResourceType: "Bundle", Type: "searchset", Entry: []bundleEntry{{Resource: slotResource{ResourceType: "Slot",
		ID: "a\"<b>&\u2028\x01é", Meta: meta{Profile: []string{"p"}}, ServiceType: []codeableConcept{{}, {Text: "x\\y"}},
		Extension: []extension{{URL: "u"}}, Status: "free"}}}}
	want, _ := json.Marshal(odd)
	if got, _ := encodeBundle(odd); !bytes.Equal(got, want) {
		t.Errorf("escaping differs:\n got %s\nwant %s", got, want)
	}
	if n < 1000 {
		t.Errorf("only %d entries compared", n)
	}
}

func TestFHIRTimeMatchesFormat(t *testing.T) {
	t.Parallel()
	for _, tm := range []time.Time{
		time.Date(2026, 3, 29, 0, 59, 0, 0, london), time.Date(2026, 3, 29, 2, 0, 0, 0, london),
		time.Date(2026, 10, 25, 1, 30, 0, 0, london), time.Date(2026, 12, 31, 23, 59, 59, 0, london),
		time.Date(999, 1, 2, 3, 4, 5, 0, time.FixedZone("x", -(5*3600+30*60))),
	} {
		if got, want := fhirTime(tm), tm.Format(fhirDateTime); got != want {
			t.Errorf("fhirTime(%v) = %s, want %s", tm, got, want)
		}
	}
}
