package gpconnect

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// decodeJWT checks the unsigned-token framing and returns header and claims as generic JSON.
func decodeJWT(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	if !strings.HasSuffix(tok, ".") {
		t.Fatalf("token %q does not end with '.'", tok)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[2] != "" {
		t.Fatalf("token has %d parts, signature %q; want 3 parts, empty signature", len(parts), parts[len(parts)-1])
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		if strings.ContainsAny(parts[i], "=+/") {
			t.Errorf("part %d is not unpadded base64url: %q", i, parts[i])
		}
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("decode part %d: %v", i, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatalf("unmarshal part %d: %v", i, err)
		}
	}
	return header, claims
}

func TestBuildJWT(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	tok, err := buildJWT(testConsumer, "https://provider.example/A20047/STU3/1/gpconnect", jwtScopeOrganisationRead, now)
	if err != nil {
		t.Fatal(err)
	}
	header, claims := decodeJWT(t, tok)
	if diff := cmp.Diff(map[string]any{"alg": "none", "typ": "JWT"}, header); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if iat, exp := claims["iat"].(float64), claims["exp"].(float64); exp-iat != 300 || int64(iat) != now.Unix() {
		t.Errorf("iat=%v exp=%v, want iat=%d and exp-iat=300", iat, exp, now.Unix())
	}
	want := map[string]any{
		"iss": "https://gpfed.example/", "sub": "10019",
		"aud":                "https://provider.example/A20047/STU3/1/gpconnect",
		"reason_for_request": "directcare", "requested_scope": "organization/*.read",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	prac := claims["requesting_practitioner"].(map[string]any)
	if prac["id"] != claims["sub"] {
		t.Errorf("requesting_practitioner.id %v != sub %v", prac["id"], claims["sub"])
	}
	wantIDs := []any{
		map[string]any{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "111222333444"},
		map[string]any{"system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "444555666777"},
		map[string]any{"system": "https://gpfed.nhs.invalid/Id/local-user-id", "value": "10019"},
	}
	if diff := cmp.Diff(wantIDs, prac["identifier"]); diff != "" {
		t.Errorf("practitioner identifiers (-want +got):\n%s", diff)
	}
	org := claims["requesting_organization"].(map[string]any)
	wantOrg := map[string]any{
		"resourceType": "Organization", "name": "Test Federation Hub",
		"identifier": []any{map[string]any{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "Y12345"}},
	}
	if diff := cmp.Diff(wantOrg, org); diff != "" {
		t.Errorf("requesting_organization (-want +got):\n%s", diff)
	}
}

// TestJWTShapeMatchesFixture compares the element paths of our claims with the specification
// example, so a renamed or missing element shows up. The example's name prefix is optional.
func TestJWTShapeMatchesFixture(t *testing.T) {
	t.Parallel()
	var example map[string]any
	if err := json.Unmarshal(fixture(t, "jwt-claims-example.json"), &example); err != nil {
		t.Fatal(err)
	}
	tok, err := buildJWT(testConsumer, "https://p.example/STU3/1", jwtScopeOrganisationRead, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, claims := decodeJWT(t, tok)
	want := slices.DeleteFunc(jsonPaths(example, ""), func(p string) bool {
		return strings.HasPrefix(p, "requesting_practitioner.name[].prefix")
	})
	if diff := cmp.Diff(want, jsonPaths(claims, "")); diff != "" {
		t.Errorf("claim paths (-fixture +ours):\n%s", diff)
	}
}

func jsonPaths(v any, prefix string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			out = append(out, jsonPaths(child, strings.TrimPrefix(prefix+"."+k, "."))...)
		}
	case []any:
		for _, child := range v {
			out = append(out, jsonPaths(child, prefix+"[]")...)
		}
	default:
		out = append(out, prefix)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func TestJWTUnknownSDSIDsAreUNK(t *testing.T) {
	t.Parallel()
	c := testConsumer
	c.Practitioner.SDSUserID, c.Practitioner.SDSRoleProfileID, c.Practitioner.GivenName = "", "", ""
	cl := newClaims(c, "aud", jwtScopeOrganisationRead, time.Now())
	ids := cl.RequestingPractitioner.Identifier
	if ids[0].Value != "UNK" || ids[1].Value != "UNK" {
		t.Errorf("identifiers = %+v, want UNK for both SDS ids", ids)
	}
	if cl.RequestingPractitioner.Name[0].Given != nil {
		t.Errorf("given = %v, want omitted", cl.RequestingPractitioner.Name[0].Given)
	}
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/metadata") {
			writeFHIR(w, 200, fixture(t, "capability-statement.json"))
			return
		}
		writeFHIR(w, 200, []byte(emptyBundle))
	}, nil)
	ctx := t.Context()
	if _, err := c.SearchFreeSlots(ctx, p, ukDate(2026, 6, 1), ukDate(2026, 6, 8)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Metadata(ctx, p); err != nil {
		t.Fatal(err)
	}
	if rec.count() != 2 {
		t.Fatalf("requests = %d, want 2", rec.count())
	}
	traceIDs := map[string]bool{}
	for i, want := range []struct{ path, interaction string }{
		{"/A20047/STU3/1/gpconnect/Slot", InteractionSearchSlots},
		{"/A20047/STU3/1/gpconnect/metadata", InteractionMetadata},
	} {
		r := rec.get(i)
		if r.Method != http.MethodGet || r.URL.Path != want.path {
			t.Errorf("request %d: %s %s, want GET %s", i, r.Method, r.URL.Path, want.path)
		}
		h := r.Header
		for k, v := range map[string]string{
			"Ssp-From": "200000000359", "Ssp-To": "918999198993",
			"Ssp-InteractionID": want.interaction, "Accept": "application/fhir+json",
		} {
			if got := h.Get(k); got != v {
				t.Errorf("request %d: %s = %q, want %q", i, k, got, v)
			}
		}
		trace := h.Get("Ssp-TraceID")
		if len(trace) != 36 || strings.Count(trace, "-") != 4 || traceIDs[trace] {
			t.Errorf("request %d: Ssp-TraceID %q is not a fresh UUID", i, trace)
		}
		traceIDs[trace] = true
		tok, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
		if !ok {
			t.Fatalf("request %d: Authorization %q lacks Bearer", i, h.Get("Authorization"))
		}
		_, claims := decodeJWT(t, tok)
		if claims["aud"] != p.ServiceRoot {
			t.Errorf("request %d: aud %v, want %s", i, claims["aud"], p.ServiceRoot)
		}
	}
}

func TestSSPPrefix(t *testing.T) {
	t.Parallel()
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		writeFHIR(w, 200, []byte(emptyBundle))
	}, nil)
	// Route through the same server as if it were the SSP: prefix + full service root.
	root := "https://practice.example/A20047/STU3/1/gpconnect"
	sspPrefix := strings.TrimSuffix(p.ServiceRoot, "/A20047/STU3/1/gpconnect") + "/ssp" // no trailing slash: New adds it
	c2, err := New(Config{Consumer: testConsumer, HTTPClient: c.cfg.HTTPClient, SSPPrefix: sspPrefix})
	if err != nil {
		t.Fatal(err)
	}
	p.ServiceRoot = root
	if _, err := c2.SearchFreeSlots(t.Context(), p, ukDate(2026, 6, 1), ukDate(2026, 6, 2)); err != nil {
		t.Fatal(err)
	}
	r := rec.get(0)
	if want := "/ssp/https://practice.example/A20047/STU3/1/gpconnect/Slot"; r.URL.Path != want {
		t.Errorf("path = %q, want %q", r.URL.Path, want)
	}
	_, claims := decodeJWT(t, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if claims["aud"] != root {
		t.Errorf("aud = %v, want the service root %s", claims["aud"], root)
	}
}

func TestNewValidatesConsumer(t *testing.T) {
	t.Parallel()
	c := testConsumer
	c.Practitioner.ID, c.ASID = "", ""
	_, err := New(Config{Consumer: c})
	if err == nil || !strings.Contains(err.Error(), "practitioner ID") || !strings.Contains(err.Error(), "ASID") {
		t.Errorf("New error = %v, want practitioner ID and ASID reported", err)
	}
}
