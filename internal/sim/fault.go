package sim

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Fault makes one practice misbehave. The zero Fault clears any fault.
//
// Latency delays every response while the fault is set. The failure modes (Status, Timeout,
// Malformed, Truncated; checked in that order) apply to the first Times requests and then stop,
// or to every request when Times is 0.
type Fault struct {
	Status      int           // answer with this HTTP status and an OperationOutcome (e.g. 500, 503, 403, 404)
	SpineCode   string        // OperationOutcome code; default from Status (403 ACCESS_DENIED, 404 ORGANISATION_NOT_FOUND, 5xx INTERNAL_SERVER_ERROR, ...)
	Diagnostics string        // OperationOutcome diagnostics; default "Simulated fault"
	RetryAfter  time.Duration // when > 0, failed answers carry Retry-After in whole seconds (rounded up)
	Times       int           // fail this many requests, then behave; 0 = fail every request
	Latency     time.Duration // added before every answer (on top of Config.Latency)
	Timeout     bool          // hold the request until the client gives up (or Config.MaxHang, then 504)
	Malformed   bool          // 200 with a body that is not JSON
	Truncated   bool          // 200 with a Bundle cut off mid-way
}

func (f Fault) failing() bool { return f.Status != 0 || f.Timeout || f.Malformed || f.Truncated }

// LatencyDist is a lognormal response-time distribution, for benchmarks that want realistic
// provider latency. The zero value adds nothing.
type LatencyDist struct {
	Median time.Duration // 0 = no added latency
	Sigma  float64       // shape; default 0.5 (p95 ~ 2.3x median)
	Max    time.Duration // cap; default 20x median
}

// Sample draws one latency.
func (d LatencyDist) Sample() time.Duration {
	if d.Median <= 0 {
		return 0
	}
	sigma, maxD := d.Sigma, d.Max
	if sigma <= 0 {
		sigma = 0.5
	}
	if maxD <= 0 {
		maxD = 20 * d.Median
	}
	v := time.Duration(float64(d.Median) * math.Exp(sigma*rand.NormFloat64()))
	return min(v, maxD)
}

// state is a practice's mutable part: counters and faults.
type state struct {
	requests  atomic.Int64
	mu        sync.Mutex
	fault     Fault
	faultLeft int
	hook      hookState

	sdsRequests  atomic.Int64
	sdsFault     SDSFault
	sdsFaultLeft int
}

// SetFault replaces the practice's fault (the zero Fault clears it). Unknown ODS codes are
// ignored.
func (f *Federation) SetFault(ods string, fault Fault) {
	p := f.byODS[ods]
	if p == nil {
		return
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.fault, p.st.faultLeft = fault, fault.Times
}

// takeFault returns the fault for this request and whether its failure mode applies.
func (s *state) takeFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ft := s.fault
	if !ft.failing() {
		return ft, false
	}
	if ft.Times == 0 {
		return ft, true
	}
	if s.faultLeft <= 0 {
		return ft, false
	}
	s.faultLeft--
	return ft, true
}

// sleep waits for d or until ctx ends; it reports whether the full delay elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// applyFault delays and, if a failure mode applies, answers the request; it reports whether the
// request was answered (or abandoned) so the caller must stop.
func (f *Federation) applyFault(w http.ResponseWriter, r *http.Request, p *practice) bool {
	ft, fail := p.st.takeFault()
	if !sleep(r.Context(), f.cfg.Latency.Sample()+ft.Latency) {
		return true
	}
	if !fail {
		return false
	}
	if ft.RetryAfter > 0 {
		secs := int64(math.Ceil(ft.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	switch {
	case ft.Status != 0:
		code := ft.SpineCode
		if code == "" {
			code = defaultSpineCode(ft.Status)
		}
		diag := ft.Diagnostics
		if diag == "" {
			diag = "Simulated fault"
		}
		writeOutcome(w, ft.Status, code, diag)
	case ft.Timeout:
		f.hang(w, r)
	case ft.Malformed:
		writeFHIR(w, http.StatusOK, []byte("<html><body><h1>Proxy Error</h1>upstream sent garbage</body></html>"))
	case ft.Truncated:
		writeFHIR(w, http.StatusOK, []byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Slot","id":"1","status":"fr`))
	}
	return true
}

// hang holds a request until the client gives up, the federation closes or MaxHang passes.
func (f *Federation) hang(w http.ResponseWriter, r *http.Request) {
	t := time.NewTimer(f.cfg.MaxHang)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-f.done:
		writeOutcome(w, http.StatusGatewayTimeout, codeInternal, "Simulated timeout released")
	case <-t.C:
		writeOutcome(w, http.StatusGatewayTimeout, codeInternal, "Simulated timeout")
	}
}
