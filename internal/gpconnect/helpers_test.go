package gpconnect

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var testConsumer = Consumer{
	ODS:         "Y12345",
	ASID:        "200000000359",
	Name:        "Test Federation Hub",
	EndpointURL: "https://gpfed.example/",
	Practitioner: Practitioner{
		ID: "10019", SDSUserID: "111222333444", SDSRoleProfileID: "444555666777",
		FamilyName: "Jones", GivenName: "Claire",
	},
	ProductName:    "gpfed",
	ProductVersion: "1.0.0",
}

// recorder is a real loopback GP Connect provider whose behaviour each test scripts.
type recorder struct {
	mu       sync.Mutex
	requests []*http.Request
}

func (r *recorder) add(req *http.Request) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, req.Clone(req.Context()))
	return len(r.requests)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

func (r *recorder) get(i int) *http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[i]
}

// setup starts a provider that calls h with the 1-based request number and returns a client and
// the Provider pointing at it. mod adjusts the Config before New.
func setup(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request), mod func(*Config)) (*Client, Provider, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(rec.add(r), w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := Config{
		Consumer:       testConsumer,
		HTTPClient:     srv.Client(),
		RequestTimeout: 2 * time.Second,
		BackoffBase:    time.Millisecond,
		BackoffMax:     5 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	p := Provider{ODS: "A20047", ASID: "918999198993", ServiceRoot: srv.URL + "/A20047/STU3/1/gpconnect"}
	return c, p, rec
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFHIR(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/fhir+json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

const emptyBundle = `{"resourceType":"Bundle","type":"searchset","entry":[]}`

func ukDate(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, london)
}
