package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const (
	qODS  = "organization=" + sdsSystemODS + "%7CA20047"
	qSlot = "identifier=" + sdsSystemInteraction + "%7Curn%3Anhs%3Anames%3Aservices%3Agpconnect%3Afhir%3Arest%3Asearch%3Aslot-1"
)

func sdsGet(t *testing.T, srv string, path, query string, hdr map[string]string, method string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv+sdsPrefix+path+"?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("apikey", "k")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%s: body is not JSON: %s", path, b)
	}
	return resp, body
}

// TestSDSStrictRequests: the simulated SDS refuses what the real one
// refuses, so a client that passes it sends well-formed searches.
func TestSDSStrictRequests(t *testing.T) {
	t.Parallel()
	_, srv := setup(t, Config{Practices: 2})
	partyKey := "identifier=" + url.QueryEscape(sdsSystemPartyKey+"|A20047-000000")
	tests := []struct {
		name, path, query string
		hdr               map[string]string
		method            string
		want              int
	}{
		{"endpoint ods+interaction", "/Endpoint", qODS + "&" + qSlot, nil, "GET", 200},
		{"endpoint ods alone", "/Endpoint", qODS, nil, "GET", 400},
		{"endpoint nothing", "/Endpoint", "", nil, "GET", 400},
		{"endpoint interaction+party key", "/Endpoint", qSlot + "&" + partyKey, nil, "GET", 200},
		{"lower-case path", "/endpoint", qODS + "&" + qSlot, nil, "GET", 404},
		{"unknown parameter", "/Endpoint", qODS + "&" + qSlot + "&_count=1", nil, "GET", 400},
		{"wrong organization system", "/Endpoint", "organization=A20047&" + qSlot, nil, "GET", 400},
		{"wrong identifier system", "/Endpoint", qODS + "&identifier=urn%3Aoid%3A1%7Cx", nil, "GET", 400},
		{"interaction twice", "/Endpoint", qODS + "&" + qSlot + "&" + qSlot, nil, "GET", 400},
		{"no apikey", "/Endpoint", qODS + "&" + qSlot, map[string]string{"apikey": ""}, "GET", 401},
		{"POST", "/Endpoint", qODS + "&" + qSlot, nil, "POST", 405},
		{"Accept xml", "/Endpoint", qODS + "&" + qSlot, map[string]string{"Accept": "application/fhir+xml"}, "GET", 406},
		{"Accept json", "/Endpoint", qODS + "&" + qSlot, map[string]string{"Accept": "application/json"}, "GET", 200},
		{"bad correlation id", "/Endpoint", qODS + "&" + qSlot, map[string]string{"X-Correlation-Id": "abc"}, "GET", 400},
		{"device ods+interaction", "/Device", qODS + "&" + qSlot, nil, "GET", 200},
		{"device without interaction", "/Device", qODS + "&" + partyKey, nil, "GET", 400},
		{"device manufacturer filter", "/Device", qODS + "&" + qSlot + "&manufacturing-organization=" + url.QueryEscape(sdsSystemODS+"|"+sdsSupplierODS), nil, "GET", 200},
		{"endpoint manufacturer filter", "/Endpoint", qODS + "&" + qSlot + "&manufacturing-organization=" + url.QueryEscape(sdsSystemODS+"|X"), nil, "GET", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, body := sdsGet(t, srv.URL, tc.path, tc.query, tc.hdr, tc.method)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.want, body)
			}
			want := "Bundle"
			if tc.want != 200 {
				want = "OperationOutcome"
			}
			if body["resourceType"] != want {
				t.Errorf("resourceType %v, want %s", body["resourceType"], want)
			}
		})
	}
}

// TestSDSSearchsetShape: the searchset looks like the service's own (type,
// total, self link, entries with fullUrl and search.mode), the correlation
// id is echoed, and a Device search without the party key finds both the
// provider and the consumer system of a practice.
func TestSDSSearchsetShape(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 2})
	const id = "9f3d5e84-5d8c-4b36-9b1d-2a1f0c6d7e11"
	resp, body := sdsGet(t, srv.URL, "/Endpoint", qODS+"&"+qSlot, map[string]string{"X-Correlation-Id": id}, "GET")
	if resp.Header.Get("X-Correlation-Id") != id {
		t.Errorf("correlation id not echoed: %q", resp.Header.Get("X-Correlation-Id"))
	}
	entries, _ := body["entry"].([]any)
	if body["type"] != "searchset" || body["total"] != float64(1) || len(entries) != 1 {
		t.Fatalf("endpoint searchset: %v", body)
	}
	e := entries[0].(map[string]any)
	res := e["resource"].(map[string]any)
	p, _ := f.Practice("A20047")
	if res["address"] != p.ServiceRoot || !strings.HasSuffix(e["fullUrl"].(string), "/Endpoint/"+res["id"].(string)) ||
		e["search"].(map[string]any)["mode"] != "match" {
		t.Errorf("endpoint entry: %v", e)
	}
	_, body = sdsGet(t, srv.URL, "/Device", qODS+"&"+qSlot, nil, "GET")
	if body["total"] != float64(2) {
		t.Errorf("device search without party key: total %v, want provider and consumer systems", body["total"])
	}
}
