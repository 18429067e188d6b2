// Package sds resolves a practice's GP Connect service root and ASID through
// the Spine Directory Service (SDS) FHIR API, the way GP Connect requires a
// consumer to: for the interaction about to be called, in two steps.
//
//  1. GET /Endpoint?organization=<ODS>&identifier=<interaction>: the
//     practice's MHS record, whose address is the service root (used byte
//     for byte, also as the JWT aud) and whose party key picks step 2's record.
//  2. GET /Device?organization=<ODS>&identifier=<interaction>&identifier=<party key>:
//     the accredited system record, whose nhsSpineASID is the Ssp-To value.
//     The party key matters: a practice also has consumer ASIDs.
//
// No MHS record is a normal answer ("not GP Connect enabled" for that
// interaction, ErrNotEnabled); several addresses, or not exactly one ASID,
// is bad directory data and fails closed. 429 and 5xx are retried with
// back-off; other 4xx mean gpfed's request or key is wrong and are not.
//
// Lookups are never shared across interactions: a root found for slot
// search says nothing about booking or Access Record. Cache keeps results
// for one session (one sync run, one booking session), as the specification
// allows, and never across sessions.
package sds

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Identifier systems of the SDS FHIR API (query values are system|value).
const (
	SystemODS         = "https://fhir.nhs.uk/Id/ods-organization-code"
	SystemInteraction = "https://fhir.nhs.uk/Id/nhsServiceInteractionId"
	SystemPartyKey    = "https://fhir.nhs.uk/Id/nhsMhsPartyKey"
	SystemASID        = "https://fhir.nhs.uk/Id/nhsSpineASID"
)

// Endpoint is what SDS says about one practice for one interaction.
type Endpoint struct {
	ODS         string
	Interaction string
	Address     string // the FHIR service root, exactly as SDS holds it
	PartyKey    string
	ASID        string
}

// Call describes one HTTP attempt to SDS, for metrics and logs.
type Call struct {
	Step     string // "Endpoint" or "Device"
	Status   int    // 0 when no response arrived
	Duration time.Duration
	Attempt  int
}

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// BaseURL is the FHIR R4 base, e.g.
	// https://int.api.service.nhs.uk/spine-directory/FHIR/R4 (no trailing slash needed).
	BaseURL    string
	APIKey     string // sent as the apikey header; never logged
	HTTPClient *http.Client
	Timeout    time.Duration // one attempt; default 10s
	// MaxAttempts bounds attempts per request for 429, 5xx and timeouts; default 3.
	MaxAttempts int
	BackoffBase time.Duration // default 250ms
	BackoffMax  time.Duration // default 5s; Retry-After is honoured up to 4x this
	// RatePerSecond caps requests per second from this process (0: no cap).
	// The API gateway's spike arrest defaults to 40/s per application.
	RatePerSecond float64
	Observer      func(Call)
	Logger        *slog.Logger
}

// Client looks endpoints up. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    string
	limiter *rate.Limiter // nil: unlimited
	log     *slog.Logger
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return nil, fmt.Errorf("sds: base URL %q must be an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.APIKey == "" {
		return nil, errors.New("sds: an API key is required (any value works in the sandbox)")
	}
	applyDefaults(&cfg)
	c := &Client{cfg: cfg, base: base, log: cfg.Logger.With("component", "sds")}
	if cfg.RatePerSecond > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RatePerSecond), max(1, int(cfg.RatePerSecond)))
	}
	return c, nil
}

func applyDefaults(cfg *Config) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 250 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 5 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
}
