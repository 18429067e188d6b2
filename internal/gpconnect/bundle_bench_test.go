package gpconnect

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkParseSlotBundle parses a 14-day response of ~230 slots with its
// includes, the size a typical practice returns per window.
func BenchmarkParseSlotBundle(b *testing.B) {
	var entries []string
	for i := range 230 {
		day, minute := 1+i/20, (i%20)*15
		start := fmt.Sprintf("2026-06-%02dT%02d:%02d:00+01:00", day, 9+minute/60, minute%60)
		end := fmt.Sprintf("2026-06-%02dT%02d:%02d:00+01:00", day, 9+(minute+10)/60, (minute+10)%60)
		entries = append(entries, slotJSON(fmt.Sprintf("slot-%d", i), start, end,
			`,"meta":{"versionId":"1","profile":["https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-Slot-1"]},`+
				`"serviceType":[{"text":"General GP Appointment"}],"extension":[{"url":"https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-2","valueCode":"In-person"}]`))
	}
	entries = append(entries,
		`{"resource":{"resourceType":"Schedule","id":"S1","serviceCategory":{"text":"GP"},"actor":[{"reference":"Location/L1"},{"reference":"Practitioner/P1"}],"extension":[{"url":"https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-PractitionerRole-1","valueCodeableConcept":{"coding":[{"code":"R0260","display":"GP"}]}}]}}`,
		`{"resource":{"resourceType":"Location","id":"L1","name":"Main Surgery"}}`,
		`{"resource":{"resourceType":"Practitioner","id":"P1","name":[{"family":"Legg","given":["Mark"]}]}}`)
	data := []byte(bundleJSON(entries...))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		slots, err := ParseSlotBundle(data)
		if err != nil || len(slots) != 230 {
			b.Fatalf("%d slots, %v", len(slots), err)
		}
	}
}

// BenchmarkParseSimBundle parses the simulator's 14-day responses (24 free slots per weekday, with
// every include), the shape bench-sync's providers send.
func BenchmarkParseSimBundle(b *testing.B) {
	bodies := simBundles(b, 4)
	size := 0
	for _, body := range bodies {
		size += len(body)
	}
	b.SetBytes(int64(size / len(bodies)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := ParseSlotBundle(bodies[i%len(bodies)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkMergeWindows decodes a practice's two 14-day simulator responses and merges them into
// the one sorted list a 28-day search returns, as SearchFreeSlots does once its calls are in.
func BenchmarkMergeWindows(b *testing.B) {
	const practices = 4
	bodies := simBundles(b, practices) // two windows a practice, in window order
	from := localMidnight(time.Now())
	to := from.AddDate(0, 0, 28)
	b.ReportAllocs()
	i, n := 0, 0
	for b.Loop() {
		found := newWindowSlots(2)
		for j := range 2 {
			if _, err := found.add(j, bodies[2*(i%practices)+j]); err != nil {
				b.Fatal(err)
			}
		}
		n += len(found.merge(from, to))
		i++
	}
	b.ReportMetric(float64(n)/float64(i), "slots/op")
}
