package sim

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testNow is a Monday in the week the UK moves to BST (Sunday 30 March 2025), so a 14-day search
// from it crosses the clock change.
var testNow = time.Date(2025, 3, 24, 9, 0, 0, 0, london)

func setup(t testing.TB, cfg Config) (*Federation, *httptest.Server) {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	f := New(cfg)
	srv := httptest.NewServer(f.Handler())
	f.SetBaseURL(srv.URL)
	t.Cleanup(func() { f.Close(); srv.Close() })
	return f, srv
}

// makeJWT hand-builds an unsigned GP Connect JWT (the simulator must not trust the client's code).
func makeJWT(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "."
}

func jwtHeaderNone() map[string]any { return map[string]any{"alg": "none", "typ": "JWT"} }

func validClaims(aud string, now time.Time) map[string]any {
	return map[string]any{
		"iss":                "https://gpfed.example/",
		"sub":                "1",
		"aud":                aud,
		"iat":                now.Unix(),
		"exp":                now.Unix() + 300,
		"reason_for_request": "directcare",
		"requested_scope":    "organization/*.read",
		"requesting_device": map[string]any{
			"resourceType": "Device",
			"identifier":   []any{map[string]any{"system": "https://gpfed.example/Id/device", "value": "gpfed-1"}},
			"model":        "gpfed", "version": "1.0",
		},
		"requesting_organization": map[string]any{
			"resourceType": "Organization",
			"identifier":   []any{map[string]any{"system": systemODS, "value": "Y12345"}},
			"name":         "Test Federation Hub",
		},
		"requesting_practitioner": map[string]any{
			"resourceType": "Practitioner", "id": "1",
			"identifier": []any{
				map[string]any{"system": systemSDSUser, "value": "111222333444"},
				map[string]any{"system": systemSDSRole, "value": "UNK"},
				map[string]any{"system": "https://gpfed.example/Id/user", "value": "ops"},
			},
			"name": []any{map[string]any{"family": "Jones", "given": []string{"Claire"}}},
		},
	}
}

// call is one request to a practice, valid until a test mutates it.
type call struct {
	method  string
	path    string // "Slot" or "metadata"
	params  [][2]string
	headers map[string]string
	header  map[string]any // JWT header
	claims  map[string]any
	jwt     string // overrides header+claims when set
}

func slotParams(start, end time.Time, filters bool) [][2]string {
	ps := [][2]string{
		{"start", "ge" + start.In(london).Format(fhirDateTime)},
		{"end", "le" + end.In(london).Format(fhirDateTime)},
		{"status", "free"},
		{"_include", "Slot:schedule"},
		{"_include:recurse", "Schedule:actor:Practitioner"},
		{"_include:recurse", "Schedule:actor:Location"},
		{"_include:recurse", "Location:managingOrganization"},
	}
	if filters {
		ps = append(ps, [2]string{"searchFilter", systemODS + "|Y12345"}, [2]string{"searchFilter", systemOrgType + "|gp-practice"})
	}
	return ps
}

func validCall(p Practice, start, end time.Time) *call {
	return &call{
		method: http.MethodGet,
		path:   "Slot",
		params: slotParams(start, end, true),
		headers: map[string]string{
			"Ssp-TraceID":       "9f2a6c1e-3b7d-4e8a-9c5f-1d2e3f4a5b6c",
			"Ssp-From":          "200000000359",
			"Ssp-To":            p.ASID,
			"Ssp-InteractionID": interactionSlotSearch,
			"Accept":            "application/fhir+json",
		},
		header: jwtHeaderNone(),
		claims: validClaims(p.ServiceRoot, testNow),
	}
}

func (c *call) setParam(name, value string) {
	for i := range c.params {
		if c.params[i][0] == name {
			c.params[i][1] = value
			return
		}
	}
	c.params = append(c.params, [2]string{name, value})
}

func (c *call) dropParam(name string) {
	out := c.params[:0]
	for _, kv := range c.params {
		if kv[0] != name {
			out = append(out, kv)
		}
	}
	c.params = out
}

func (c *call) request(t testing.TB, p Practice) *http.Request {
	t.Helper()
	q := make([]string, len(c.params))
	for i, kv := range c.params {
		q[i] = kv[0] + "=" + url.QueryEscape(kv[1])
	}
	req, err := http.NewRequest(c.method, p.ServiceRoot+"/"+c.path+"?"+strings.Join(q, "&"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	tok := c.jwt
	if tok == "" {
		tok = makeJWT(t, c.header, c.claims)
	}
	if _, ok := c.headers["Authorization"]; !ok {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req
}

func (c *call) do(t testing.TB, client *http.Client, p Practice) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Do(c.request(t, p))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, body
}

// spineCode extracts issue[0].details.coding[0].code, checking the OperationOutcome's shape.
func spineCode(t testing.TB, body []byte) string {
	t.Helper()
	var oo struct {
		ResourceType string `json:"resourceType"`
		Meta         struct{ Profile []string }
		Issue        []struct {
			Details struct {
				Coding []struct{ System, Code string }
			}
			Diagnostics string
		}
	}
	if err := json.Unmarshal(body, &oo); err != nil {
		t.Fatalf("OperationOutcome is not JSON: %v: %s", err, body)
	}
	if oo.ResourceType != "OperationOutcome" || len(oo.Meta.Profile) != 1 || oo.Meta.Profile[0] != profileOutcome ||
		len(oo.Issue) == 0 || len(oo.Issue[0].Details.Coding) == 0 || oo.Issue[0].Diagnostics == "" ||
		oo.Issue[0].Details.Coding[0].System != systemSpineError {
		t.Fatalf("not a GPConnect-OperationOutcome-1: %s", body)
	}
	return oo.Issue[0].Details.Coding[0].Code
}

type parsedBundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Entry        []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
	} `json:"entry"`
}

type resourceHead struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Start, End   string
	Status       string
	Schedule     struct{ Reference string }
	Actor        []struct{ Reference string }
	Extension    []struct {
		URL       string `json:"url"`
		ValueCode string `json:"valueCode"`
	}
}

func parseBundle(t testing.TB, body []byte) (parsedBundle, []resourceHead) {
	t.Helper()
	var b parsedBundle
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("bundle: %v", err)
	}
	heads := make([]resourceHead, len(b.Entry))
	for i, e := range b.Entry {
		if e.FullURL != "" {
			t.Errorf("entry %d has fullUrl %q; GP Connect leaves it out", i, e.FullURL)
		}
		if err := json.Unmarshal(e.Resource, &heads[i]); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	return b, heads
}

func countType(heads []resourceHead, typ string) int {
	n := 0
	for _, h := range heads {
		if h.ResourceType == typ {
			n++
		}
	}
	return n
}

func readAll(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
