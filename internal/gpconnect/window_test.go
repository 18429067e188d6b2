package gpconnect

import (
	"math/rand/v2"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type fmtWindow struct{ Start, End string }

func formatWindows(ws []window) []fmtWindow {
	out := make([]fmtWindow, len(ws))
	for i, w := range ws {
		out[i] = fmtWindow{formatFHIRDateTime(w.Start), formatFHIRDateTime(w.End)}
	}
	return out
}

func TestSplitWindows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		from, to time.Time
		want     []fmtWindow
	}{
		{
			name: "28 days from an ordinary date",
			from: ukDate(2026, 2, 2), to: ukDate(2026, 3, 2),
			want: []fmtWindow{
				{"2026-02-02T00:00:00+00:00", "2026-02-16T00:00:00+00:00"},
				{"2026-02-16T00:00:00+00:00", "2026-03-02T00:00:00+00:00"},
			},
		},
		{
			name: "14 days across the October change are 337h: clipped to 336h",
			from: ukDate(2026, 10, 18), to: ukDate(2026, 11, 1),
			want: []fmtWindow{
				{"2026-10-18T00:00:00+01:00", "2026-10-31T23:00:00+00:00"},
				{"2026-10-31T22:00:00+00:00", "2026-11-01T00:00:00+00:00"},
			},
		},
		{
			name: "28 days across the October change",
			from: ukDate(2026, 10, 12), to: ukDate(2026, 11, 9),
			want: []fmtWindow{
				{"2026-10-12T00:00:00+01:00", "2026-10-25T23:00:00+00:00"},
				{"2026-10-25T22:00:00+00:00", "2026-11-08T22:00:00+00:00"},
				{"2026-11-08T21:00:00+00:00", "2026-11-09T00:00:00+00:00"},
			},
		},
		{
			name: "14 days across the March change are 335h: one window",
			from: ukDate(2026, 3, 22), to: ukDate(2026, 4, 5),
			want: []fmtWindow{{"2026-03-22T00:00:00+00:00", "2026-04-05T00:00:00+01:00"}},
		},
		{
			name: "28 days across the March change",
			from: ukDate(2026, 3, 16), to: ukDate(2026, 4, 13),
			want: []fmtWindow{
				{"2026-03-16T00:00:00+00:00", "2026-03-30T00:00:00+01:00"},
				{"2026-03-30T00:00:00+01:00", "2026-04-13T00:00:00+01:00"},
			},
		},
		{
			name: "one day",
			from: ukDate(2026, 7, 1), to: ukDate(2026, 7, 2),
			want: []fmtWindow{{"2026-07-01T00:00:00+01:00", "2026-07-02T00:00:00+01:00"}},
		},
		{name: "empty", from: ukDate(2026, 7, 1), to: ukDate(2026, 7, 1), want: []fmtWindow{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := splitWindows(tc.from, tc.to)
			if diff := cmp.Diff(tc.want, formatWindows(got)); diff != "" {
				t.Errorf("windows (-want +got):\n%s", diff)
			}
			checkWindows(t, tc.from, tc.to, got)
		})
	}
}

// TestSplitWindowsInvariants checks the rules on many random ranges around both clock changes.
func TestSplitWindowsInvariants(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	base := ukDate(2025, 12, 1)
	for range 2000 {
		from := base.AddDate(0, 0, r.IntN(400))
		to := from.AddDate(0, 0, 1+r.IntN(70))
		checkWindows(t, from, to, splitWindows(from, to))
	}
}

func checkWindows(t *testing.T, from, to time.Time, ws []window) {
	t.Helper()
	if len(ws) == 0 {
		if from.Before(to) {
			t.Errorf("%s..%s: no windows", from, to)
		}
		return
	}
	if !ws[0].Start.Equal(from) || !ws[len(ws)-1].End.Equal(to) {
		t.Errorf("%s..%s: windows cover %s..%s", from, to, ws[0].Start, ws[len(ws)-1].End)
	}
	for i, w := range ws {
		if d := w.End.Sub(w.Start); d <= 0 || d > 336*time.Hour {
			t.Errorf("window %d %v: duration %s", i, formatWindows(ws[i:i+1]), d)
		}
		if days := calendarDays(w.Start, w.End); days > 14 {
			t.Errorf("window %d %v: spans %d calendar days", i, formatWindows(ws[i:i+1]), days)
		}
		if i == 0 {
			continue
		}
		prev := ws[i-1]
		want := windowOverlap
		if prev.End.Equal(localMidnight(prev.End)) {
			want = 0 // seams at local midnight split no slot
		}
		if gap := prev.End.Sub(w.Start); gap != want {
			t.Errorf("window %d starts %s before the previous end, want %s (no gaps, bounded overlap)", i, gap, want)
		}
	}
}

func calendarDays(a, b time.Time) int {
	ay, am, ad := a.In(london).Date()
	by, bm, bd := b.In(london).Date()
	da := time.Date(ay, am, ad, 12, 0, 0, 0, time.UTC)
	db := time.Date(by, bm, bd, 12, 0, 0, 0, time.UTC)
	return int(db.Sub(da).Hours() / 24)
}

func TestSlotQuery(t *testing.T) {
	t.Parallel()
	w := window{Start: ukDate(2026, 10, 18), End: ukDate(2026, 10, 18).Add(336 * time.Hour)}
	got := slotQuery(w, "Y12345", "gp-practice")
	want := "start=ge2026-10-18T00%3A00%3A00%2B01%3A00" +
		"&end=le2026-10-31T23%3A00%3A00%2B00%3A00" +
		"&status=free" +
		"&_include=Slot%3Aschedule" +
		"&_include:recurse=Schedule%3Aactor%3APractitioner" +
		"&_include:recurse=Schedule%3Aactor%3ALocation" +
		"&_include:recurse=Location%3AmanagingOrganization" +
		"&searchFilter=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fods-organization-code%7CY12345" +
		"&searchFilter=https%3A%2F%2Ffhir.nhs.uk%2FSTU3%2FCodeSystem%2FGPConnect-OrganisationType-1%7Cgp-practice"
	if got != want {
		t.Errorf("query:\n got %s\nwant %s", got, want)
	}
	v, err := url.ParseQuery(got)
	if err != nil {
		t.Fatal(err)
	}
	wantValues := url.Values{
		"start":            {"ge2026-10-18T00:00:00+01:00"},
		"end":              {"le2026-10-31T23:00:00+00:00"},
		"status":           {"free"},
		"_include":         {"Slot:schedule"},
		"_include:recurse": {"Schedule:actor:Practitioner", "Schedule:actor:Location", "Location:managingOrganization"},
		"searchFilter": {
			"https://fhir.nhs.uk/Id/ods-organization-code|Y12345",
			"https://fhir.nhs.uk/STU3/CodeSystem/GPConnect-OrganisationType-1|gp-practice",
		},
	}
	if diff := cmp.Diff(wantValues, v); diff != "" {
		t.Errorf("decoded query (-want +got):\n%s", diff)
	}
}

func TestFormatFHIRDateTimeNeverZ(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), "2026-01-05T09:00:00+00:00"},
		{time.Date(2026, 7, 5, 8, 0, 0, 0, time.UTC), "2026-07-05T09:00:00+01:00"},
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), "2026-03-29T02:00:00+01:00"},
		{time.Date(2026, 10, 25, 0, 59, 0, 0, time.UTC), "2026-10-25T01:59:00+01:00"},
		{time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), "2026-10-25T01:00:00+00:00"},
	} {
		if got := formatFHIRDateTime(tc.in); got != tc.want {
			t.Errorf("formatFHIRDateTime(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
