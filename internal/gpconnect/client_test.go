package gpconnect

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func asError(t *testing.T, err error) *Error {
	t.Helper()
	var gerr *Error
	if !errors.As(err, &gerr) {
		t.Fatalf("error %v (%T) is not a *gpconnect.Error", err, err)
	}
	return gerr
}

func TestSearchFreeSlotsFixture(t *testing.T) {
	t.Parallel()
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeFHIR(w, 200, fixture(t, "slot-search-response.json"))
	}, nil)
	res, err := c.SearchFreeSlots(t.Context(), p, ukDate(2016, 8, 15), ukDate(2016, 8, 16))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Slots) != 2 || res.Slots[0].RoleCode != "R0260" || res.Slots[1].DeliveryChannel != "In-person" {
		t.Errorf("slots = %+v", res.Slots)
	}
	if res.Calls != 1 || len(res.TraceIDs) != 1 || res.TraceIDs[0] != rec.get(0).Header.Get("Ssp-TraceID") {
		t.Errorf("calls = %d, trace ids = %v", res.Calls, res.TraceIDs)
	}
}

func TestMetadataFixture(t *testing.T) {
	t.Parallel()
	c, p, _ := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeFHIR(w, 200, fixture(t, "capability-statement.json"))
	}, nil)
	got, err := c.Metadata(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	want := &Capability{FHIRVersion: "3.0.1", Version: "1.2.7", Software: "[Provider Software Name] [Provider Software Version]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("capability (-want +got):\n%s", diff)
	}
}

func TestMetadataWrongResource(t *testing.T) {
	t.Parallel()
	c, p, _ := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeFHIR(w, 200, []byte(emptyBundle))
	}, nil)
	_, err := c.Metadata(t.Context(), p)
	if gerr := asError(t, err); gerr.SpineCode != CodeMalformedResponse || gerr.Status != 200 {
		t.Errorf("error = %v", err)
	}
}

// TestSearchAcrossWindows runs a provider that, like a real one, rejects windows over 14 days or
// with Z offsets and returns only slots fully inside the window.
func TestSearchAcrossWindows(t *testing.T) {
	t.Parallel()
	at := func(d, h, m int) time.Time { return time.Date(2026, 10, d, h, m, 0, 0, london) }
	provided := []struct {
		id         string
		start, end time.Time
	}{
		{"early", at(18, 9, 0), at(18, 9, 10)},
		{"seam", at(31, 22, 50), at(31, 23, 10)}, // crosses the first seam (23:00 GMT)
		{"late", at(31, 23, 30), at(31, 23, 40)}, // inside both windows
	}
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		start, err1 := time.Parse(time.RFC3339, strings.TrimPrefix(q.Get("start"), "ge"))
		end, err2 := time.Parse(time.RFC3339, strings.TrimPrefix(q.Get("end"), "le"))
		if err1 != nil || err2 != nil || strings.Contains(r.URL.RawQuery, "Z") || end.Sub(start) > 14*24*time.Hour {
			writeFHIR(w, 422, []byte(`{"resourceType":"OperationOutcome","issue":[{"details":{"coding":[{"code":"INVALID_PARAMETER"}]}}]}`))
			return
		}
		var entries []string
		for _, s := range provided {
			if !s.start.Before(start) && !s.end.After(end) {
				entries = append(entries, slotJSON(s.id, formatFHIRDateTime(s.start), formatFHIRDateTime(s.end), ""))
			}
		}
		writeFHIR(w, 200, []byte(bundleJSON(entries...)))
	}, nil)
	res, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 10, 18), ukDate(2026, 11, 1))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range res.Slots {
		ids = append(ids, s.ID)
	}
	if diff := cmp.Diff([]string{"early", "seam", "late"}, ids); diff != "" {
		t.Errorf("slot ids (-want +got):\n%s", diff)
	}
	if res.Calls != 2 || rec.count() != 2 {
		t.Errorf("calls = %d, requests = %d, want 2", res.Calls, rec.count())
	}
}

func TestSearchFreeSlotsBadRange(t *testing.T) {
	t.Parallel()
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeFHIR(w, 200, []byte(emptyBundle))
	}, nil)
	if _, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 2), ukDate(2026, 5, 1)); err == nil {
		t.Error("to before from: no error")
	}
	res, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 2), ukDate(2026, 5, 2))
	if err != nil || len(res.Slots) != 0 || rec.count() != 0 {
		t.Errorf("empty range: %+v, %v, %d requests", res, err, rec.count())
	}
}

// TestServiceRootWithTrailingSlash: SDS holds some roots ending in "/"; the root is kept byte for
// byte (and is the JWT aud) and the path loses its own slash.
func TestServiceRootWithTrailingSlash(t *testing.T) {
	t.Parallel()
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeFHIR(w, 200, []byte(emptyBundle))
	}, nil)
	p.ServiceRoot += "/"
	if _, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 1), ukDate(2026, 5, 2)); err != nil {
		t.Fatal(err)
	}
	r := rec.get(0)
	if r.URL.Path != "/A20047/STU3/1/gpconnect/Slot" {
		t.Errorf("path %q for root %q", r.URL.Path, p.ServiceRoot)
	}
	_, claims := decodeJWT(t, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	if aud := claims["aud"]; aud != p.ServiceRoot {
		t.Errorf("JWT aud %v, want the root as given, %q", aud, p.ServiceRoot)
	}
}

func TestErrorMappingBadRequest(t *testing.T) {
	t.Parallel()
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeFHIR(w, 400, fixture(t, "operationoutcome-bad-request.json"))
	}, nil)
	_, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 1), ukDate(2026, 5, 2))
	gerr := asError(t, err)
	want := &Error{
		Status: 400, SpineCode: "BAD_REQUEST", Diagnostics: "Empty JWT aud claim",
		TraceID: rec.get(0).Header.Get("Ssp-TraceID"), Interaction: InteractionSearchSlots, Attempts: 1,
	}
	if diff := cmp.Diff(want, gerr); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "BAD_REQUEST") || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("message %q lacks status and code", err)
	}
}

func TestNoRetry(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 403, 404, 409, 422} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			c, p, rec := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				writeFHIR(w, status, []byte(`{"resourceType":"OperationOutcome","issue":[{"details":{"coding":[{"code":"ACCESS_DENIED"}]}}]}`))
			}, nil)
			_, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 1), ukDate(2026, 5, 2))
			gerr := asError(t, err)
			if rec.count() != 1 || gerr.Attempts != 1 || gerr.Retryable || gerr.Status != status || gerr.SpineCode != "ACCESS_DENIED" {
				t.Errorf("requests = %d, error = %+v", rec.count(), gerr)
			}
		})
	}
}

func TestOversizeBody(t *testing.T) {
	t.Parallel()
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeFHIR(w, 200, fixture(t, "slot-search-response.json"))
	}, func(cfg *Config) { cfg.MaxResponseBytes = 1024 })
	_, err := c.SearchFreeSlots(t.Context(), p, ukDate(2016, 8, 15), ukDate(2016, 8, 16))
	if gerr := asError(t, err); gerr.SpineCode != CodeResponseTooLarge || gerr.Retryable || rec.count() != 1 {
		t.Errorf("requests = %d, error = %+v", rec.count(), gerr)
	}
}

func TestMalformedBody(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not JSON":         `<html>maintenance</html>`,
		"truncated":        `{"resourceType":"Bundle","entry":[{"resource":`,
		"OperationOutcome": `{"resourceType":"OperationOutcome","issue":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, p, rec := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				writeFHIR(w, 200, []byte(body))
			}, nil)
			_, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 1), ukDate(2026, 5, 2))
			gerr := asError(t, err)
			var perr *ParseError
			if gerr.Status != 200 || gerr.SpineCode != CodeMalformedResponse || gerr.Retryable || !errors.As(err, &perr) || rec.count() != 1 {
				t.Errorf("requests = %d, error = %+v", rec.count(), gerr)
			}
		})
	}
}

func TestConcurrencyLimits(t *testing.T) {
	t.Parallel()
	var inFlight, peak atomic.Int32
	c, p, _ := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		n := inFlight.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		// Hold the request until a second one is in flight (or give up), so the peak is
		// deterministic: exactly the limit, never more.
		for deadline := time.Now().Add(time.Second); inFlight.Load() < 2 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		inFlight.Add(-1)
		writeFHIR(w, 200, []byte(emptyBundle))
	}, func(cfg *Config) { cfg.MaxPerPractice = 2 })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 1), ukDate(2026, 5, 2)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := peak.Load(); got != 2 {
		t.Errorf("peak concurrent requests to one practice = %d, want 2", got)
	}
}

func TestLimiterAcquireHonoursContext(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 1, 1, nil)
	release, err := l.acquire(t.Context(), "A")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.acquire(ctx, "B"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("acquire with global limit reached = %v, want deadline exceeded", err)
	}
	release(time.Millisecond, false)
	release2, err := l.acquire(t.Context(), "B")
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	release2(time.Millisecond, false)
	if len(l.practices) != 0 {
		t.Errorf("%d practice entries left after every call ended", len(l.practices))
	}
}

func TestDebugLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	h := slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})
	c, p, rec := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeFHIR(w, 200, []byte(emptyBundle))
	}, func(cfg *Config) { cfg.Logger = slog.New(h) })
	if _, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 5, 1), ukDate(2026, 5, 2)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	line := buf.String()
	mu.Unlock()
	for _, want := range []string{`"component":"gpconnect"`, `"ssp_trace_id":"` + rec.get(0).Header.Get("Ssp-TraceID"), `"ods_code":"A20047"`, `"status":200`, `"duration_ms":`} {
		if !strings.Contains(line, want) {
			t.Errorf("log %s lacks %s", line, want)
		}
	}
	jwt := strings.TrimPrefix(rec.get(0).Header.Get("Authorization"), "Bearer ")
	if strings.Contains(line, jwt[:20]) || strings.Contains(line, "Bearer") {
		t.Errorf("log contains the JWT: %s", line)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestSearchDropsSlotsOutsideRange: a provider that ignores the window and
// returns a slot from another day must not add it to this range's capacity.
func TestSearchDropsSlotsOutsideRange(t *testing.T) {
	t.Parallel()
	inside := slotJSON("in", "2026-06-01T09:00:00+01:00", "2026-06-01T09:10:00+01:00", "")
	outside := slotJSON("out", "2026-07-20T09:00:00+01:00", "2026-07-20T09:10:00+01:00", "")
	c, p, _ := setup(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		writeFHIR(w, 200, []byte(bundleJSON(inside, outside)))
	}, nil)
	res, err := c.SearchFreeSlots(t.Context(), p, ukDate(2026, 6, 1), ukDate(2026, 6, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Slots) != 1 || res.Slots[0].ID != "in" {
		t.Fatalf("want only the in-range slot, got %+v", res.Slots)
	}
}
