package api_test

import (
	"os"
	"strings"
	"testing"
)

// TestBookingNotificationKindsDocumented: every booking notification kind is
// in docs/openapi.yaml and docs/API.md (the routes are checked with every
// other route by TestOpenAPIMatchesServedRoutes).
func TestBookingNotificationKindsDocumented(t *testing.T) {
	t.Parallel()
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"booking.created", "booking.confirmed", "booking.failed", "booking.cancelled", "booking.cancel_failed"} {
		if !strings.Contains(string(spec), kind) || !strings.Contains(string(guide), kind) {
			t.Errorf("notification kind %s is not documented in both", kind)
		}
	}
}
