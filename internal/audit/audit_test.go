package audit

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
)

func TestParseFilterDatesAreUKMidnight(t *testing.T) {
	t.Parallel()
	london, _ := time.LoadLocation("Europe/London")
	f, errs := ParseFilter(url.Values{"from": {"2026-07-01"}, "to": {"2026-07-02T00:00:00Z"}, "practice": {"a20047"}}, london)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if want := time.Date(2026, 6, 30, 23, 0, 0, 0, time.UTC); !f.From.Equal(want) || f.ODSCode != "A20047" {
		t.Fatalf("from %s (want %s, BST midnight), practice %q", f.From.UTC(), want, f.ODSCode)
	}
	if _, errs := ParseFilter(url.Values{"from": {"2026-07-02"}, "to": {"2026-07-01"}}, london); errs["to"] == "" {
		t.Fatal("to before from was accepted")
	}
}

// Spreadsheets run cells starting with = + - @ as formulas; the export
// defuses every one, whatever column it is in.
func TestCSVDefusesFormulas(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := NewCSVWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	rec := store.AccessRecord{ID: 1, At: time.Unix(0, 0), ActorRole: "anonymous", APIKeyID: uuid.Nil, Action: "auth.failed",
		Status: 401, ForwardedFor: `=HYPERLINK("http://evil","x")`, RemoteAddr: "+1", Reason: "@sum", Route: "-2"}
	if err := w.Write([]store.AccessRecord{rec}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	row := strings.Split(strings.TrimSpace(buf.String()), "\n")[1]
	for _, bad := range []string{",=", ",+", ",@", ",-"} {
		if strings.Contains(row, bad) {
			t.Fatalf("a formula cell survived (%q): %s", bad, row)
		}
	}
}
