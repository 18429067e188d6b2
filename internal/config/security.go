package config

import (
	"strings"
	"time"

	"github.com/gpfed/gpfed/internal/secret"
	"github.com/gpfed/gpfed/internal/webhook"
)

// Security is gpfed's information-governance configuration: the key that
// seals webhook secrets, where webhooks may go, the access audit's
// retention, per-key rate limits and dashboard session idling.
type Security struct {
	// SecretKey seals webhook secrets at rest (base64, 32 bytes; `gpfed
	// secret-key` makes one). Never logged.
	SecretKey string `env:"GPFED_SECRET_KEY"`
	// SecretKeyPrevious lists older keys (comma-separated) that may still
	// have sealed stored secrets, during a key rotation.
	SecretKeyPrevious string `env:"GPFED_SECRET_KEY_PREVIOUS"`
	// WebhookAllowHTTP permits http:// webhook URLs: development only.
	WebhookAllowHTTP bool `env:"GPFED_WEBHOOK_ALLOW_HTTP, default=false"`
	// WebhookAllowNets lists non-public networks webhooks may target
	// (comma-separated CIDR prefixes or addresses).
	WebhookAllowNets string `env:"GPFED_WEBHOOK_ALLOW_NETS"`
	// AuditRetention is how long access records are kept (0: forever).
	AuditRetention time.Duration `env:"GPFED_AUDIT_RETENTION, default=52608h"`
	// RateLimitPerMinute bounds requests per API key unless the practice
	// has its own limit (0: unlimited).
	RateLimitPerMinute int `env:"GPFED_RATE_LIMIT_PER_MINUTE, default=300"`
	// SessionIdleTimeout ends a dashboard session left unused this long.
	SessionIdleTimeout time.Duration `env:"GPFED_SESSION_IDLE_TIMEOUT, default=30m"`
}

// Keyring builds the webhook-secret keyring (it may have no key: commands
// that need one say so when they do).
func (s Security) Keyring() (*secret.Keyring, error) {
	return secret.NewKeyring(s.SecretKey, strings.Split(s.SecretKeyPrevious, ",")...)
}

// WebhookPolicy is where webhooks may be sent.
func (s Security) WebhookPolicy() (webhook.Policy, error) {
	nets, err := webhook.ParseNets(s.WebhookAllowNets)
	return webhook.Policy{AllowHTTP: s.WebhookAllowHTTP, AllowNets: nets}, err
}

func (s Security) validate(bad func(name, format string, args ...any)) {
	if _, err := s.Keyring(); err != nil {
		bad("GPFED_SECRET_KEY", "%v (it must be 32 random bytes in base64: `gpfed secret-key` prints one)", err)
	}
	if _, err := webhook.ParseNets(s.WebhookAllowNets); err != nil {
		bad("GPFED_WEBHOOK_ALLOW_NETS", "%v", err)
	}
	if s.AuditRetention < 0 {
		bad("GPFED_AUDIT_RETENTION", "must be >= 0 (0 keeps access records forever)")
	}
	if s.RateLimitPerMinute < 0 {
		bad("GPFED_RATE_LIMIT_PER_MINUTE", "must be >= 0 (0 turns the limit off)")
	}
	if s.SessionIdleTimeout < time.Minute {
		bad("GPFED_SESSION_IDLE_TIMEOUT", "must be at least 1m")
	}
}
