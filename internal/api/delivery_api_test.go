package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/store"
)

// A task whose delivery is in flight cannot be cancelled (409, try again
// later); once it is delivered, cancel says so.
func TestCancelWhileDeliveryInFlight(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	task := f.create()
	items, err := f.db.Claim(context.Background(), store.ClaimOptions{Limit: 1, Cap: 8, Lease: time.Minute})
	if err != nil || len(items) != 1 {
		t.Fatalf("claim: %v %v", items, err)
	}
	res := f.do("POST", "/v1/tasks/"+task.ID+"/cancel", f.keys[odsA], "")
	if res.status != http.StatusConflict || res.header.Get("Retry-After") == "" {
		t.Fatalf("cancel in flight: %d Retry-After %q; %s", res.status, res.header.Get("Retry-After"), res.body)
	}
	if reason := res.reason(t); !strings.Contains(reason, "delivery attempt for this task is in progress") {
		t.Fatalf("reason %q", reason)
	}
	if _, err := f.db.RecordOutcomes(context.Background(), []store.Outcome{{Kind: store.KindTask, ID: items[0].ID, Endpoint: odsB,
		Token: items[0].Token, Result: store.Delivered, Channel: "webhook", Tried: true, Status: 200, At: time.Now()}},
		store.RecordOptions{}); err != nil {
		t.Fatal(err)
	}
	res = f.do("POST", "/v1/tasks/"+task.ID+"/cancel", f.keys[odsA], "")
	if res.status != http.StatusConflict || !strings.Contains(res.reason(t), "the task is delivered") {
		t.Fatalf("cancel after delivery: %d %s", res.status, res.body)
	}
}

// Federation admins read (and acknowledge) what the delivery engine told
// them; practices cannot.
func TestAdminNotificationsAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var ids []uuid.UUID
	for i, kind := range []string{store.NotifyEndpointFailing, store.NotifyEndpointRecovered} {
		id := uuid.New()
		ids = append(ids, id)
		err := f.db.InTx(ctx, func(tx pgx.Tx) error {
			_, err := store.CreateNotificationTx(ctx, tx, store.Notification{ID: id, Audience: store.AudienceAdmin, Kind: kind,
				SubjectODS: odsB, Data: map[string]any{"ods_code": odsB, "consecutive_failures": 5 - 5*i}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	type page struct {
		Items []struct {
			ID             string     `json:"id"`
			Kind           string     `json:"kind"`
			SubjectODS     string     `json:"subject_ods"`
			State          string     `json:"state"`
			AcknowledgedAt *time.Time `json:"acknowledged_at"`
		} `json:"items"`
	}
	res := f.do("GET", "/v1/admin/notifications", f.keys["admin"], "")
	var p page
	res.json(t, &p)
	if res.status != 200 || len(p.Items) != 2 || p.Items[0].Kind != store.NotifyEndpointRecovered || p.Items[1].SubjectODS != odsB ||
		p.Items[1].State != "delivered" {
		t.Fatalf("admin feed: %d %s", res.status, res.body)
	}
	if res := f.do("GET", "/v1/admin/notifications", f.keys[odsA], ""); res.status != http.StatusForbidden {
		t.Fatalf("practice key: %d, want 403", res.status)
	}
	if res := f.do("POST", "/v1/admin/notifications/"+ids[0].String()+"/ack", f.keys["admin"], ""); res.status != 200 {
		t.Fatalf("ack: %d %s", res.status, res.body)
	}
	res = f.do("GET", "/v1/admin/notifications?unacked=true", f.keys["admin"], "")
	p = page{}
	res.json(t, &p)
	if len(p.Items) != 1 || p.Items[0].ID != ids[1].String() {
		t.Fatalf("unacked: %s", res.body)
	}
	if res := f.do("POST", "/v1/admin/notifications/"+uuid.NewString()+"/ack", f.keys["admin"], ""); res.status != 404 {
		t.Fatalf("ack unknown: %d", res.status)
	}
	// A practice's own feed never shows the admins' notifications.
	res = f.do("GET", "/v1/notifications", f.keys[odsB], "")
	if strings.Contains(string(res.body), ids[0].String()) {
		t.Fatalf("practice feed shows an admin notification: %s", res.body)
	}
}
