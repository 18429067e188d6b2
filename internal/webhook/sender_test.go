package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/webhook"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status int
		want   webhook.Outcome
	}{
		{200, webhook.Delivered}, {202, webhook.Delivered}, {204, webhook.Delivered},
		{408, webhook.Retry}, {429, webhook.Retry}, {500, webhook.Retry}, {503, webhook.Retry}, {302, webhook.Retry},
		{400, webhook.Permanent}, {401, webhook.Permanent}, {404, webhook.Permanent}, {410, webhook.Permanent}, {422, webhook.Permanent},
	}
	for _, tc := range tests {
		if got := webhook.Classify(tc.status); got != tc.want {
			t.Errorf("Classify(%d) = %v, want %v", tc.status, got, tc.want)
		}
	}
}

// receiver is a real HTTP receiver that verifies every request the way the
// contract tells practices to.
type receiver struct {
	status int
	header http.Header
	got    chan map[string]string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	verr := webhook.Verify("s3cret", r.Header.Get(webhook.HeaderSignature), body)
	verified := "yes"
	if verr != nil {
		verified = verr.Error()
	}
	rc.got <- map[string]string{
		"method": r.Method, "content_type": r.Header.Get("Content-Type"), "event": r.Header.Get(webhook.HeaderEvent),
		"key": r.Header.Get(webhook.HeaderIdempotencyKey), "body": string(body), "verified": verified,
	}
	for k, v := range rc.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rc.status)
}

func TestSenderSend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		header     http.Header
		wantOut    webhook.Outcome
		wantCat    webhook.Category
		wantRetry  time.Duration
		wantErrMsg string
	}{
		{name: "2xx delivered", status: 204, wantOut: webhook.Delivered},
		{name: "503 retry with Retry-After", status: 503, header: http.Header{"Retry-After": {"7"}}, wantOut: webhook.Retry,
			wantCat: webhook.CategoryHTTP5xx, wantRetry: 7 * time.Second, wantErrMsg: "webhook answered 503"},
		{name: "410 permanent", status: 410, wantOut: webhook.Permanent, wantCat: webhook.CategoryHTTP4xx, wantErrMsg: "webhook answered 410"},
		{name: "redirect not followed", status: 307, header: http.Header{"Location": {"/elsewhere"}}, wantOut: webhook.Retry,
			wantCat: webhook.CategoryHTTP4xx, wantErrMsg: "webhook answered 307"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := &receiver{status: tc.status, header: tc.header, got: make(chan map[string]string, 2)}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			s := &webhook.Sender{Client: webhook.NewClientFor(2*time.Second, loopback)}
			res := s.Send(context.Background(), srv.URL+"/hook", []string{"s3cret"}, webhook.EventTask, "key-1", []byte(`{"a":1}`))
			got := <-rc.got
			want := map[string]string{"method": "POST", "content_type": "application/json", "event": "task",
				"key": "key-1", "body": `{"a":1}`, "verified": "yes"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			errMsg := ""
			if res.Err != nil {
				errMsg = res.Err.Error()
			}
			type sum struct {
				Out      webhook.Outcome
				Category webhook.Category
				Status   int
				Retry    time.Duration
				Err      string
			}
			if diff := cmp.Diff(sum{tc.wantOut, tc.wantCat, tc.status, tc.wantRetry, tc.wantErrMsg},
				sum{res.Outcome, res.Category, res.Status, res.RetryAfter, errMsg}); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSenderTimeoutAndUnreachable(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	tests := []struct {
		name, url, wantErr string
		want               webhook.Outcome
	}{
		{"timeout", slow.URL + "/?token=secret-in-url", "webhook timed out", webhook.Retry},
		{"refused", deadURL + "/?token=secret-in-url", "webhook unreachable", webhook.Retry},
		{"not http", "ftp://example.org/x", "webhook URL is not an absolute http(s) URL", webhook.Permanent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &webhook.Sender{Client: webhook.NewClientFor(300*time.Millisecond, loopback)}
			res := s.Send(context.Background(), tc.url, []string{"k"}, webhook.EventTask, "id", []byte("{}"))
			if res.Outcome != tc.want || res.Err == nil {
				t.Fatalf("Send = %+v, want outcome %v with an error", res, tc.want)
			}
			if tc.wantErr != "" && res.Err.Error() != tc.wantErr {
				t.Errorf("error %q, want %q", res.Err, tc.wantErr)
			}
			if msg := res.Err.Error(); strings.Contains(msg, "secret-in-url") || strings.Contains(msg, "127.0.0.1") {
				t.Errorf("error leaks the URL: %q", msg)
			}
		})
	}
}

// TestSenderKeepsConnectionsToOneHost: practices that share a host (one
// supplier's gateway) get many deliveries at once; the connections they
// used are kept for the next round instead of being closed and dialled
// again (Go's default keeps 2 per host).
func TestSenderKeepsConnectionsToOneHost(t *testing.T) {
	t.Parallel()
	const inFlight = 64
	var dialled atomic.Int64
	var arrived sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		arrived.Wait() // every request of a round is in flight at once
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	s := &webhook.Sender{Client: webhook.NewClientFor(5*time.Second, loopback)}
	for round := range 3 {
		arrived.Add(inFlight)
		var done sync.WaitGroup
		for i := range inFlight {
			done.Go(func() {
				key := fmt.Sprintf("key-%d-%d", round, i)
				if res := s.Send(context.Background(), srv.URL+"/hook", []string{"s3cret"}, webhook.EventTask, key, []byte(`{}`)); res.Outcome != webhook.Delivered {
					t.Errorf("%s: %v", key, res.Err)
				}
			})
		}
		done.Wait()
	}
	if n := dialled.Load(); n != inFlight {
		t.Errorf("3 rounds of %d deliveries at once dialled %d connections, want %d (one per delivery in flight)", inFlight, n, inFlight)
	}
}

// A result's At is when the answer arrived: after the receiver answered,
// never before it (a delivery's recorded time), and before Send returned.
func TestSenderResultAtIsTheAnswer(t *testing.T) {
	t.Parallel()
	var answered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		answered.Store(time.Now().UnixNano())
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s := &webhook.Sender{Client: webhook.NewClientFor(2*time.Second, loopback)}
	for range 20 {
		res := s.Send(context.Background(), srv.URL+"/hook", []string{"s3cret"}, webhook.EventTask, "key-1", []byte(`{"a":1}`))
		returned := time.Now()
		if res.Outcome != webhook.Delivered {
			t.Fatalf("outcome %v: %v", res.Outcome, res.Err)
		}
		if at := res.At.UnixNano(); at < answered.Load() || res.At.After(returned) || res.Duration < 20*time.Millisecond {
			t.Fatalf("At %s is %s after the receiver's answer (want >= 0) and %s before Send returned; duration %s",
				res.At.Format(time.RFC3339Nano), time.Duration(at-answered.Load()), returned.Sub(res.At), res.Duration)
		}
	}
}
