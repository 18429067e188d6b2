package sim

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

type delivery struct {
	key, event, contentType string
	body                    []byte
	sig                     string // "" = sign correctly at testNow; "-" = no header
}

func (d delivery) post(t *testing.T, client *http.Client, p Practice) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.WebhookURL, bytes.NewReader(d.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", d.contentType)
	req.Header.Set("Gpfed-Event", d.event)
	if d.key != "" {
		req.Header.Set("Idempotency-Key", d.key)
	}
	switch d.sig {
	case "":
		req.Header.Set("Gpfed-Signature", Sign(p.WebhookSecret, d.body, testNow))
	case "-":
	default:
		req.Header.Set("Gpfed-Signature", d.sig)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func goodDelivery(key string) delivery {
	return delivery{key: key, event: "task", contentType: "application/json", body: []byte(`{"id":"` + key + `"}`)}
}

func TestWebhookVerification(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 2, Seed: 4})
	p := f.Practices()[1]
	body := []byte(`{"id":"t1"}`)
	tests := []struct {
		name string
		d    delivery
		want int
	}{
		{"valid", goodDelivery("t1"), 200},
		{"valid again counts twice", goodDelivery("t1"), 200},
		{"notification", delivery{key: "n1", event: "notification", contentType: "application/json; charset=utf-8", body: body}, 200},
		{"missing signature", delivery{key: "t2", event: "task", contentType: "application/json", body: body, sig: "-"}, 401},
		{"wrong secret", delivery{key: "t2", event: "task", contentType: "application/json", body: body, sig: Sign("nope", body, testNow)}, 401},
		{"other practice's secret", delivery{key: "t2", event: "task", contentType: "application/json", body: body, sig: Sign(f.Practices()[0].WebhookSecret, body, testNow)}, 401},
		{"signed other body", delivery{key: "t2", event: "task", contentType: "application/json", body: body, sig: Sign(p.WebhookSecret, []byte(`{}`), testNow)}, 401},
		{"stale timestamp", delivery{key: "t2", event: "task", contentType: "application/json", body: body, sig: Sign(p.WebhookSecret, body, testNow.Add(-6*time.Minute))}, 401},
		{"future timestamp", delivery{key: "t2", event: "task", contentType: "application/json", body: body, sig: Sign(p.WebhookSecret, body, testNow.Add(6*time.Minute))}, 401},
		{"garbled header", delivery{key: "t2", event: "task", contentType: "application/json", body: body, sig: "v1=abc"}, 401},
		{"missing idempotency key", delivery{event: "task", contentType: "application/json", body: body}, 400},
		{"wrong content type", delivery{key: "t2", event: "task", contentType: "text/plain", body: body}, 415},
		{"unknown event", delivery{key: "t2", event: "referral", contentType: "application/json", body: body}, 400},
		{"not JSON", delivery{key: "t2", event: "task", contentType: "application/json", body: []byte("{")}, 400},
	}
	for _, tc := range tests { // sequential: counts accumulate
		if got := tc.d.post(t, srv.Client(), p); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	got := f.Deliveries(p.ODS)
	if len(got) != 2 || got["t1"] != 2 || got["n1"] != 1 {
		t.Errorf("Deliveries = %v, want t1:2 n1:1", got)
	}
	if n := f.WebhookAttempts(p.ODS); n != len(tests) {
		t.Errorf("WebhookAttempts = %d, want %d", n, len(tests))
	}
	if r := f.Received(p.ODS); len(r) != 3 || r[2].Event != "notification" || string(r[0].Body) != string(body) {
		t.Errorf("Received = %+v", r)
	}
	if len(f.Deliveries(f.Practices()[0].ODS)) != 0 {
		t.Error("other practice counted deliveries")
	}
}

func TestWebhookFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fault WebhookFault
		want  []int
	}{
		{"500 twice", WebhookFault{Status: 500, Times: 2}, []int{500, 500, 200}},
		{"500 always", WebhookFault{Status: 500}, []int{500, 500, 500}},
		{"410 gone", WebhookFault{Status: 410}, []int{410, 410}},
		{"slow", WebhookFault{Delay: 50 * time.Millisecond}, []int{200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, srv := setup(t, Config{Practices: 1, Seed: 4})
			p := f.Practices()[0]
			f.SetWebhookFault(p.ODS, tc.fault)
			begin := time.Now()
			ok := 0
			for i, want := range tc.want {
				if got := goodDelivery("k").post(t, srv.Client(), p); got != want {
					t.Fatalf("delivery %d: %d, want %d", i, got, want)
				}
				if want == 200 {
					ok++
				}
			}
			if time.Since(begin) < tc.fault.Delay {
				t.Errorf("delay not applied")
			}
			if got := f.Deliveries(p.ODS)["k"]; got != ok {
				t.Errorf("Deliveries[k] = %d, want %d (failed deliveries must not count)", got, ok)
			}
		})
	}
}

func TestWebhookTimeout(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 1, Seed: 4})
	p := f.Practices()[0]
	f.SetWebhookFault(p.ODS, WebhookFault{Timeout: true, Times: 1})
	d := goodDelivery("k")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.WebhookURL, bytes.NewReader(d.body))
	req.Header.Set("Content-Type", d.contentType)
	if _, err := srv.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want timeout, got %v", err)
	}
	if got := d.post(t, srv.Client(), p); got != 200 {
		t.Errorf("after timeout: %d", got)
	}
	if got := f.Deliveries(p.ODS)["k"]; got != 1 {
		t.Errorf("Deliveries = %d, want 1", got)
	}
}

func TestWebhookUnknownPractice(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 1, Seed: 4})
	p := Practice{WebhookURL: f.BaseURL() + "/hooks/Z00000", WebhookSecret: "x"}
	if got := goodDelivery("k").post(t, srv.Client(), p); got != 404 {
		t.Errorf("unknown practice: %d", got)
	}
}

func TestSecretsDeterministic(t *testing.T) {
	t.Parallel()
	a, b, c := New(Config{Seed: 1}), New(Config{Seed: 1}), New(Config{Seed: 2})
	if a.Practices()[3].WebhookSecret != b.Practices()[3].WebhookSecret {
		t.Error("same seed, different secrets")
	}
	if a.Practices()[0].WebhookSecret == c.Practices()[0].WebhookSecret {
		t.Error("different seeds, same secret")
	}
}
