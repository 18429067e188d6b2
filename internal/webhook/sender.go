package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Outcome is what a delivery attempt means for the item being delivered.
type Outcome int

// Outcomes of one attempt.
const (
	// Delivered: the receiver answered 2xx.
	Delivered Outcome = iota + 1
	// Retry: 408, 429, 5xx, 3xx, a timeout or a network error; try again later.
	Retry
	// Permanent: any other 4xx, or a URL that can never work.
	Permanent
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Classify maps an HTTP status to an Outcome.
func Classify(status int) Outcome {
	switch {
	case status >= 200 && status < 300:
		return Delivered
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return Retry
	case status >= 400 && status < 500:
		return Permanent
	default: // 1xx, 3xx (redirects are not followed), 5xx
		return Retry
	}
}

// Result is the outcome of one POST. Err describes a failure in words a
// sender may see (the category, and the status when one arrived): never
// the URL (which may hold a receiver's token), the response body, or the
// network detail, which would make the error a port-scan oracle. Detail is
// that fuller story, for admins (logs) only.
type Result struct {
	Outcome    Outcome
	Category   Category      // set when Outcome is not Delivered
	Status     int           // 0 when no response arrived
	RetryAfter time.Duration // from a 429/503 Retry-After header, else 0
	// At is when the answer's status arrived (or the request failed):
	// a delivery's recorded time. Duration is the request's, from sending.
	At       time.Time
	Duration time.Duration
	Err      error
	Detail   string
}

// SecretOpener turns stored webhook secrets into plaintext
// (*secret.Keyring does).
type SecretOpener interface {
	Open(stored string) (string, error)
}

// Sender posts signed events. Client must carry a timeout and should come
// from NewClient or NewClientFor, which enforce the target Policy;
// redirects are never followed because a POST must not silently turn into
// a GET.
type Sender struct {
	Client *http.Client
	Now    func() time.Time
	// Secrets opens sealed secrets before signing. Without it, a sealed
	// secret fails the attempt (unreachable) and plaintext ones are used
	// as they are.
	Secrets SecretOpener
	// Log, when set, receives the detail of every failed attempt (the
	// admin's view; the sender sees only Result.Err).
	Log *slog.Logger
}

// NewClient returns an http.Client for a Sender with the production
// Policy: https only, public addresses only.
func NewClient(timeout time.Duration) *http.Client {
	return NewClientFor(timeout, Policy{})
}

// maxIdleConns is how many idle connections a Sender's client keeps, to
// one host or in all: as many as a worker has deliveries in flight by
// default (GPFED_DELIVERY_MAX_IN_FLIGHT), so a connection is closed when it
// has been idle for 90 s (the transport's IdleConnTimeout), not because
// more were busy at once than the pool keeps. A federation's practices may share one host (a supplier's gateway);
// with Go's default of 2 per host (32 here before), bench/tasks's receivers,
// one listener for all practices, saw about one delivery in nine dial a new
// connection and close it again.
const maxIdleConns = 128

// NewClientFor returns an http.Client for a Sender: per-attempt timeout,
// bounded connection set-up, no redirects, no proxy (the target check must
// see the real destination), and every connection checked against p at
// connect time.
func NewClientFor(timeout time.Duration, p Policy) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = maxIdleConns, maxIdleConns
	tr.ResponseHeaderTimeout = timeout
	tr.DialContext = p.dialContext(&net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second})
	return &http.Client{
		Timeout:   timeout,
		Transport: schemeGuard{next: tr, allowHTTP: p.AllowHTTP},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// maxDrain bounds how much of a response body is read (to reuse the connection).
const maxDrain = 64 << 10

// Send POSTs body to rawURL as event with the Idempotency-Key and a fresh
// signature by each of the stored secrets (the current one first; a second
// while a rotation keeps the previous one valid), opened through Secrets.
func (s *Sender) Send(ctx context.Context, rawURL string, stored []string, event, key string, body []byte) Result {
	res := s.send(ctx, rawURL, stored, event, key, body)
	if res.Outcome != Delivered && s.Log != nil {
		host := ""
		if u, err := url.Parse(rawURL); err == nil {
			host = u.Host
		}
		s.Log.WarnContext(ctx, "webhook attempt failed", "event", event, "idempotency_key", key, "host", host,
			"category", string(res.Category), "status", res.Status, "detail", res.Detail)
	}
	return res
}

func (s *Sender) send(ctx context.Context, rawURL string, stored []string, event, key string, body []byte) Result {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Result{Outcome: Permanent, Category: CategoryUnreachable,
			Err: errors.New("webhook URL is not an absolute http(s) URL"), Detail: "unparseable webhook URL"}
	}
	secrets, err := s.open(stored)
	if err != nil {
		// A key problem is the federation's to fix (and a restart with the
		// right key cures it), so the attempt is retried.
		return Result{Outcome: Retry, Category: CategoryUnreachable, Err: errUnreachable,
			Detail: "webhook secret unusable: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return Result{Outcome: Permanent, Category: CategoryUnreachable, Err: errors.New("webhook URL is not usable"), Detail: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gpfed-webhook/1")
	req.Header.Set(HeaderIdempotencyKey, key)
	req.Header.Set(HeaderEvent, event)
	req.Header.Set(HeaderSignature, SignAll(secrets, now(), body))
	start := time.Now()
	resp, err := s.Client.Do(req)
	at := time.Now()
	d := at.Sub(start)
	if err != nil {
		r := transportFailure(err)
		r.At, r.Duration = at, d
		return r
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	r := Result{Outcome: Classify(resp.StatusCode), Status: resp.StatusCode, At: at, Duration: d}
	if r.Outcome != Delivered {
		r.Category = statusCategory(resp.StatusCode)
		r.Err = fmt.Errorf("webhook answered %d", resp.StatusCode)
		r.Detail = r.Err.Error()
		r.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now())
	}
	return r
}

// open returns the plaintext signing secrets, without duplicates (a
// rotation to the same secret signs once) and without empty ones.
func (s *Sender) open(stored []string) ([]string, error) {
	var out []string
	for _, v := range stored {
		if v == "" {
			continue
		}
		plain := v
		if isSealed(v) {
			if s.Secrets == nil {
				return nil, errors.New("the secret is sealed but this process has no GPFED_SECRET_KEY")
			}
			var err error
			if plain, err = s.Secrets.Open(v); err != nil {
				return nil, err
			}
		}
		if !slices.Contains(out, plain) {
			out = append(out, plain)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the practice has no webhook secret")
	}
	return out, nil
}

// isSealed mirrors secret.IsSealed without importing it (the contract
// package stays free of key handling).
func isSealed(v string) bool { return strings.HasPrefix(v, "gpfed:v1:") }

func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
