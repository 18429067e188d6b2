package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/logging"
	"github.com/gpfed/gpfed/internal/practice"
	sealing "github.com/gpfed/gpfed/internal/secret"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
	"github.com/gpfed/gpfed/internal/testredis"
	"github.com/gpfed/gpfed/internal/webhook"
	"github.com/gpfed/gpfed/queue"
	"github.com/gpfed/gpfed/worker"
)

// guardEnv is a database with the sender and recipient practices, a
// receiver that verifies with `secret`, a relay and a worker with deps.
func guardEnv(t *testing.T, deps worker.DeliveryDeps) (*store.DB, *receiver) {
	t.Helper()
	ctx := context.Background()
	db, _ := testdb.New(t)
	_, redisURL := testredis.DB(t)
	ps := []practice.Practice{
		{ODSCode: sender, Name: "Sender", ASID: "918999198993", Endpoint: "https://p.example/a", Active: true},
		{ODSCode: recipient, Name: "Recipient", ASID: "918999198994", Endpoint: "https://p.example/b", Active: true},
	}
	if _, err := db.ImportPractices(ctx, ps, false); err != nil {
		t.Fatal(err)
	}
	opt, err := queue.RedisOpt(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	startWorker(t, opt, db, deps)
	rctx, cancel := context.WithCancel(ctx)
	relay := &queue.Relay{DB: db, Client: client, Log: logging.Discard(), Interval: 50 * time.Millisecond}
	done := make(chan struct{})
	go func() { defer close(done); relay.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return db, newReceiver(t)
}

// Issue 10: secrets are sealed at rest and opened only to sign. A sealed
// secret delivers; a plaintext one from before sealing delivers, is
// resealed, and still delivers with the same value.
func TestDeliverySignsWithSealedSecrets(t *testing.T) {
	t.Parallel()
	kr, err := sealing.NewKeyring(sealing.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	db, rc := guardEnv(t, worker.DeliveryDeps{WebhookTimeout: 2 * time.Second, Secrets: kr,
		HTTPClient: webhook.NewClientFor(2*time.Second, webhook.Policy{AllowHTTP: true, AllowNets: webhook.Loopback})})
	ctx := context.Background()
	url := rc.srv.URL + "/hooks/" + recipient
	if err := db.SetWebhook(ctx, recipient, url, secret, 0); err != nil { // legacy plaintext
		t.Fatal(err)
	}
	waitState(t, db, newTask(t, db, recipient, time.Hour), "delivered")
	if n, err := db.ResealSecrets(ctx, kr); err != nil || n != 1 {
		t.Fatalf("reseal: %d %v", n, err)
	}
	p, err := db.GetPractice(ctx, recipient)
	if err != nil || !strings.HasPrefix(p.WebhookSecret, "gpfed:v1:") {
		t.Fatalf("stored secret not sealed: %.12q %v", p.WebhookSecret, err)
	}
	waitState(t, db, newTask(t, db, recipient, time.Hour), "delivered")
	reqs, _ := rc.snapshot()
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
	db, rc := guardEnv(t, worker.DeliveryDeps{WebhookTimeout: 2 * time.Second, HTTPClient: webhook.NewClient(2 * time.Second)})
	ctx := context.Background()
	for target, want := range map[string]string{
		rc.srv.URL + "/hooks/" + recipient:                                         "webhook TLS failed", // http:// in clear: refused before any dial
		"https://127.0.0.1:5432/":                                                  "webhook unreachable",
		"https://169.254.169.254/latest":                                           "webhook unreachable",
		"https://[::1]:" + rc.srv.URL[strings.LastIndex(rc.srv.URL, ":")+1:] + "/": "webhook unreachable",
	} {
		if err := db.SetWebhook(ctx, recipient, target, secret, 0); err != nil {
			t.Fatal(err)
		}
		r := waitState(t, db, newTask(t, db, recipient, time.Hour), "failed")
		if r.Attempts != 1 || r.LastError != want {
			t.Fatalf("%s: %+v, want failed after 1 attempt with only %q", target, r, want)
		}
	}
	if reqs, _ := rc.snapshot(); len(reqs) != 0 {
		t.Fatalf("%d requests reached the loopback receiver", len(reqs))
	}
}
