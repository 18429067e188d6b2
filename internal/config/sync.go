package config

import (
	"fmt"
	"strings"
	"time"
)

// SDS is the Spine Directory Service FHIR API through which practices'
// GP Connect endpoints and ASIDs are resolved. Empty URL: SDS is not used,
// and every practice needs an endpoint override in the practices CSV.
type SDS struct {
	// URL is the FHIR R4 base, e.g. https://int.api.service.nhs.uk/spine-directory/FHIR/R4.
	URL string `env:"GPFED_SDS_URL"`
	// APIKey is the application's API key (the apikey header); a secret.
	APIKey  string        `env:"GPFED_SDS_API_KEY"`
	Timeout time.Duration `env:"GPFED_SDS_TIMEOUT, default=10s"`
	// RateLimit caps SDS requests per second from one process (0: no cap);
	// the API gateway's spike arrest defaults to 40/s per application.
	RateLimit float64 `env:"GPFED_SDS_RATE_LIMIT, default=40"`
}

// validateSync checks the SDS and sync sizing settings.
func (c *All) validateSync() []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if u := c.SDS.URL; u != "" && (!isAbsHTTP(u) || strings.ContainsAny(u, "?#")) {
		bad("GPFED_SDS_URL", "must be an absolute https URL of the SDS FHIR R4 base, e.g. https://int.api.service.nhs.uk/spine-directory/FHIR/R4")
	}
	if c.SDS.URL != "" && strings.TrimSpace(c.SDS.APIKey) == "" {
		bad("GPFED_SDS_API_KEY", "is required when GPFED_SDS_URL is set")
	}
	if c.SDS.Timeout <= 0 {
		bad("GPFED_SDS_TIMEOUT", "must be > 0")
	}
	if c.Sync.Concurrency <= 0 {
		bad("GPFED_SYNC_CONCURRENCY", "must be > 0")
	}
	if c.Sync.MaxBytesInFlight < 1<<20 {
		bad("GPFED_SYNC_MAX_BYTES_IN_FLIGHT", "must be at least 1048576 (1 MiB)")
	}
	if c.GPConnect.MinConcurrent <= 0 || c.GPConnect.MinConcurrent > c.GPConnect.MaxConcurrent {
		bad("GPFED_GPC_MIN_CONCURRENT", "must be > 0 and at most GPFED_GPC_MAX_CONCURRENT")
	}
	if c.SDS.RateLimit < 0 {
		bad("GPFED_SDS_RATE_LIMIT", "must be >= 0 (0: no cap)")
	}
	return errs
}
