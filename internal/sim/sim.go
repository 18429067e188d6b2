// Package sim is a strict simulated GP Connect federation for tests, benchmarks and demos.
//
// One http.Handler hosts any number of practices, each at /<ODS>/STU3/1/gpconnect, answering
// Slot searches and metadata reads the way the GP Connect reference provider does: every SSP
// header, the unsigned JWT and every search parameter are checked, and failures are answered with
// spec-shaped OperationOutcomes. It also hosts a webhook receiver per practice at /hooks/<ODS>
// that verifies gpfed's signed task deliveries, and the Spine Directory Service's Endpoint and
// Device searches at /spine-directory/FHIR/R4 that resolve each practice's service root and ASID
// (with directory faults: no endpoint, several endpoints, outages, slow answers).
//
// Data is generated from a seed: the same seed gives byte-identical responses. Slots are never
// stored; each (practice, day) is regenerated on demand from a hash of (seed, ODS, date), so a
// federation of thousands of practices costs only its static directory in memory. The package
// deliberately does not import internal/gpconnect: it must judge that client independently.
package sim

import (
	"encoding/csv"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes a simulated federation.
type Config struct {
	Practices   int   // number of member practices (default 10); practice 0 is A20047
	Seed        int64 // same seed => same practices, ids and slots
	Days        int   // booking horizon in days from today (default 28)
	SlotsPerDay int   // approximate free slots per practice per weekday (default 40)
	// BaseURL is the scheme://host[:port] the handler is served at, without a trailing slash. It
	// can be set here or, when the listener is created after New, with SetBaseURL. When empty the
	// JWT aud check derives the service root from the request's Host.
	BaseURL string
	Latency LatencyDist // added to every GP Connect response (zero value: none)
	Logger  *slog.Logger
	Now     func() time.Time // default time.Now; JWT iat/exp and the booking horizon use it
	// MaxHang caps how long a Timeout fault holds a request when the client never gives up
	// (default 2 minutes). Close releases every hanging request at once.
	MaxHang time.Duration
	// SDSAPIKey is the apikey the simulated SDS accepts; empty accepts any non-empty key, as
	// the sandbox does.
	SDSAPIKey string
}

const (
	defaultPractices   = 10
	defaultDays        = 28
	defaultSlotsPerDay = 40
	defaultMaxHang     = 2 * time.Minute
)

// Practice is one member practice as a consumer's directory would list it.
type Practice struct {
	ODS           string
	Name          string
	ASID          string
	ServiceRoot   string // BaseURL + "/" + ODS + "/STU3/1/gpconnect"
	WebhookURL    string // BaseURL + "/hooks/" + ODS
	WebhookSecret string // what the receiver verifies with (SetWebhookSecret, else a generated one)
	Telephone     string
}

// Federation is a running simulated federation. All methods are safe for concurrent use.
type Federation struct {
	cfg       Config
	log       *slog.Logger
	practices []*practice
	byODS     map[string]*practice
	restrict  string // the ODS code that organisation-restricted slots are offered to
	baseURL   atomic.Pointer[string]
	pre       atomic.Pointer[preEncodedSet] // PreEncodeSearches
	done      chan struct{}
	closeOnce sync.Once
}

// New builds a federation. It never fails: out-of-range values fall back to defaults.
func New(cfg Config) *Federation {
	if cfg.Practices <= 0 {
		cfg.Practices = defaultPractices
	}
	if cfg.Days <= 0 {
		cfg.Days = defaultDays
	}
	if cfg.SlotsPerDay <= 0 {
		cfg.SlotsPerDay = defaultSlotsPerDay
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxHang <= 0 {
		cfg.MaxHang = defaultMaxHang
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &Federation{
		cfg:   cfg,
		log:   logger.With("component", "sim"),
		byODS: make(map[string]*practice, cfg.Practices),
		done:  make(chan struct{}),
	}
	f.SetBaseURL(cfg.BaseURL)
	g := newDirectoryGen(cfg.Seed, cfg.SlotsPerDay)
	f.restrict = g.restrictedODS()
	for i := range cfg.Practices {
		p := g.practice(i)
		f.practices = append(f.practices, p)
		f.byODS[p.ods] = p
	}
	return f
}

// SetBaseURL sets the scheme://host[:port] the federation is reachable at, e.g. an
// httptest.Server's URL. A trailing slash is removed.
func (f *Federation) SetBaseURL(base string) {
	base = strings.TrimRight(base, "/")
	f.baseURL.Store(&base)
}

// BaseURL returns the current base URL ("" until set).
func (f *Federation) BaseURL() string { return *f.baseURL.Load() }

// Close releases requests held by Timeout faults. The handler keeps working afterwards, but new
// Timeout faults answer at once.
func (f *Federation) Close() {
	f.closeOnce.Do(func() { close(f.done) })
}

// RestrictedODS is the organisation that some slots are reserved for: they are returned only to
// a search whose ods-organization-code searchFilter names this code.
func (f *Federation) RestrictedODS() string { return f.restrict }

// Handler serves every practice's GP Connect service root (/<ODS>/STU3/1/gpconnect/...: metadata,
// Slot, Patient, Patient/$gpc.registerpatient, Appointment, Patient/<id>/Appointment),
// /hooks/<ODS> and the Spine Directory Service (/spine-directory/FHIR/R4/{Endpoint,Device}).
func (f *Federation) Handler() http.Handler { return http.HandlerFunc(f.serveHTTP) }

func (f *Federation) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, sdsPrefix+"/"); ok {
		f.serveSDS(w, r, rest)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) == 2 && parts[0] == "hooks" {
		f.serveWebhook(w, r, parts[1])
		return
	}
	if len(parts) == 3 && parts[0] == "hooks" && parts[2] == "secret" {
		f.serveSecret(w, r, parts[1])
		return
	}
	p := f.byODS[parts[0]]
	if p == nil {
		writeOutcome(w, http.StatusNotFound, codeOrgNotFound, "No organisation found for ODS code in the request path")
		return
	}
	if len(parts) < 5 || parts[1] != "STU3" || parts[2] != "1" || parts[3] != "gpconnect" {
		writeOutcome(w, http.StatusNotFound, codeNoRecord, "Unknown path; the service root is /"+p.ods+"/STU3/1/gpconnect")
		return
	}
	f.serveGPConnect(w, r, p, parts[4:])
}

// Practices lists the member practices in generation order (practice 0 first).
func (f *Federation) Practices() []Practice {
	base := f.BaseURL()
	out := make([]Practice, len(f.practices))
	for i, p := range f.practices {
		out[i] = p.public(base)
	}
	return out
}

// Practice returns one member practice by ODS code.
func (f *Federation) Practice(ods string) (Practice, bool) {
	p := f.byODS[ods]
	if p == nil {
		return Practice{}, false
	}
	return p.public(f.BaseURL()), true
}

// WriteCSV writes the practice directory as CSV with the header
// ods_code,name,asid,endpoint,webhook_url,telephone,temporary_registration.
// It has no secrets: gpfed generates them on import, and SetWebhookSecret
// tells the receivers. Every practice agrees to temporary registrations
// except the fifth (index 4), so that refusals can be shown too.
func (f *Federation) WriteCSV(w io.Writer) error { return f.writeCSV(w, true) }

// WriteODSCSV writes the directory as a federation knows it, without
// endpoints: ods_code,name,webhook_url,telephone,temporary_registration.
// gpfed then resolves every practice through the simulated SDS.
func (f *Federation) WriteODSCSV(w io.Writer) error { return f.writeCSV(w, false) }

func (f *Federation) writeCSV(w io.Writer, endpoints bool) error {
	cw := csv.NewWriter(w)
	row := func(ods, name, asid, endpoint, hook, phone, reg string) []string {
		if endpoints {
			return []string{ods, name, asid, endpoint, hook, phone, reg}
		}
		return []string{ods, name, hook, phone, reg}
	}
	if err := cw.Write(row("ods_code", "name", "asid", "endpoint", "webhook_url", "telephone", "temporary_registration")); err != nil {
		return err
	}
	for i, p := range f.Practices() {
		reg := strconv.FormatBool(i != 4)
		if err := cw.Write(row(p.ODS, p.Name, p.ASID, p.ServiceRoot, p.WebhookURL, p.Telephone, reg)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Requests counts the GP Connect requests (valid or not) a practice has received.
func (f *Federation) Requests(ods string) int {
	p := f.byODS[ods]
	if p == nil {
		return 0
	}
	return int(p.st.requests.Load())
}

func (p *practice) public(base string) Practice {
	return Practice{
		ODS:           p.ods,
		Name:          p.name,
		ASID:          p.asid,
		ServiceRoot:   base + "/" + p.ods + "/STU3/1/gpconnect",
		WebhookURL:    base + "/hooks/" + p.ods,
		WebhookSecret: p.webhookSecret(),
		Telephone:     p.phone,
	}
}
