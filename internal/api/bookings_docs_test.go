package api_test

import (
	"os"
	"strings"
	"testing"
)

// TestBookingAPIDocumented keeps docs/openapi.yaml and docs/API.md in step
// with the booking routes.
func TestBookingAPIDocumented(t *testing.T) {
	t.Parallel()
	spec, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	guide, err := os.ReadFile("../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range []struct{ method, path string }{
		{"get", "/v1/slots"},
		{"post", "/v1/bookings"},
		{"get", "/v1/bookings"},
		{"get", "/v1/bookings/{id}"},
		{"post", "/v1/bookings/{id}/cancel"},
	} {
		block, ok := pathBlock(string(spec), rt.path)
		if !ok || !strings.Contains(block, "\n    "+rt.method+":") {
			t.Errorf("openapi.yaml does not describe %s %s", strings.ToUpper(rt.method), rt.path)
		}
		if !strings.Contains(string(guide), strings.ToUpper(rt.method)+" "+rt.path) {
			t.Errorf("API.md does not describe %s %s", strings.ToUpper(rt.method), rt.path)
		}
	}
	for _, kind := range []string{"booking.created", "booking.confirmed", "booking.failed", "booking.cancelled", "booking.cancel_failed"} {
		if !strings.Contains(string(spec), kind) || !strings.Contains(string(guide), kind) {
			t.Errorf("notification kind %s is not documented in both", kind)
		}
	}
}
