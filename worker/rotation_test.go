package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/webhook"
)

// A gentle secret rotation keeps deliveries to a receiver that still holds
// the old secret working (two v1 signatures); once the previous secret is
// dropped, that receiver's 401 fails the task at once.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	e := setup(t) // the receiver verifies with secret
	ctx := context.Background()
	url := e.rc.srv.URL + "/hooks/" + recipient
	if err := e.db.SetWebhook(ctx, recipient, url, "whsec-rotated-0123456789", time.Hour); err != nil {
		t.Fatal(err)
	}
	first := newTask(t, e.db, recipient, time.Hour)
	if r := waitState(t, e.db, first, "delivered"); r.Channel != "webhook" {
		t.Fatalf("during the overlap: %+v, want delivered by webhook", r)
	}
	if err := e.db.SetWebhook(ctx, recipient, url, "whsec-rotated-0123456789", 0); err != nil {
		t.Fatal(err)
	}
	second := newTask(t, e.db, recipient, time.Hour)
	if r := waitState(t, e.db, second, "failed"); !strings.Contains(r.LastError, "401") {
		t.Fatalf("after the overlap: %+v, want failed with the receiver's 401", r)
	}
	reqs, _ := e.rc.snapshot()
	var sigs []int
	for _, r := range reqs {
		if r.Event == webhook.EventTask {
			sigs = append(sigs, r.Signatures)
		}
	}
	if len(sigs) != 2 || sigs[0] != 2 || sigs[1] != 1 {
		t.Fatalf("v1 entries per task POST = %v, want [2 1] (both secrets during the overlap, then the new one)", sigs)
	}
}
