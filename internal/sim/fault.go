package sim

import (
	"bytes"
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
// Malformed, Truncated, Lost; checked in that order) apply to the first Times requests and then
// stop, or to every request when Times is 0. Only narrows the fault to one operation (OpBook,
// OpCancel, ...): other requests are neither delayed nor failed, nor counted in Times.
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
	// Lost lets the request take effect (a booking is made, a cancel done) and then closes the
	// connection without an answer: "booked, but the response is lost".
	Lost bool
	// Applied, with Status, lets the request take effect first and then answers Status (a 5xx
	// after the provider committed). Without it Status refuses the request untouched.
	Applied bool
	Only    string // "" = every operation; else one of the Op* names
}

func (f Fault) failing() bool {
	return f.Status != 0 || f.Timeout || f.Malformed || f.Truncated || f.Lost
}

// afterEffect reports whether the fault spoils the answer of a request that took effect.
func (f Fault) afterEffect() bool { return f.Lost || (f.Applied && f.Status != 0) }

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
	calls     map[string]int // per operation
	hook      hookState
	secret    string // set by SetWebhookSecret; overrides the generated one

	sdsRequests  atomic.Int64
	sdsFault     SDSFault
	sdsFaultLeft int
}

func (s *state) count(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[op]++
}

// Calls counts the requests a practice received for one operation (OpBook, ...), valid or not.
func (f *Federation) Calls(ods, op string) int {
	p := f.byODS[ods]
	if p == nil {
		return 0
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	return p.st.calls[op]
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

// takeFault returns the fault for a request to op, whether it concerns op at all, and whether
// its failure mode applies to this request.
func (s *state) takeFault(op string) (ft Fault, concerns, fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ft = s.fault
	if ft.Only != "" && ft.Only != op {
		return Fault{}, false, false
	}
	if !ft.failing() {
		return ft, true, false
	}
	if ft.Times == 0 {
		return ft, true, true
	}
	if s.faultLeft <= 0 {
		return ft, true, false
	}
	s.faultLeft--
	return ft, true, true
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

// applyFault delays the request and, if a failure mode applies before the request is served,
// answers it and returns nil. Otherwise it returns the writer to serve the request through:
// for a Lost or Applied fault it holds the answer back until finish decides its fate.
func (f *Federation) applyFault(w http.ResponseWriter, r *http.Request, p *practice, op string) *faultWriter {
	ft, _, fail := p.st.takeFault(op)
	if !sleep(r.Context(), f.cfg.Latency.Sample()+ft.Latency) {
		return nil
	}
	if !fail {
		return &faultWriter{w: w}
	}
	if ft.afterEffect() {
		return &faultWriter{w: w, ft: ft, hold: true, header: http.Header{}}
	}
	if ft.RetryAfter > 0 {
		secs := int64(math.Ceil(ft.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	switch {
	case ft.Status != 0:
		writeFaultOutcome(w, ft)
	case ft.Timeout:
		f.hang(w, r)
	case ft.Malformed:
		writeFHIR(w, http.StatusOK, []byte("<html><body><h1>Proxy Error</h1>upstream sent garbage</body></html>"))
	case ft.Truncated:
		writeFHIR(w, http.StatusOK, []byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Slot","id":"1","status":"fr`))
	}
	return nil
}

func writeFaultOutcome(w http.ResponseWriter, ft Fault) {
	code := ft.SpineCode
	if code == "" {
		code = defaultSpineCode(ft.Status)
	}
	diag := ft.Diagnostics
	if diag == "" {
		diag = "Simulated fault"
	}
	writeOutcome(w, ft.Status, code, diag)
}

// faultWriter passes an answer through, or (hold) keeps it back so that a request can take
// effect and then lose its answer.
type faultWriter struct {
	w      http.ResponseWriter
	ft     Fault
	hold   bool
	took   bool
	status int
	header http.Header
	body   bytes.Buffer
}

func (fw *faultWriter) Header() http.Header {
	if fw.hold {
		return fw.header
	}
	return fw.w.Header()
}

func (fw *faultWriter) WriteHeader(status int) {
	if fw.hold {
		fw.status = status
		return
	}
	fw.w.WriteHeader(status)
}

func (fw *faultWriter) Write(b []byte) (int, error) {
	if fw.hold {
		return fw.body.Write(b)
	}
	return fw.w.Write(b)
}

// applied records that the request took effect.
func (fw *faultWriter) applied() { fw.took = true }

// finish sends what is held back: nothing at all (Lost), the fault's status (Applied), or the
// real answer when the request did not take effect after all (it was refused).
func (fw *faultWriter) finish() {
	if !fw.hold {
		return
	}
	switch {
	case fw.took && fw.ft.Lost:
		if hj, ok := fw.w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // no hijacking (HTTP/2): abort the stream instead
	case fw.took:
		writeFaultOutcome(fw.w, fw.ft)
	default:
		for k, v := range fw.header {
			fw.w.Header()[k] = v
		}
		if fw.status == 0 {
			fw.status = http.StatusOK
		}
		fw.w.WriteHeader(fw.status)
		_, _ = fw.w.Write(fw.body.Bytes())
	}
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
