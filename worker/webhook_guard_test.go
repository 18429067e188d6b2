package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sealing "github.com/gpfed/gpfed/internal/secret"
	"github.com/gpfed/gpfed/internal/webhook"
	"github.com/gpfed/gpfed/worker"
)

// Issue 10: secrets are sealed at rest and opened only to sign. A sealed
// secret delivers; a plaintext one from before sealing delivers, is
// resealed, and still delivers with the same value.
func TestDeliverySignsWithSealedSecrets(t *testing.T) {
	t.Parallel()
	kr, err := sealing.NewKeyring(sealing.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	e := setup(t, options{cfg: worker.DeliveryConfig{Secrets: kr}}) // the recipient's secret is in plaintext (legacy)
	waitState(t, e.db, e.send(t, recipient, time.Hour), "delivered")
	ctx := context.Background()
	if n, err := e.db.ResealSecrets(ctx, kr); err != nil || n != 2 {
		t.Fatalf("reseal: %d %v; want the recipient's and the other's", n, err)
	}
	p, err := e.db.GetPractice(ctx, recipient)
	if err != nil || !strings.HasPrefix(p.WebhookSecret, "gpfed:v1:") {
		t.Fatalf("stored secret not sealed: %.12q %v", p.WebhookSecret, err)
	}
	waitState(t, e.db, e.send(t, recipient, time.Hour), "delivered")
	reqs, _ := e.rc.snapshot()
	for _, r := range reqs {
		if !r.Verified {
			t.Fatalf("a delivery failed verification: %+v", r)
		}
	}
}

// Issue 10, finding 4: a webhook aimed at an internal address was dialled
// and the raw dial error shown to the sender. Under the production policy
// nothing is sent, the task fails at once, and the sender sees only the
// category.
func TestDeliveryRefusesInternalTargets(t *testing.T) {
	t.Parallel()
	e := setup(t, options{cfg: worker.DeliveryConfig{HTTPClient: webhook.NewClient(2 * time.Second)}})
	ctx := context.Background()
	for target, want := range map[string]string{
		e.rc.srv.URL + "/hooks/" + recipient: "webhook TLS failed", // http:// in clear: refused before any dial
		"https://127.0.0.1:5432/":            "webhook unreachable",
		"https://169.254.169.254/latest":     "webhook unreachable",
		"https://[::1]:" + e.rc.srv.URL[strings.LastIndex(e.rc.srv.URL, ":")+1:] + "/": "webhook unreachable",
	} {
		if err := e.db.SetWebhook(ctx, recipient, target, secret, 0); err != nil {
			t.Fatal(err)
		}
		r := waitState(t, e.db, e.send(t, recipient, time.Hour), "failed")
		if r.Attempts != 1 || r.LastError != want {
			t.Fatalf("%s: %+v, want failed after 1 attempt with only %q", target, r, want)
		}
	}
	if reqs, _ := e.rc.snapshot(); len(reqs) != 0 {
		t.Fatalf("%d requests reached the loopback receiver", len(reqs))
	}
}
