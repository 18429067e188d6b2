package sim

import (
	"net/http"
	"testing"
	"time"
)

func TestSlotSearchValidation(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 2, Seed: 5})
	p := f.Practices()[1]
	start := testNow
	end := start.AddDate(0, 0, 7)
	claim := func(k string, v any) func(*call) {
		return func(c *call) {
			if v == nil {
				delete(c.claims, k)
				return
			}
			c.claims[k] = v
		}
	}
	header := func(k, v string) func(*call) { return func(c *call) { c.headers[k] = v } }
	param := func(k, v string) func(*call) { return func(c *call) { c.setParam(k, v) } }
	drop := func(k string) func(*call) { return func(c *call) { c.dropParam(k) } }
	add := func(k, v string) func(*call) { return func(c *call) { c.params = append(c.params, [2]string{k, v}) } }
	tests := []struct {
		name   string
		mutate func(*call)
		status int
		code   string
	}{
		{"missing Ssp-TraceID", header("Ssp-TraceID", ""), 400, codeBadRequest},
		{"Ssp-TraceID not a UUID", header("Ssp-TraceID", "trace-1"), 400, codeBadRequest},
		{"missing Ssp-From", header("Ssp-From", ""), 400, codeBadRequest},
		{"missing Ssp-To", header("Ssp-To", ""), 400, codeBadRequest},
		{"Ssp-To is another ASID", header("Ssp-To", "918999198993"), 400, codeBadRequest},
		{"missing Ssp-InteractionID", header("Ssp-InteractionID", ""), 400, codeBadRequest},
		{"metadata interaction on Slot", header("Ssp-InteractionID", interactionMetadata), 400, codeBadRequest},
		{"missing Accept", header("Accept", ""), 400, codeBadRequest},
		{"Accept XML only", header("Accept", "application/fhir+xml"), 406, codeBadRequest},
		{"missing Authorization", header("Authorization", ""), 400, codeBadRequest},
		{"Authorization not Bearer", header("Authorization", "Basic Zm9vOmJhcg=="), 400, codeBadRequest},
		{"JWT two parts", func(c *call) { c.jwt = "a.b" }, 400, codeBadRequest},
		{"JWT signed", func(c *call) { c.jwt = makeJWT(t, c.header, c.claims) + "c2ln" }, 400, codeBadRequest},
		{"JWT not base64", func(c *call) { c.jwt = "!!!.???." }, 400, codeBadRequest},
		{"JWT alg HS256", func(c *call) { c.header["alg"] = "HS256" }, 400, codeBadRequest},
		{"JWT exp-iat 301", claim("exp", testNow.Unix()+301), 400, codeBadRequest},
		{"JWT exp-iat 299", claim("exp", testNow.Unix()+299), 400, codeBadRequest},
		{"JWT iat in future", func(c *call) {
			c.claims["iat"], c.claims["exp"] = testNow.Unix()+200, testNow.Unix()+500
		}, 400, codeBadRequest},
		{"JWT expired", func(c *call) {
			c.claims["iat"], c.claims["exp"] = testNow.Unix()-900, testNow.Unix()-600
		}, 400, codeBadRequest},
		{"JWT iat as string", claim("iat", "now"), 400, codeBadRequest},
		{"JWT missing iss", claim("iss", nil), 400, codeBadRequest},
		{"JWT missing sub", claim("sub", nil), 400, codeBadRequest},
		{"JWT missing aud", claim("aud", nil), 400, codeBadRequest},
		{"JWT aud with trailing slash", claim("aud", p.ServiceRoot+"/"), 400, codeBadRequest},
		{"JWT aud of another practice", claim("aud", f.Practices()[0].ServiceRoot), 400, codeBadRequest},
		{"JWT missing iat", claim("iat", nil), 400, codeBadRequest},
		{"JWT missing exp", claim("exp", nil), 400, codeBadRequest},
		{"JWT reason not directcare", claim("reason_for_request", "secondaryuses"), 400, codeBadRequest},
		{"JWT patient scope", claim("requested_scope", "patient/*.read"), 400, codeBadRequest},
		{"JWT missing device", claim("requesting_device", nil), 400, codeBadRequest},
		{"JWT device wrong type", func(c *call) { c.claims["requesting_device"].(map[string]any)["resourceType"] = "Foo" }, 400, codeBadRequest},
		{"JWT device without identifier", func(c *call) { delete(c.claims["requesting_device"].(map[string]any), "identifier") }, 400, codeBadRequest},
		{"JWT missing organization", claim("requesting_organization", nil), 400, codeBadRequest},
		{"JWT organization without ODS", func(c *call) {
			c.claims["requesting_organization"].(map[string]any)["identifier"] = []any{map[string]any{"system": "x", "value": "y"}}
		}, 400, codeBadRequest},
		{"JWT missing practitioner", claim("requesting_practitioner", nil), 400, codeBadRequest},
		{"JWT practitioner wrong type", func(c *call) {
			c.claims["requesting_practitioner"].(map[string]any)["resourceType"] = "Patient"
		}, 400, codeBadRequest},
		{"JWT sub is not practitioner id", claim("sub", "2"), 400, codeBadRequest},
		{"JWT practitioner without SDS ids", func(c *call) {
			c.claims["requesting_practitioner"].(map[string]any)["identifier"] = []any{}
		}, 400, codeBadRequest},
		{"missing start", drop("start"), 400, codeBadRequest},
		{"missing end", drop("end"), 400, codeBadRequest},
		{"start twice", add("start", "ge"+start.Format(time.DateOnly)), 422, codeInvalidParameter},
		{"end twice", add("end", "le"+end.Format(time.DateOnly)), 422, codeInvalidParameter},
		{"start prefix gt", param("start", "gt"+start.Format(fhirDateTime)), 422, codeInvalidParameter},
		{"start without prefix", param("start", start.Format(fhirDateTime)), 422, codeInvalidParameter},
		{"end prefix lt", param("end", "lt"+end.Format(fhirDateTime)), 422, codeInvalidParameter},
		{"end prefix ge", param("end", "ge"+end.Format(fhirDateTime)), 422, codeInvalidParameter},
		{"start Z offset", param("start", "ge"+start.UTC().Format("2006-01-02T15:04:05Z")), 422, codeInvalidParameter},
		{"start without offset", param("start", "ge2025-03-24T09:00:00"), 422, codeInvalidParameter},
		{"start BST offset in GMT", param("start", "ge2025-03-24T09:00:00+01:00"), 422, codeInvalidParameter},
		{"end GMT offset in BST", param("end", "le2025-03-31T09:00:00+00:00"), 422, codeInvalidParameter},
		{"start year-month only", param("start", "ge2025-03"), 422, codeInvalidParameter},
		{"start fractional seconds", param("start", "ge2025-03-24T09:00:00.000+00:00"), 422, codeInvalidParameter},
		{"start empty", param("start", ""), 422, codeInvalidParameter},
		{"end before start", param("end", "le2025-03-23"), 422, codeInvalidParameter},
		{"15-day window", param("end", "le"+start.AddDate(0, 0, 15).Format(fhirDateTime)), 422, codeInvalidParameter},
		{"14 days and a minute", param("end", "le"+start.Add(14*24*time.Hour+time.Minute).Format(fhirDateTime)), 422, codeInvalidParameter},
		{"missing status", drop("status"), 400, codeBadRequest},
		{"status busy", param("status", "busy"), 422, codeInvalidParameter},
		{"status twice", add("status", "free"), 422, codeInvalidParameter},
		{"missing _include", drop("_include"), 400, codeBadRequest},
		{"_include other", add("_include", "Slot:practitioner"), 422, codeInvalidParameter},
		{"_include:recurse other", add("_include:recurse", "Schedule:actor:Patient"), 422, codeInvalidParameter},
		{"searchFilter unknown system", add("searchFilter", "https://example.org/Id/x|1"), 422, codeInvalidParameter},
		{"searchFilter without bar", add("searchFilter", "gp-practice"), 422, codeInvalidParameter},
		{"searchFilter ODS twice", add("searchFilter", systemODS+"|Y99999"), 422, codeInvalidParameter},
		{"searchFilter ODS empty value", func(c *call) {
			c.dropParam("searchFilter")
			c.params = append(c.params, [2]string{"searchFilter", systemODS + "|"})
		}, 422, codeInvalidParameter},
		{"unknown parameter", add("_count", "10"), 422, codeInvalidParameter},
		{"format xml", add("_format", "application/fhir+xml"), 422, codeInvalidParameter},
		{"POST", func(c *call) { c.method = http.MethodPost }, 405, codeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validCall(p, start, end)
			tc.mutate(c)
			resp, body := c.do(t, srv.Client(), p)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := spineCode(t, body); got != tc.code {
				t.Errorf("spine code = %s, want %s", got, tc.code)
			}
		})
	}
}

func TestSlotSearchAcceptedVariants(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 1, Seed: 5})
	p := f.Practices()[0]
	start, end := testNow, testNow.AddDate(0, 0, 7)
	tests := []struct {
		name   string
		mutate func(*call)
	}{
		{"date-only start and end", func(c *call) {
			c.setParam("start", "ge2025-03-24")
			c.setParam("end", "le2025-04-07")
		}},
		{"exactly 14 days", func(c *call) { c.setParam("end", "le"+start.Add(14*24*time.Hour).Format(fhirDateTime)) }},
		{"zero-length window", func(c *call) { c.setParam("end", "le"+start.Format(fhirDateTime)) }},
		{"BST offset after the clock change", func(c *call) { c.setParam("end", "le2025-03-31T09:00:00+01:00") }},
		{"no searchFilter", func(c *call) { c.dropParam("searchFilter") }},
		{"only org type filter", func(c *call) {
			c.dropParam("searchFilter")
			c.params = append(c.params, [2]string{"searchFilter", systemOrgType + "|urgent-care"})
		}},
		{"JWT without typ", func(c *call) { delete(c.header, "typ") }},
		{"JWT iat 30s ahead", func(c *call) { c.claims["iat"], c.claims["exp"] = testNow.Unix()+30, testNow.Unix()+330 }},
		{"Accept with charset", func(c *call) { c.headers["Accept"] = "application/fhir+json;charset=utf-8" }},
		{"format json", func(c *call) { c.params = append(c.params, [2]string{"_format", "application/fhir+json"}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validCall(p, start, end)
			tc.mutate(c)
			if resp, body := c.do(t, srv.Client(), p); resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d: %s", resp.StatusCode, body)
			}
		})
	}
}

func TestUnknownODSAndPaths(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 1, Seed: 5})
	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/Z99999/STU3/1/gpconnect/Slot", 404, codeOrgNotFound},
		{"/A20047/STU3/1/gpconnect/Encounter", 404, codeNoRecord},
		{"/A20047/STU3/1/gpconnect/Slot/", 404, codeNoRecord},
		{"/A20047/STU3/2/gpconnect/Slot", 404, codeNoRecord},
	}
	for _, tc := range tests {
		resp, err := srv.Client().Get(f.BaseURL() + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != tc.status || spineCode(t, body) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.path, resp.StatusCode, body, tc.status, tc.code)
		}
	}
}
