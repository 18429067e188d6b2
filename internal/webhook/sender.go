package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
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

// Result is the outcome of one POST. Err describes a failure without the
// URL (which may hold a receiver's token) and without the response body.
type Result struct {
	Outcome    Outcome
	Status     int           // 0 when no response arrived
	RetryAfter time.Duration // from a 429/503 Retry-After header, else 0
	Duration   time.Duration
	Err        error
}

// Sender posts signed events. Client must carry a timeout; redirects are
// never followed because a POST must not silently turn into a GET.
type Sender struct {
	Client *http.Client
	Now    func() time.Time
}

// NewClient returns an http.Client suitable for a Sender: per-attempt
// timeout, bounded connection set-up, no redirects.
func NewClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.ResponseHeaderTimeout = timeout
	tr.DialContext = (&net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// maxDrain bounds how much of a response body is read (to reuse the connection).
const maxDrain = 64 << 10

// Send POSTs body to rawURL as event with the Idempotency-Key and a fresh
// signature by each of secrets (the current one first; a second while a
// rotation keeps the previous one valid).
func (s *Sender) Send(ctx context.Context, rawURL string, secrets []string, event, key string, body []byte) Result {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Result{Outcome: Permanent, Err: errors.New("webhook URL is not an absolute http(s) URL")}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return Result{Outcome: Permanent, Err: errors.New("webhook URL is not usable")}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gpfed-webhook/1")
	req.Header.Set(HeaderIdempotencyKey, key)
	req.Header.Set(HeaderEvent, event)
	req.Header.Set(HeaderSignature, SignAll(secrets, now(), body))
	start := time.Now()
	resp, err := s.Client.Do(req)
	d := time.Since(start)
	if err != nil {
		return Result{Outcome: Retry, Duration: d, Err: describe(err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	r := Result{Outcome: Classify(resp.StatusCode), Status: resp.StatusCode, Duration: d}
	if r.Outcome != Delivered {
		r.Err = fmt.Errorf("webhook answered %d", resp.StatusCode)
		r.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), now())
	}
	return r
}

// describe strips the URL from a transport error.
func describe(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return errors.New("webhook timed out")
	}
	return fmt.Errorf("webhook unreachable: %w", err)
}

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
