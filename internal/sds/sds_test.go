package sds_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/sds"
	"github.com/gpfed/gpfed/internal/sim"
)

const slotSearch = "urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1"

// simSDS serves a strict simulated federation whose SDS accepts only key.
func simSDS(t *testing.T, practices int) (*sim.Federation, string) {
	t.Helper()
	fed := sim.New(sim.Config{Practices: practices, Seed: 3, SDSAPIKey: "test-key"})
	srv := httptest.NewServer(fed.Handler())
	t.Cleanup(func() { fed.Close(); srv.Close() })
	fed.SetBaseURL(srv.URL)
	return fed, fed.SDSBaseURL()
}

func newClient(t *testing.T, base string, mod func(*sds.Config)) *sds.Client {
	t.Helper()
	cfg := sds.Config{BaseURL: base, APIKey: "test-key", Timeout: 2 * time.Second, MaxAttempts: 3,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := sds.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func asSDSError(t *testing.T, err error) *sds.Error {
	t.Helper()
	var e *sds.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *sds.Error", err, err)
	}
	return e
}

// TestLookupResolvesProviderEndpointAndASID: the two-step lookup against the
// strict simulator returns the practice's service root and its provider
// ASID, not the consumer ASID the same practice also holds.
func TestLookupResolvesProviderEndpointAndASID(t *testing.T) {
	t.Parallel()
	fed, base := simSDS(t, 3)
	c := newClient(t, base, nil)
	for _, p := range fed.Practices() {
		got, err := c.Lookup(t.Context(), p.ODS, slotSearch)
		if err != nil {
			t.Fatal(err)
		}
		want := sds.Endpoint{ODS: p.ODS, Interaction: slotSearch, Address: p.ServiceRoot, PartyKey: fed.PartyKey(p.ODS), ASID: p.ASID}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", p.ODS, diff)
		}
		if n := fed.SDSRequests(p.ODS); n != 2 {
			t.Errorf("%s: %d SDS requests, want 2 (Endpoint then Device)", p.ODS, n)
		}
	}
}

func TestLookupDirectoryFaults(t *testing.T) {
	t.Parallel()
	fed, base := simSDS(t, 8)
	c := newClient(t, base, nil)
	ods := fed.Practices()
	tests := []struct {
		name     string
		fault    sim.SDSFault
		kind     sds.Kind
		code     string
		status   int
		requests int
		diag     string
	}{
		{"no endpoint", sim.SDSFault{NoEndpoint: true}, sds.NotEnabled, "SDS_NO_ENDPOINT", 200, 1, "no GP Connect endpoint"},
		{"several endpoints", sim.SDSFault{TwoEndpoints: true}, sds.Inconsistent, "SDS_INCONSISTENT", 200, 1, "2 endpoints"},
		{"no device", sim.SDSFault{NoDevice: true}, sds.Inconsistent, "SDS_INCONSISTENT", 200, 2, "no accredited system"},
		{"outage", sim.SDSFault{Status: 503}, sds.Unavailable, "SDS_UNAVAILABLE", 503, 3, "Simulated SDS fault"},
		{"bad gateway", sim.SDSFault{Status: 502}, sds.Unavailable, "SDS_UNAVAILABLE", 502, 3, ""},
		{"slow", sim.SDSFault{Latency: 5 * time.Second}, sds.Unavailable, "SDS_UNAVAILABLE", 0, 3, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := ods[i+1].ODS
			fed.SetSDSFault(p, tc.fault)
			_, err := newClient(t, base, func(c *sds.Config) { c.Timeout = 200 * time.Millisecond }).Lookup(t.Context(), p, slotSearch)
			e := asSDSError(t, err)
			if e.Kind != tc.kind || e.Code() != tc.code || e.Status != tc.status || !strings.Contains(e.Error(), tc.diag) {
				t.Errorf("got kind %d code %s status %d: %v", e.Kind, e.Code(), e.Status, err)
			}
			if errors.Is(err, sds.ErrNotEnabled) != (tc.kind == sds.NotEnabled) {
				t.Errorf("errors.Is(ErrNotEnabled) wrong for %v", err)
			}
			if n := fed.SDSRequests(p); n != tc.requests {
				t.Errorf("%d SDS requests, want %d", n, tc.requests)
			}
		})
	}
	t.Run("outage clears after a retry", func(t *testing.T) {
		t.Parallel()
		p := ods[7].ODS
		fed.SetSDSFault(p, sim.SDSFault{Status: 500, Times: 1})
		got, err := c.Lookup(t.Context(), p, slotSearch)
		if err != nil || got.ASID == "" {
			t.Fatalf("%+v, %v", got, err)
		}
	})
}

func TestLookupUnknownPracticeIsNotEnabled(t *testing.T) {
	t.Parallel()
	_, base := simSDS(t, 1)
	_, err := newClient(t, base, nil).Lookup(t.Context(), "Q99999", slotSearch)
	if !errors.Is(err, sds.ErrNotEnabled) {
		t.Fatalf("want not enabled, got %v", err)
	}
}

func TestLookupRejectedKeyIsNotRetried(t *testing.T) {
	t.Parallel()
	fed, base := simSDS(t, 1)
	_, err := newClient(t, base, func(c *sds.Config) { c.APIKey = "wrong" }).Lookup(t.Context(), "A20047", slotSearch)
	e := asSDSError(t, err)
	if e.Kind != sds.Rejected || e.Status != 401 || !strings.Contains(e.Error(), "apikey") {
		t.Fatalf("got %v", err)
	}
	if n := fed.SDSRequests("A20047"); n != 0 {
		t.Errorf("the gateway refusal counted %d practice requests", n)
	}
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestLookupRequestShape pins the wire form: paths, encoded system|value
// parameters (the party key from step 1 in step 2) and headers.
func TestLookupRequestShape(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Clone(context.Background()))
		mu.Unlock()
		name := "endpoint-bundle-resolved.json"
		if r.URL.Path == "/R4/Device" {
			name = "device-bundle-resolved.json"
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		_, _ = w.Write(readFixture(t, name))
	}))
	t.Cleanup(srv.Close)
	ep, err := newClient(t, srv.URL+"/R4/", nil).Lookup(t.Context(), "org", "service:interaction")
	if err != nil {
		t.Fatal(err)
	}
	want := sds.Endpoint{ODS: "org", Interaction: "service:interaction", Address: "https://192.168.128.11/sync-service",
		PartyKey: "some_party_key", ASID: "928942012545"}
	if diff := cmp.Diff(want, ep); diff != "" {
		t.Errorf("endpoint from the fixtures (-want +got):\n%s", diff)
	}
	wantURLs := []string{
		"/R4/Endpoint?organization=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fods-organization-code%7Corg&identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2FnhsServiceInteractionId%7Cservice%3Ainteraction",
		"/R4/Device?organization=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fods-organization-code%7Corg&identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2FnhsServiceInteractionId%7Cservice%3Ainteraction&identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2FnhsMhsPartyKey%7Csome_party_key",
	}
	if len(got) != 2 {
		t.Fatalf("%d requests", len(got))
	}
	for i, r := range got {
		if r.URL.RequestURI() != wantURLs[i] {
			t.Errorf("request %d:\n got %s\nwant %s", i, r.URL.RequestURI(), wantURLs[i])
		}
		if r.Method != http.MethodGet || r.Header.Get("apikey") != "test-key" || r.Header.Get("Accept") != "application/fhir+json" ||
			!uuidRe.MatchString(r.Header.Get("X-Correlation-Id")) {
			t.Errorf("request %d headers: %v", i, r.Header)
		}
	}
}

// TestLookupRefusesOASExamples: the OAS examples carry {"$ref": ...} entries
// (an OAS convention, not data); gpfed must not read them as an endpoint.
func TestLookupRefusesOASExamples(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(readFixture(t, "endpoint-bundle.json"))
	}))
	t.Cleanup(srv.Close)
	_, err := newClient(t, srv.URL, nil).Lookup(t.Context(), "YES", slotSearch)
	if e := asSDSError(t, err); e.Kind != sds.Inconsistent {
		t.Fatalf("got %v", err)
	}
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCacheIsPerSessionAndInteraction: one lookup per practice per session
// and interaction; a new session asks again; outages are not cached.
func TestCacheIsPerSessionAndInteraction(t *testing.T) {
	t.Parallel()
	fed, base := simSDS(t, 2)
	cache := sds.NewCache(newClient(t, base, nil), time.Hour)
	ctx := t.Context()
	p := fed.Practices()[1].ODS
	requests := func() int { return fed.SDSRequests(p) }
	for range 3 {
		if _, err := cache.Lookup(ctx, "run:1", p, slotSearch); err != nil {
			t.Fatal(err)
		}
	}
	if requests() != 2 {
		t.Fatalf("3 lookups in one session made %d requests, want 2", requests())
	}
	metadata := "urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1"
	if _, err := cache.Lookup(ctx, "run:1", p, metadata); err != nil || requests() != 4 {
		t.Fatalf("another interaction reused the cached endpoint: %d requests, %v", requests(), err)
	}
	if _, err := cache.Lookup(ctx, "run:2", p, slotSearch); err != nil || requests() != 6 {
		t.Fatalf("a new session reused the cached endpoint: %d requests, %v", requests(), err)
	}
	fed.SetSDSFault(p, sim.SDSFault{Status: 503, Times: 3})
	if _, err := cache.Lookup(ctx, "run:3", p, slotSearch); err == nil {
		t.Fatal("outage: no error")
	}
	if _, err := cache.Lookup(ctx, "run:3", p, slotSearch); err != nil {
		t.Fatalf("the outage was cached: %v", err)
	}
	cache.EndSession("run:1")
	cache.EndSession("run:2")
	cache.EndSession("run:3")
	if cache.Len() != 0 {
		t.Errorf("%d entries left after every session ended", cache.Len())
	}
}
