package gpconnect

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gpfed/gpfed/internal/slot"
)

// TestParseSlotBundleKeepsTimeText: a booking must send a slot's start and
// end back exactly as the provider wrote them, so parsing keeps the text
// even where it reads the instant differently (fractions, Z, no offset).
func TestParseSlotBundleKeepsTimeText(t *testing.T) {
	t.Parallel()
	for _, start := range []string{"2026-10-25T09:00:00+00:00", "2026-10-25T09:00:00.000Z", "2026-10-25T09:00:00"} {
		got, err := ParseSlotBundle([]byte(bundleJSON(slotJSON("a", start, "2026-10-25T09:15:00.5+00:00", ""))))
		if err != nil {
			t.Fatal(err)
		}
		if got[0].StartText != start || got[0].EndText != "2026-10-25T09:15:00.5+00:00" {
			t.Errorf("start %q: kept %q..%q", start, got[0].StartText, got[0].EndText)
		}
	}
}

func TestParseSlotBundleFixture(t *testing.T) {
	t.Parallel()
	got, err := ParseSlotBundle(fixture(t, "slot-search-response.json"))
	if err != nil {
		t.Fatal(err)
	}
	bst := time.FixedZone("BST", 3600)
	common := slot.Slot{
		LocalDate: "2016-08-15", DurationMinutes: 10,
		ScheduleID: "14", SessionName: "General GP Appointments",
		LocationID: "17", SiteName: "The Trevelyan Practice",
		PractitionerID: "2", PractitionerName: "Sarah Black",
		RoleCode: "R0260", RoleDisplay: "General Medical Practitioner",
		DeliveryChannel: "In-person",
	}
	s1, s2 := common, common
	s1.ID, s1.SlotType = "1584", "General GP Appointment"
	s1.Start, s1.End = time.Date(2016, 8, 15, 11, 30, 0, 0, bst), time.Date(2016, 8, 15, 11, 40, 0, 0, bst)
	s1.StartText, s1.EndText = "2016-08-15T11:30:00+01:00", "2016-08-15T11:40:00+01:00"
	s2.ID, s2.SlotType = "1644", "NHS Health Check"
	s2.Start, s2.End = time.Date(2016, 8, 15, 11, 40, 0, 0, bst), time.Date(2016, 8, 15, 11, 50, 0, 0, bst)
	s2.StartText, s2.EndText = "2016-08-15T11:40:00+01:00", "2016-08-15T11:50:00+01:00"
	if diff := cmp.Diff([]slot.Slot{s1, s2}, got); diff != "" {
		t.Errorf("slots (-want +got):\n%s", diff)
	}
}

// slotJSON is a minimal valid free Slot; extra is spliced in before the closing brace.
func slotJSON(id, start, end, extra string) string {
	return `{"resource":{"resourceType":"Slot","id":"` + id + `","status":"free","start":"` + start +
		`","end":"` + end + `","schedule":{"reference":"Schedule/S1"}` + extra + `}}`
}

func bundleJSON(entries ...string) string {
	return `{"resourceType":"Bundle","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}`
}

const (
	scheduleS1 = `{"resource":{"resourceType":"Schedule","id":"S1",
		"serviceCategory":[{"text":"Nurse clinic"}],
		"extension":[{"url":"https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-PractitionerRole-1",
			"valueCodeableConcept":{"coding":{"system":"x","code":"R0620","display":"Staff Nurse"}}},
			{"url":"https://example.invalid/unknown","valueString":"ignored"}],
		"actor":[{"reference":"Practitioner/P1"},{"reference":"https://p.example/STU3/1/gpconnect/Location/L1/_history/3"}]}}`
	locationL1Object = `{"resource":{"resourceType":"Location","id":"L1","name":"Branch Surgery",
		"telecom":{"system":"phone","value":"0113"},"someFutureElement":{"deep":[1,2,3]}}}`
	locationL1Array = `{"resource":{"resourceType":"Location","id":"L1","name":"Branch Surgery",
		"telecom":[{"system":"phone","value":"0113"}]}}`
	practitionerP1 = `{"resource":{"resourceType":"Practitioner","id":"P1","name":{"family":"Smith","given":["Ann","B"]}}}`
)

func TestParseSlotBundleLenient(t *testing.T) {
	t.Parallel()
	full := slot.Slot{
		ID: "a", LocalDate: "2026-10-25", DurationMinutes: 15,
		ScheduleID: "S1", SessionName: "Nurse clinic", LocationID: "L1", SiteName: "Branch Surgery",
		PractitionerID: "P1", PractitionerName: "Ann B Smith", RoleCode: "R0620", RoleDisplay: "Staff Nurse",
		Start: time.Date(2026, 10, 25, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 10, 25, 9, 15, 0, 0, time.UTC),
	}
	const start, end = "2026-10-25T09:00:00+00:00", "2026-10-25T09:15:00+00:00"
	tests := []struct {
		name string
		body string
		want []slot.Slot
	}{
		{"no entry", `{"resourceType":"Bundle","type":"searchset"}`, []slot.Slot{}},
		{"empty entry", emptyBundle, []slot.Slot{}},
		{"null entry", `{"resourceType":"Bundle","entry":null}`, []slot.Slot{}},
		{"telecom object and unknown elements", bundleJSON(slotJSON("a", start, end, ""), scheduleS1, locationL1Object, practitionerP1), []slot.Slot{full}},
		{"telecom array", bundleJSON(slotJSON("a", start, end, ""), scheduleS1, locationL1Array, practitionerP1), []slot.Slot{full}},
		{
			"missing includes: schedule only",
			bundleJSON(slotJSON("a", start, end, ""), scheduleS1),
			[]slot.Slot{with(full, func(s *slot.Slot) { s.SiteName, s.PractitionerName = "", "" })},
		},
		{
			"schedule unresolved: still counted",
			bundleJSON(slotJSON("a", start, end, "")),
			[]slot.Slot{{ID: "a", Start: full.Start, End: full.End, LocalDate: "2026-10-25", DurationMinutes: 15, ScheduleID: "S1"}},
		},
		{
			"Z and fractional seconds from a provider",
			bundleJSON(slotJSON("a", "2026-10-25T09:00:00.000Z", "2026-10-25T09:15:00.5Z", "")),
			[]slot.Slot{{ID: "a", Start: full.Start, End: full.End.Add(500 * time.Millisecond), LocalDate: "2026-10-25", DurationMinutes: 15, ScheduleID: "S1"}},
		},
		{
			"busy slots, unknown resources and junk entries skipped",
			bundleJSON(`{"resource":{"resourceType":"Slot","id":"b","status":"busy","start":"x"}}`,
				`{"resource":{"resourceType":"HealthcareService","id":"H1"}}`, `{"fullUrl":"x"}`, `{"resource":7}`,
				slotJSON("a", start, end, `,"serviceType":[{"text":"Dressing"}],"extension":[{"url":"https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-2","valueCode":"Telephone"}]`)),
			[]slot.Slot{{ID: "a", Start: full.Start, End: full.End, LocalDate: "2026-10-25", DurationMinutes: 15, ScheduleID: "S1", SlotType: "Dressing", DeliveryChannel: "Telephone"}},
		},
		{
			"delivery channel -1 as CodeableConcept; duplicate ids once; sorted",
			bundleJSON(
				slotJSON("b", start, end, ""),
				slotJSON("a", start, end, `,"extension":[{"url":"https://fhir.nhs.uk/STU3/StructureDefinition/Extension-GPConnect-DeliveryChannel-1","valueCodeableConcept":{"coding":[{"code":"Video"}]}}]`),
				slotJSON("a", start, end, "")),
			[]slot.Slot{
				{ID: "a", Start: full.Start, End: full.End, LocalDate: "2026-10-25", DurationMinutes: 15, ScheduleID: "S1", DeliveryChannel: "Video"},
				{ID: "b", Start: full.Start, End: full.End, LocalDate: "2026-10-25", DurationMinutes: 15, ScheduleID: "S1"},
			},
		},
		{
			"LocalDate is the UK date (BST, just after midnight)",
			bundleJSON(slotJSON("a", "2026-07-01T23:30:00Z", "2026-07-01T23:40:00Z", "")),
			[]slot.Slot{{ID: "a", Start: time.Date(2026, 7, 1, 23, 30, 0, 0, time.UTC), End: time.Date(2026, 7, 1, 23, 40, 0, 0, time.UTC), LocalDate: "2026-07-02", DurationMinutes: 10, ScheduleID: "S1"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSlotBundle([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			// The provider's own start/end text is checked in TestParseSlotBundleKeepsTimeText.
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(slot.Slot{}, "StartText", "EndText")); diff != "" {
				t.Errorf("slots (-want +got):\n%s", diff)
			}
		})
	}
}

func with(s slot.Slot, f func(*slot.Slot)) slot.Slot {
	f(&s)
	return s
}

func TestParseSlotBundleRejects(t *testing.T) {
	t.Parallel()
	const start, end = "2026-10-25T09:00:00+00:00", "2026-10-25T09:15:00+00:00"
	for name, body := range map[string]string{
		"empty body":          ``,
		"not JSON":            `<html>oops</html>`,
		"truncated":           `{"resourceType":"Bundle","entry":[`,
		"JSON null":           `null`,
		"array":               `[]`,
		"OperationOutcome":    string(fixture(t, "operationoutcome-bad-request.json")),
		"resourceType number": `{"resourceType":5}`,
		"entry not array":     `{"resourceType":"Bundle","entry":{}}`,
		"slot without id":     bundleJSON(slotJSON("", start, end, "")),
		"slot bad start":      bundleJSON(slotJSON("a", "tomorrow", end, "")),
		"slot end <= start":   bundleJSON(slotJSON("a", end, start, "")),
		"slot wrong types":    bundleJSON(`{"resource":{"resourceType":"Slot","id":"a","status":"free","start":1}}`),
		"trailing data":       bundleJSON(slotJSON("a", start, end, "")) + `{"x":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSlotBundle([]byte(body))
			var perr *ParseError
			if !errors.As(err, &perr) {
				t.Fatalf("ParseSlotBundle = %v, %v; want *ParseError", got, err)
			}
		})
	}
}

// TestParseSlotBundleToleratesOddIncludes: an included resource with an
// element of an unexpected JSON type still counts its slots; that element
// just reads as absent.
func TestParseSlotBundleToleratesOddIncludes(t *testing.T) {
	t.Parallel()
	body := bundleJSON(
		slotJSON("a", "2026-10-25T09:00:00+00:00", "2026-10-25T09:15:00+00:00", ""),
		`{"resource":{"resourceType":"Schedule","id":"S1","actor":[{"reference":"Location/L1"}],"planningHorizon":"soon"}}`,
		`{"resource":{"resourceType":"Location","id":"L1","name":42,"telecom":{"system":"phone"}}}`)
	got, err := ParseSlotBundle([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].LocationID != "L1" || got[0].SiteName != "" {
		t.Fatalf("got %+v, want one slot at L1 with no site name", got)
	}
}

func TestParseOperationOutcome(t *testing.T) {
	t.Parallel()
	code, diag, ok := ParseOperationOutcome(fixture(t, "operationoutcome-bad-request.json"))
	if !ok || code != "BAD_REQUEST" || diag != "Empty JWT aud claim" {
		t.Errorf("got %q %q %v", code, diag, ok)
	}
	if _, _, ok := ParseOperationOutcome([]byte(emptyBundle)); ok {
		t.Error("a Bundle parsed as an OperationOutcome")
	}
	if _, _, ok := ParseOperationOutcome([]byte("<html>")); ok {
		t.Error("HTML parsed as an OperationOutcome")
	}
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Schedule/14": "Schedule/14",
		"https://x.example/STU3/1/gpconnect/Location/17": "Location/17",
		"Practitioner/2/_history/5":                      "Practitioner/2",
		"#contained":                                     "",
		"Schedule/":                                      "",
		"/14":                                            "",
		"":                                               "",
	} {
		typ, id := parseRef(in)
		got := typ + "/" + id
		if typ == "" {
			got = ""
		}
		if got != want {
			t.Errorf("parseRef(%q) = %q, %q; want %q", in, typ, id, want)
		}
	}
}
