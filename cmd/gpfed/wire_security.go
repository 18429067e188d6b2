package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"time"

	"github.com/gpfed/gpfed/internal/api"
	"github.com/gpfed/gpfed/internal/config"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/secret"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/webhook"
)

// Wiring for the information-governance controls: the webhook-secret
// keyring, the webhook target policy, the operations listener and the
// actor recorded for CLI changes.

// keyring is the webhook-secret keyring of GPFED_SECRET_KEY[_PREVIOUS]
// (validated with the rest of the configuration).
func keyring(app *App) *secret.Keyring {
	kr, err := app.Cfg.Security.Keyring()
	if err != nil { // unreachable: config.Validate checked it
		panic(err)
	}
	return kr
}

// webhookPolicy is where webhooks may go under the configuration.
func webhookPolicy(app *App) webhook.Policy {
	p, _ := app.Cfg.Security.WebhookPolicy() // validated with the configuration
	return p
}

// practiceParser reads practices files under the configured webhook policy.
func practiceParser(app *App) practice.Parser {
	return practice.Parser{Webhooks: webhookPolicy(app)}
}

// checkDeliverySecrets stops a delivering process at start-up when the
// stored webhook secrets cannot be opened (no key, or the wrong one), with
// a message naming the practices and the keys, rather than failing every
// delivery to them.
func checkDeliverySecrets(ctx context.Context, app *App, db *store.DB) error {
	problems, plaintext, err := db.CheckSecrets(ctx, keyring(app))
	if err != nil {
		return err
	}
	if plaintext > 0 {
		app.Log.Warn("webhook secrets stored in clear: set GPFED_SECRET_KEY and run any gpfed command to seal them",
			"component", "worker", "plaintext_secrets", plaintext)
	}
	if err := store.SecretProblemsError(problems); err != nil {
		return fmt.Errorf("webhook delivery: %w", err)
	}
	return nil
}

// resealSecrets seals plaintext webhook secrets (from before sealing) and
// re-seals those under an older key, whenever a command starts with a key.
func resealSecrets(ctx context.Context, app *App, db *store.DB) error {
	kr := keyring(app)
	if !kr.HasKey() {
		return nil
	}
	n, err := db.ResealSecrets(ctx, kr)
	if errors.Is(err, secret.ErrUnknownKey) || errors.Is(err, secret.ErrCorrupt) {
		return fmt.Errorf("seal stored webhook secrets: %w (is GPFED_SECRET_KEY_PREVIOUS missing the old key?)", err)
	}
	if err != nil {
		return fmt.Errorf("seal stored webhook secrets: %w", err)
	}
	if n > 0 {
		app.Log.Info("webhook secrets sealed under the current key", "component", "secrets", "practices", n,
			"key_id", kr.CurrentID())
	}
	return nil
}

// cliActor names who ran a changing command: the OS user and host, which
// is what an audit can hold a CLI to.
func cliActor(kind string) string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return kind + ":" + name + "@" + host
}

// apiServerSecurity fills the API server's information-governance settings.
func apiServerSecurity(app *App, srv *api.Server) {
	srv.InsecureCookies = !app.Cfg.Server.SecureCookies
	srv.SessionIdle = app.Cfg.Security.SessionIdleTimeout
	srv.RateLimitPerMinute = app.Cfg.Security.RateLimitPerMinute
}

// maxHeaderBytes bounds request headers: a bearer key, a session cookie
// and ordinary headers fit easily in 32 KiB.
const maxHeaderBytes = 32 << 10

// startOps serves /metrics, /readyz and /healthz on GPFED_METRICS_ADDR (or
// config.DefaultOpsAddr), away from the public API listener. It returns
// the address it listens on and a stop func.
func startOps(ctx context.Context, app *App, h http.Handler) (string, func(), error) {
	addr := app.Cfg.Server.MetricsAddr
	if addr == "" {
		addr = config.DefaultOpsAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen %s for /metrics and /readyz (GPFED_METRICS_ADDR): %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: maxHeaderBytes}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Shutdown(context.WithoutCancel(ctx)) }, nil
}
