package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	maxWebhookBody   = 1 << 20
	signatureMaxAge  = 5 * time.Minute
	maxKeptDelivered = 10000 // per practice, so a long soak test cannot exhaust memory
)

// WebhookFault makes one practice's webhook receiver misbehave. The zero value clears it.
//
// Delay applies to every delivery while set. Status and Timeout apply to the first Times
// deliveries, or to all when Times is 0 (use Status 410 with Times 0 for a permanently gone
// receiver).
type WebhookFault struct {
	Status  int           // answer with this status instead of accepting (500, 503, 410, ...)
	Times   int           // fail this many deliveries, then accept; 0 = fail every delivery
	Delay   time.Duration // wait before answering (slow receiver)
	Timeout bool          // hold the delivery until the sender gives up (or Config.MaxHang)
}

// Delivery is one verified, accepted webhook delivery.
type Delivery struct {
	Key   string // Idempotency-Key
	Event string // Gpfed-Event: task | notification
	Body  []byte
	At    time.Time
}

type hookState struct {
	fault      WebhookFault
	left       int
	attempts   int
	inFlight   int
	peak       int // most requests in flight at once
	spans      []span
	deliveries map[string]int
	received   []Delivery
}

// WebhookPeakInFlight is the most requests the practice's webhook receiver
// held at once (isolation tests check a sender's per-endpoint cap with it).
func (f *Federation) WebhookPeakInFlight(ods string) int {
	p := f.byODS[ods]
	if p == nil {
		return 0
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	return p.st.hook.peak
}

// WebhookPeakWithin is the most requests the practice's receiver held at
// once, counting each from its arrival until it ended or until within had
// passed, whichever came first. A sender that gives up after its timeout
// closes the connection, but the receiver sees that only when the server
// schedules its handler again, which on a loaded machine can be tens of
// milliseconds after the sender has already sent the next request; within
// a sender's timeout the count is what the sender held.
func (f *Federation) WebhookPeakWithin(ods string, within time.Duration) int {
	p := f.byODS[ods]
	if p == nil {
		return 0
	}
	p.st.mu.Lock()
	spans := slices.Clone(p.st.hook.spans)
	p.st.mu.Unlock()
	type edge struct {
		at    time.Time
		delta int
	}
	edges := make([]edge, 0, 2*len(spans))
	for _, sp := range spans {
		end := sp.start.Add(within)
		if !sp.end.IsZero() && sp.end.Before(end) {
			end = sp.end
		}
		edges = append(edges, edge{sp.start, 1}, edge{end, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // an end before a start at the same instant
	})
	n, peak := 0, 0
	for _, e := range edges {
		n += e.delta
		peak = max(peak, n)
	}
	return peak
}

// span is one webhook request's arrival and end (zero while it runs).
type span struct{ start, end time.Time }

// maxKeptSpans bounds the request spans kept per practice.
const maxKeptSpans = 100000

func (s *state) enterHook() func() {
	s.mu.Lock()
	s.hook.inFlight++
	s.hook.peak = max(s.hook.peak, s.hook.inFlight)
	i := -1
	if len(s.hook.spans) < maxKeptSpans {
		i = len(s.hook.spans)
		s.hook.spans = append(s.hook.spans, span{start: time.Now()})
	}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.hook.inFlight--
		if i >= 0 {
			s.hook.spans[i].end = time.Now()
		}
		s.mu.Unlock()
	}
}

// SetWebhookSecret makes the practice's receiver verify with secret: the
// one gpfed generated for it (gpfed generates every webhook secret, so a
// deployment tells its receivers, and a test tells the simulator).
// Unknown ODS codes are ignored.
func (f *Federation) SetWebhookSecret(ods, secret string) {
	p := f.byODS[ods]
	if p == nil {
		return
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.secret = secret
}

func (p *practice) webhookSecret() string {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	if p.st.secret != "" {
		return p.st.secret
	}
	return p.secret
}

// serveSecret answers PUT /hooks/<ODS>/secret: the body (a secret gpfed
// printed) becomes the receiver's secret. It exists so that a simulator
// running as its own process (`gpfed sim`) can be told the secrets gpfed
// generated; a simulator is never a production receiver.
func (f *Federation) serveSecret(w http.ResponseWriter, r *http.Request, ods string) {
	if f.byODS[ods] == nil {
		writeHookJSON(w, http.StatusNotFound, "no webhook receiver for "+ods)
		return
	}
	if r.Method != http.MethodPut {
		writeHookJSON(w, http.StatusMethodNotAllowed, "PUT the secret")
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1024))
	secret := strings.TrimSpace(string(b))
	if err != nil || secret == "" {
		writeHookJSON(w, http.StatusBadRequest, "send the secret as the request body")
		return
	}
	f.SetWebhookSecret(ods, secret)
	writeHookJSON(w, http.StatusOK, "secret set")
}

// SetWebhookFault replaces the practice's webhook fault; unknown ODS codes are ignored.
func (f *Federation) SetWebhookFault(ods string, fault WebhookFault) {
	p := f.byODS[ods]
	if p == nil {
		return
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.hook.fault, p.st.hook.left = fault, fault.Times
}

// Deliveries maps each Idempotency-Key to the number of verified deliveries answered 200. A
// count above 1 means the sender redelivered after a success.
func (f *Federation) Deliveries(ods string) map[string]int {
	p := f.byODS[ods]
	if p == nil {
		return map[string]int{}
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	return maps.Clone(p.st.hook.deliveries)
}

// WebhookAttempts counts every POST to the practice's webhook URL, accepted or not.
func (f *Federation) WebhookAttempts(ods string) int {
	p := f.byODS[ods]
	if p == nil {
		return 0
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	return p.st.hook.attempts
}

// Received returns the accepted deliveries in arrival order (at most the last 10,000).
func (f *Federation) Received(ods string) []Delivery {
	p := f.byODS[ods]
	if p == nil {
		return nil
	}
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	return append([]Delivery(nil), p.st.hook.received...)
}

func (s *state) takeHookFault() (WebhookFault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &s.hook
	h.attempts++
	ft := h.fault
	if ft.Status == 0 && !ft.Timeout {
		return ft, false
	}
	if ft.Times == 0 {
		return ft, true
	}
	if h.left <= 0 {
		return ft, false
	}
	h.left--
	return ft, true
}

func (s *state) recordDelivery(d Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &s.hook
	if h.deliveries == nil {
		h.deliveries = map[string]int{}
	}
	h.deliveries[d.Key]++
	if len(h.received) >= maxKeptDelivered {
		h.received = h.received[1:]
	}
	h.received = append(h.received, d)
}

func writeHookJSON(w http.ResponseWriter, status int, msg string) {
	w.Header().Set(headerContentType, "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"status": http.StatusText(status), "message": msg})
	_, _ = w.Write(b)
}

func (f *Federation) serveWebhook(w http.ResponseWriter, r *http.Request, ods string) {
	p := f.byODS[ods]
	if p == nil {
		writeHookJSON(w, http.StatusNotFound, "no webhook receiver for "+ods)
		return
	}
	if r.Method != http.MethodPost {
		writeHookJSON(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	defer p.st.enterHook()()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		writeHookJSON(w, http.StatusRequestEntityTooLarge, "body unreadable or over 1 MiB")
		return
	}
	ft, fail := p.st.takeHookFault()
	if !sleep(r.Context(), ft.Delay) {
		return
	}
	if fail {
		if ft.Timeout {
			f.hang(w, r)
			return
		}
		writeHookJSON(w, ft.Status, "simulated webhook fault")
		return
	}
	now := f.cfg.Now()
	if status, msg := verifyDelivery(r, p.webhookSecret(), body, now); status != 0 {
		f.log.Debug("webhook rejected", "ods", ods, "status", status, "reason", msg)
		writeHookJSON(w, status, msg)
		return
	}
	p.st.recordDelivery(Delivery{Key: r.Header.Get("Idempotency-Key"), Event: r.Header.Get("Gpfed-Event"), Body: body, At: now})
	writeHookJSON(w, http.StatusOK, "received")
}

// verifyDelivery checks the webhook contract; it returns 0 when the delivery is acceptable.
func verifyDelivery(r *http.Request, secret string, body []byte, now time.Time) (int, string) {
	if err := VerifySignature(secret, r.Header.Get("Gpfed-Signature"), body, now); err != nil {
		return http.StatusUnauthorized, err.Error()
	}
	if r.Header.Get("Idempotency-Key") == "" {
		return http.StatusBadRequest, "missing Idempotency-Key header"
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get(headerContentType)); err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, "Content-Type must be application/json"
	}
	if ev := r.Header.Get("Gpfed-Event"); ev != "task" && ev != "notification" {
		return http.StatusBadRequest, "Gpfed-Event must be task or notification"
	}
	if !json.Valid(body) {
		return http.StatusBadRequest, "body is not valid JSON"
	}
	return 0, ""
}

// Sign returns a Gpfed-Signature header value for body at time t: t=<unix>,v1=<hex HMAC-SHA256
// of "<t>.<body>">. Tests use it to build deliveries by hand.
func Sign(secret string, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature checks a Gpfed-Signature header against body: any v1 must match and t must be
// within five minutes of now.
func VerifySignature(secret, header string, body []byte, now time.Time) error {
	if header == "" {
		return fmt.Errorf("missing Gpfed-Signature header")
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("malformed Gpfed-Signature header")
	}
	if age := now.Sub(time.Unix(unix, 0)); age > signatureMaxAge || age < -signatureMaxAge {
		return fmt.Errorf("signature timestamp is %s away from now (limit %s)", age.Round(time.Second), signatureMaxAge)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return fmt.Errorf("signature does not match the body")
}
