// Package config loads gpfed's configuration from the environment with
// go-envconfig. Each command composes the sub-structs it needs; Validate
// checks cross-field rules and names the offending variable.
package config

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/gpfed/gpfed/internal/practice"
)

// Database is the Postgres connection.
type Database struct {
	URL      string `env:"DATABASE_URL, default=postgres://postgres@127.0.0.1:5432/gpfed?sslmode=disable"`
	MaxConns int32  `env:"GPFED_DB_MAX_CONNS, default=20"`
}

// Redis is the asynq broker connection.
type Redis struct {
	URL string `env:"REDIS_URL, default=redis://127.0.0.1:6379/0"`
}

// Log controls slog output.
type Log struct {
	Level  string `env:"GPFED_LOG_LEVEL, default=info"`
	Format string `env:"GPFED_LOG_FORMAT, default=json"`
}

// Consumer is gpfed's identity towards GP Connect providers, and the named
// responsible person unattended syncs are attributed to.
type Consumer struct {
	ODS                 string `env:"GPFED_CONSUMER_ODS, default=Y90001"`
	ASID                string `env:"GPFED_CONSUMER_ASID, default=200000000359"`
	Name                string `env:"GPFED_CONSUMER_NAME, default=gpfed federation hub"`
	EndpointURL         string `env:"GPFED_CONSUMER_ENDPOINT, default=https://gpfed.invalid/"`
	PractitionerID      string `env:"GPFED_PRACTITIONER_ID, default=gpfed-demo-1"`
	PractitionerSDSUser string `env:"GPFED_PRACTITIONER_SDS_USER_ID, default=UNK"`
	PractitionerSDSRole string `env:"GPFED_PRACTITIONER_SDS_ROLE_PROFILE_ID, default=UNK"`
	PractitionerFamily  string `env:"GPFED_PRACTITIONER_FAMILY_NAME, default=Demo"`
	PractitionerGiven   string `env:"GPFED_PRACTITIONER_GIVEN_NAME, default=Responsible"`
}

// GPConnect tunes the provider client, the Spine Secure Proxy and TLS.
type GPConnect struct {
	SSPURL         string        `env:"GPFED_SSP_URL"`
	TLSCertFile    string        `env:"GPFED_TLS_CERT_FILE"`
	TLSKeyFile     string        `env:"GPFED_TLS_KEY_FILE"`
	TLSCAFile      string        `env:"GPFED_TLS_CA_FILE"`
	RequestTimeout time.Duration `env:"GPFED_GPC_TIMEOUT, default=10s"`
	MaxAttempts    int           `env:"GPFED_GPC_MAX_ATTEMPTS, default=4"`
	MaxPerPractice int           `env:"GPFED_GPC_MAX_PER_PRACTICE, default=2"`
	// MaxConcurrent and MinConcurrent bound the per-process limit on calls in
	// flight, which adapts to provider latency between them.
	MaxConcurrent    int    `env:"GPFED_GPC_MAX_CONCURRENT, default=512"`
	MinConcurrent    int    `env:"GPFED_GPC_MIN_CONCURRENT, default=16"`
	MaxResponseBytes int64  `env:"GPFED_GPC_MAX_RESPONSE_BYTES, default=33554432"`
	OrgType          string `env:"GPFED_GPC_ORG_TYPE, default=gp-practice"`
}

// Sync controls capacity sync runs.
type Sync struct {
	Schedule    string        `env:"GPFED_SYNC_SCHEDULE, default=0 2 * * *"`
	TimeZone    string        `env:"GPFED_SYNC_TIMEZONE, default=Europe/London"`
	Days        int           `env:"GPFED_SYNC_DAYS, default=28"`
	StaleAfter  time.Duration `env:"GPFED_SYNC_STALE_AFTER, default=36h"`
	TaskTimeout time.Duration `env:"GPFED_SYNC_TASK_TIMEOUT, default=5m"`
	// Concurrency is how many practices one process works on at once (its
	// capacity queue handlers); most of them wait on providers.
	Concurrency int `env:"GPFED_SYNC_CONCURRENCY, default=256"`
	// MaxBytesInFlight bounds the provider response bytes (and the slots
	// decoded from them) one process holds between their arrival and the
	// practice's save.
	MaxBytesInFlight int64 `env:"GPFED_SYNC_MAX_BYTES_IN_FLIGHT, default=50331648"`
}

// Worker sizes the asynq server.
type Worker struct {
	Concurrency     int           `env:"GPFED_WORKER_CONCURRENCY, default=64"`
	ShutdownTimeout time.Duration `env:"GPFED_SHUTDOWN_TIMEOUT, default=25s"`
}

// Tasks controls task and notification delivery.
type Tasks struct {
	MaxAge            time.Duration `env:"GPFED_TASK_MAX_AGE, default=24h"`
	WebhookTimeout    time.Duration `env:"GPFED_WEBHOOK_TIMEOUT, default=10s"`
	ReconcileSchedule string        `env:"GPFED_RECONCILE_SCHEDULE, default=@every 1m"`
	LowCapacityDays   int           `env:"GPFED_LOW_CAPACITY_DAYS, default=7"`
	// Retention is how long a finished task keeps its patient data (0: forever).
	Retention time.Duration `env:"GPFED_TASK_RETENTION, default=720h"`
	// HistoryRetention is how long slot change history and finished
	// notifications are kept (0: forever).
	HistoryRetention time.Duration `env:"GPFED_HISTORY_RETENTION, default=2160h"`
}

// Booking controls booking and cancelling appointments through GP Connect.
type Booking struct {
	// Timeout bounds the practice calls of one booking request (find, perhaps
	// register, book); a booking whose answer does not come in time is
	// answered 202 unconfirmed and settled by a job.
	Timeout time.Duration `env:"GPFED_BOOKING_TIMEOUT, default=30s"`
	// MaxAge is how long settling and cancelling retry a practice that fails.
	MaxAge time.Duration `env:"GPFED_BOOKING_MAX_AGE, default=24h"`
	// Retention is how long a finished booking keeps its patient data (0: forever).
	Retention time.Duration `env:"GPFED_BOOKING_RETENTION, default=720h"`
	// ReconcileGrace leaves booking work queued this recently to its queue
	// entry; older unsettled work without a live entry is re-enqueued.
	ReconcileGrace time.Duration `env:"GPFED_BOOKING_RECONCILE_GRACE, default=30s"`
}

// Delivery tunes the delivery engine: per-endpoint isolation, batching and
// the retry schedule.
type Delivery struct {
	// EndpointMaxInFlight caps deliveries in flight to one practice's
	// endpoint across all workers (a practice may override it).
	EndpointMaxInFlight int `env:"GPFED_ENDPOINT_MAX_IN_FLIGHT, default=8"`
	// FailuresToOpen consecutive failed attempts open an endpoint's circuit.
	FailuresToOpen int `env:"GPFED_ENDPOINT_FAILURES_TO_OPEN, default=5"`
	// ProbeMin and ProbeMax bound the wait between probes of an open circuit.
	ProbeMin time.Duration `env:"GPFED_ENDPOINT_PROBE_MIN, default=10s"`
	ProbeMax time.Duration `env:"GPFED_ENDPOINT_PROBE_MAX, default=10m"`
	// Batch is how many deliveries one claim takes.
	Batch int `env:"GPFED_DELIVERY_BATCH, default=32"`
	// MaxInFlight bounds one worker process's deliveries in flight.
	MaxInFlight int `env:"GPFED_DELIVERY_MAX_IN_FLIGHT, default=128"`
	// RetryBase and RetryMax shape the retry schedule (base, 2x base, ... capped).
	RetryBase time.Duration `env:"GPFED_DELIVERY_RETRY_BASE, default=1s"`
	RetryMax  time.Duration `env:"GPFED_DELIVERY_RETRY_MAX, default=5m"`
}

// Server is the HTTP API and dashboard.
type Server struct {
	Addr string `env:"GPFED_HTTP_ADDR, default=127.0.0.1:8080"`
	// SecureCookies marks dashboard cookies Secure (always on under direct
	// TLS). Turn it off only for a dashboard on plain http at a loopback address.
	SecureCookies bool `env:"GPFED_SECURE_COOKIES, default=true"`
	// MetricsAddr serves /metrics (and, for serve, /readyz) on a listener of
	// its own, away from the public API: serve defaults to DefaultOpsAddr;
	// worker and scheduler serve /metrics only when it is set.
	MetricsAddr string `env:"GPFED_METRICS_ADDR"`
}

// DefaultOpsAddr is where serve offers /metrics and /readyz when
// GPFED_METRICS_ADDR is empty: loopback only.
const DefaultOpsAddr = "127.0.0.1:9090"

// Base is what every command needs.
type Base struct {
	Database Database
	Redis    Redis
	Log      Log
}

// All is the full configuration; commands use the parts they need.
type All struct {
	Base
	Consumer  Consumer
	GPConnect GPConnect
	SDS       SDS
	Sync      Sync
	Worker    Worker
	Tasks     Tasks
	Delivery  Delivery
	Booking   Booking
	Server    Server
	Security  Security
}

// Load reads the environment (or lookuper l, when non-nil) into All and validates it.
func Load(ctx context.Context, l envconfig.Lookuper) (*All, error) {
	var cfg All
	if l == nil {
		l = envconfig.OsLookuper()
	}
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: l}); err != nil {
		return nil, fmt.Errorf("configuration: %w", nameVariable(err))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Validate checks every rule that a type alone cannot, naming the variable.
func (c *All) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if !strings.HasPrefix(c.Database.URL, "postgres://") && !strings.HasPrefix(c.Database.URL, "postgresql://") {
		bad("DATABASE_URL", "must be a postgres:// URL")
	}
	if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		bad("REDIS_URL", "must be a redis:// or rediss:// URL")
	}
	if !practice.ValidODS(c.Consumer.ODS) {
		bad("GPFED_CONSUMER_ODS", "%q is not an ODS code (3-10 upper-case letters and digits)", c.Consumer.ODS)
	}
	if !practice.ValidASID(c.Consumer.ASID) {
		bad("GPFED_CONSUMER_ASID", "%q is not an ASID (12 digits)", c.Consumer.ASID)
	}
	if !isAbsHTTP(c.Consumer.EndpointURL) {
		bad("GPFED_CONSUMER_ENDPOINT", "must be an absolute http(s) URL")
	}
	for name, v := range map[string]string{
		"GPFED_CONSUMER_NAME":                    c.Consumer.Name,
		"GPFED_PRACTITIONER_ID":                  c.Consumer.PractitionerID,
		"GPFED_PRACTITIONER_SDS_USER_ID":         c.Consumer.PractitionerSDSUser,
		"GPFED_PRACTITIONER_SDS_ROLE_PROFILE_ID": c.Consumer.PractitionerSDSRole,
		"GPFED_PRACTITIONER_FAMILY_NAME":         c.Consumer.PractitionerFamily,
		"GPFED_PRACTITIONER_GIVEN_NAME":          c.Consumer.PractitionerGiven,
	} {
		if strings.TrimSpace(v) == "" {
			bad(name, "must not be empty")
		}
	}
	if c.GPConnect.SSPURL != "" && (!isAbsHTTP(c.GPConnect.SSPURL) || !strings.HasSuffix(c.GPConnect.SSPURL, "/")) {
		bad("GPFED_SSP_URL", "must be an absolute https URL ending in /")
	}
	if (c.GPConnect.TLSCertFile == "") != (c.GPConnect.TLSKeyFile == "") {
		bad("GPFED_TLS_CERT_FILE", "and GPFED_TLS_KEY_FILE must be set together")
	}
	if c.GPConnect.OrgType != "gp-practice" && c.GPConnect.OrgType != "urgent-care" {
		bad("GPFED_GPC_ORG_TYPE", "must be gp-practice or urgent-care")
	}
	positive := map[string]int{
		"GPFED_GPC_MAX_ATTEMPTS": c.GPConnect.MaxAttempts, "GPFED_GPC_MAX_PER_PRACTICE": c.GPConnect.MaxPerPractice,
		"GPFED_GPC_MAX_CONCURRENT": c.GPConnect.MaxConcurrent, "GPFED_WORKER_CONCURRENCY": c.Worker.Concurrency,
		"GPFED_LOW_CAPACITY_DAYS": c.Tasks.LowCapacityDays, "GPFED_ENDPOINT_MAX_IN_FLIGHT": c.Delivery.EndpointMaxInFlight,
		"GPFED_ENDPOINT_FAILURES_TO_OPEN": c.Delivery.FailuresToOpen, "GPFED_DELIVERY_BATCH": c.Delivery.Batch, "GPFED_DELIVERY_MAX_IN_FLIGHT": c.Delivery.MaxInFlight,
	}
	for name, v := range positive {
		if v <= 0 {
			bad(name, "must be > 0")
		}
	}
	if c.Sync.Days < 1 || c.Sync.Days > 366 {
		bad("GPFED_SYNC_DAYS", "must be between 1 and 366")
	}
	if c.GPConnect.RequestTimeout <= 0 {
		bad("GPFED_GPC_TIMEOUT", "must be > 0")
	}
	if _, err := time.LoadLocation(c.Sync.TimeZone); err != nil {
		bad("GPFED_SYNC_TIMEZONE", "unknown time zone %q", c.Sync.TimeZone)
	}
	if c.Delivery.ProbeMin <= 0 || c.Delivery.ProbeMax < c.Delivery.ProbeMin {
		bad("GPFED_ENDPOINT_PROBE_MIN", "must be > 0 and at most GPFED_ENDPOINT_PROBE_MAX")
	}
	if c.Delivery.RetryBase <= 0 || c.Delivery.RetryMax < c.Delivery.RetryBase {
		bad("GPFED_DELIVERY_RETRY_BASE", "must be > 0 and at most GPFED_DELIVERY_RETRY_MAX")
	}
	if c.Tasks.WebhookTimeout <= 0 {
		bad("GPFED_WEBHOOK_TIMEOUT", "must be > 0")
	}
	if c.Tasks.MaxAge <= 0 {
		bad("GPFED_TASK_MAX_AGE", "must be > 0")
	}
	if c.Tasks.Retention < 0 {
		bad("GPFED_TASK_RETENTION", "must be >= 0 (0 keeps patient data forever)")
	}
	if c.Booking.Timeout < time.Second {
		bad("GPFED_BOOKING_TIMEOUT", "must be at least 1s")
	}
	if c.Booking.MaxAge < time.Minute {
		bad("GPFED_BOOKING_MAX_AGE", "must be at least 1m")
	}
	if c.Booking.ReconcileGrace < time.Second {
		bad("GPFED_BOOKING_RECONCILE_GRACE", "must be at least 1s")
	}
	if c.Booking.Retention < 0 {
		bad("GPFED_BOOKING_RETENTION", "must be >= 0 (0 keeps patient data forever)")
	}
	if c.Tasks.HistoryRetention < 0 {
		bad("GPFED_HISTORY_RETENTION", "must be >= 0 (0 keeps history forever)")
	}
	c.Security.validate(bad)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("GPFED_LOG_LEVEL", "must be debug, info, warn or error")
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("GPFED_LOG_FORMAT", "must be json or text")
	}
	errs = append(errs, c.validateSync()...)
	return errors.Join(errs...)
}

func isAbsHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// nameVariable rewrites envconfig's "Sync: Days: strconv..." into a message
// that names the environment variable an operator has to fix.
func nameVariable(err error) error {
	msg := err.Error()
	var walk func(t reflect.Type, prefix string) error
	walk = func(t reflect.Type, prefix string) error {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			path := prefix // embedded structs add no level to envconfig's path
			if !f.Anonymous {
				path = prefix + f.Name + ": "
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				if e := walk(f.Type, path); e != nil {
					return e
				}
				continue
			}
			tag := f.Tag.Get("env")
			if tag == "" {
				continue
			}
			name := strings.TrimSpace(strings.SplitN(tag, ",", 2)[0])
			if strings.HasPrefix(msg, path) {
				return fmt.Errorf("%s: invalid value: %s", name, strings.TrimPrefix(msg, path))
			}
		}
		return nil
	}
	if e := walk(reflect.TypeOf(All{}), ""); e != nil {
		return e
	}
	return err
}
