package sim

import (
	"testing"
	"time"
)

// A request counts from its arrival until it ends or until within has
// passed; an end and a start at the same instant do not overlap.
func TestWebhookPeakWithin(t *testing.T) {
	p := &practice{}
	f := &Federation{byODS: map[string]*practice{"A1": p}}
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	p.st.hook.spans = []span{
		{start: at(0), end: at(5000)},  // hung: counts until 1000 with within = 1s
		{start: at(100), end: at(200)}, // answered
		{start: at(1000)},              // still running: counts until 2000
		{start: at(1500), end: at(1600)},
		{start: at(1550), end: at(1560)},
	}
	if got := f.WebhookPeakWithin("A1", time.Second); got != 3 {
		t.Errorf("peak within 1s = %d, want 3 (at 1550)", got)
	}
	if got := f.WebhookPeakWithin("A1", 10*time.Second); got != 4 {
		t.Errorf("peak within 10s = %d, want 4 (the hung one never gave way)", got)
	}
	if got := f.WebhookPeakWithin("B2", time.Second); got != 0 {
		t.Errorf("unknown practice: %d", got)
	}
}
