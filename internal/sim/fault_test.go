package sim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		fault      Fault
		wantStatus []int // per request, in order
		wantCode   string
		retryAfter string
	}{
		{"500 twice then ok", Fault{Status: 500, Times: 2}, []int{500, 500, 200, 200}, codeInternal, ""},
		{"503 with Retry-After", Fault{Status: 503, RetryAfter: 1500 * time.Millisecond}, []int{503, 503}, codeInternal, "2"},
		{"403 always", Fault{Status: 403}, []int{403, 403, 403}, codeAccessDenied, ""},
		{"404 always", Fault{Status: 404}, []int{404}, codeOrgNotFound, ""},
		{"custom code", Fault{Status: 403, SpineCode: "NO_ORGANISATION_CONSENT"}, []int{403}, "NO_ORGANISATION_CONSENT", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, srv := setup(t, Config{Practices: 2, Seed: 9})
			p := f.Practices()[1]
			f.SetFault(p.ODS, tc.fault)
			for i, want := range tc.wantStatus {
				resp, body := validCall(p, testNow, testNow.AddDate(0, 0, 3)).do(t, srv.Client(), p)
				if resp.StatusCode != want {
					t.Fatalf("request %d: status %d, want %d", i, resp.StatusCode, want)
				}
				if want != 200 {
					if code := spineCode(t, body); code != tc.wantCode {
						t.Errorf("request %d: code %s, want %s", i, code, tc.wantCode)
					}
					if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
						t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
					}
				}
			}
			if got := f.Requests(p.ODS); got != len(tc.wantStatus) {
				t.Errorf("Requests = %d, want %d", got, len(tc.wantStatus))
			}
			if got := f.Requests(f.Practices()[0].ODS); got != 0 {
				t.Errorf("other practice saw %d requests", got)
			}
		})
	}
}

func TestFaultBodies(t *testing.T) {
	t.Parallel()
	for _, ft := range []Fault{{Malformed: true}, {Truncated: true}} {
		f, srv := setup(t, Config{Practices: 1, Seed: 9})
		p := f.Practices()[0]
		f.SetFault(p.ODS, ft)
		resp, body := validCall(p, testNow, testNow.AddDate(0, 0, 3)).do(t, srv.Client(), p)
		var v any
		if resp.StatusCode != 200 || json.Unmarshal(body, &v) == nil {
			t.Errorf("%+v: status %d, body parses as JSON: %s", ft, resp.StatusCode, body)
		}
		f.SetFault(p.ODS, Fault{})
		if resp, _ := validCall(p, testNow, testNow.AddDate(0, 0, 3)).do(t, srv.Client(), p); resp.StatusCode != 200 {
			t.Errorf("cleared fault still fails: %d", resp.StatusCode)
		}
	}
}

func TestFaultLatencyAndTimeout(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 1, Seed: 9})
	p := f.Practices()[0]

	f.SetFault(p.ODS, Fault{Latency: 100 * time.Millisecond})
	begin := time.Now()
	if resp, _ := validCall(p, testNow, testNow.AddDate(0, 0, 3)).do(t, srv.Client(), p); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if d := time.Since(begin); d < 100*time.Millisecond {
		t.Errorf("latency fault answered in %s", d)
	}

	f.SetFault(p.ODS, Fault{Timeout: true, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	req := validCall(p, testNow, testNow.AddDate(0, 0, 3)).request(t, p).WithContext(ctx)
	if _, err := srv.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want client timeout, got %v", err)
	}
	if resp, _ := validCall(p, testNow, testNow.AddDate(0, 0, 3)).do(t, srv.Client(), p); resp.StatusCode != 200 {
		t.Errorf("after one timeout: status %d", resp.StatusCode)
	}
}

func TestTimeoutReleasedByClose(t *testing.T) {
	t.Parallel()
	f, srv := setup(t, Config{Practices: 1, Seed: 9})
	p := f.Practices()[0]
	f.SetFault(p.ODS, Fault{Timeout: true})
	done := make(chan int)
	go func() {
		resp, err := srv.Client().Do(validCall(p, testNow, testNow.AddDate(0, 0, 3)).request(t, p))
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	deadline := time.Now().Add(5 * time.Second)
	for f.Requests(p.ODS) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	f.Close()
	if got := <-done; got != http.StatusGatewayTimeout {
		t.Errorf("released request: %d, want 504", got)
	}
}

func TestLatencyDist(t *testing.T) {
	t.Parallel()
	d := LatencyDist{Median: 200 * time.Millisecond}
	var below int
	for range 2000 {
		v := d.Sample()
		if v <= 0 || v > 4*time.Second {
			t.Fatalf("sample %s out of range", v)
		}
		if v < d.Median {
			below++
		}
	}
	if below < 850 || below > 1150 {
		t.Errorf("%d of 2000 samples below the median", below)
	}
	if (LatencyDist{}).Sample() != 0 {
		t.Error("zero LatencyDist must add nothing")
	}
}
