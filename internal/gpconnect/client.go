package gpconnect

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Practitioner is the named person a call is made on behalf of. GP Connect forbids a generic
// "system" user, so unattended syncs are attributed to a configured responsible person.
type Practitioner struct{ ID, SDSUserID, SDSRoleProfileID, FamilyName, GivenName string }

// Consumer describes gpfed as the requesting organisation and device.
type Consumer struct {
	ODS, ASID, Name             string // requesting organisation
	EndpointURL                 string // JWT iss
	Practitioner                Practitioner
	ProductName, ProductVersion string // requesting_device model/version
}

// Provider is one member practice's GP Connect endpoint. ServiceRoot is used byte for byte, as
// SDS (or the practice's override) has it: the SSP compares it with the directory.
type Provider struct{ ODS, ASID, ServiceRoot string }

// url is the request URL of pathAndQuery ("/Slot?...") at the provider: the SSP prefix, the root
// unchanged, then the path. A root that ends in "/" (SDS holds some) keeps it and the path loses
// its own, so the root stays intact and no "//" appears.
func (p Provider) url(sspPrefix, pathAndQuery string) string {
	if strings.HasSuffix(p.ServiceRoot, "/") {
		pathAndQuery = strings.TrimPrefix(pathAndQuery, "/")
	}
	return sspPrefix + p.ServiceRoot + pathAndQuery
}

// CallInfo describes one HTTP attempt, for metrics and logs. Err is the attempt's transport or
// HTTP-status failure (an *Error); a 2xx body that fails to parse is reported by the call itself.
type CallInfo struct {
	ODS, Interaction, TraceID string
	Status                    int // 0 when no response arrived
	Duration                  time.Duration
	Attempt                   int
	Err                       error
}

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	Consumer         Consumer
	SSPPrefix        string       // "" = call service root directly; else "https://ssp/" + root
	HTTPClient       *http.Client // carries TLS mutual auth when configured
	RequestTimeout   time.Duration
	MaxResponseBytes int64
	MaxAttempts      int
	BackoffBase      time.Duration
	BackoffMax       time.Duration // Retry-After is honoured up to 3*BackoffMax
	MaxPerPractice   int
	// MaxGlobal and MinGlobal bound the process-wide limit on calls in flight, which adapts to
	// provider latency between them (see adaptive).
	MaxGlobal int
	MinGlobal int
	// OnLimit, when set, hears every change of the adaptive limit (for metrics).
	OnLimit func(limit int)
	// Resolve finds the endpoint of a practice given without a service root, per interaction
	// (nil: such calls fail with CodeNoEndpoint).
	Resolve  Resolver
	OrgType  string // searchFilter organisation type
	Observer func(CallInfo)
	Logger   *slog.Logger
	Now      func() time.Time
}

// Client calls GP Connect providers. It is safe for concurrent use.
type Client struct {
	cfg    Config
	limits *limiter
	log    *slog.Logger
}

// New validates cfg, fills defaults and returns a Client.
func New(cfg Config) (*Client, error) {
	if err := validateConsumer(cfg.Consumer); err != nil {
		return nil, err
	}
	applyDefaults(&cfg)
	if cfg.SSPPrefix != "" && !strings.HasSuffix(cfg.SSPPrefix, "/") {
		cfg.SSPPrefix += "/"
	}
	return &Client{
		cfg:    cfg,
		limits: newLimiter(cfg.MinGlobal, cfg.MaxGlobal, cfg.MaxPerPractice, cfg.OnLimit),
		log:    cfg.Logger.With("component", "gpconnect"),
	}, nil
}

func validateConsumer(c Consumer) error {
	var errs []error
	for _, f := range []struct{ name, v string }{
		{"consumer ODS", c.ODS},
		{"consumer ASID", c.ASID},
		{"consumer endpoint URL", c.EndpointURL},
		{"practitioner ID", c.Practitioner.ID},
		{"practitioner family name", c.Practitioner.FamilyName},
	} {
		if strings.TrimSpace(f.v) == "" {
			errs = append(errs, fmt.Errorf("%s is required", f.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gpconnect config: %w", err)
	}
	return nil
}

func applyDefaults(cfg *Config) {
	setDefault(&cfg.RequestTimeout, 10*time.Second)
	setDefault(&cfg.MaxResponseBytes, 32<<20)
	setDefault(&cfg.MaxAttempts, 4)
	setDefault(&cfg.BackoffBase, 500*time.Millisecond)
	setDefault(&cfg.BackoffMax, 10*time.Second)
	setDefault(&cfg.MaxPerPractice, 2)
	setDefault(&cfg.MaxGlobal, 512)
	setDefault(&cfg.MinGlobal, min(16, cfg.MaxGlobal))
	setDefault(&cfg.OrgType, "gp-practice")
	setDefault(&cfg.Consumer.ProductName, "gpfed")
	setDefault(&cfg.Consumer.ProductVersion, "dev")
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func validateProvider(p Provider) error {
	switch {
	case p.ODS == "":
		return errors.New("provider ODS code is required")
	case p.ASID == "" && p.ServiceRoot == "":
		return nil // resolved per call (Config.Resolve)
	case p.ASID == "":
		return fmt.Errorf("provider %s: ASID is required with a service root", p.ODS)
	case p.ServiceRoot == "":
		return fmt.Errorf("provider %s: service root is required with an ASID", p.ODS)
	}
	return nil
}
