package gpconnect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/ctxwait"
)

// maxErrorBody bounds how much of a non-2xx body is read for its OperationOutcome.
const maxErrorBody = 64 << 10

// callResult is the outcome of one logical call, possibly after several attempts.
type callResult struct {
	status   int
	header   http.Header
	body     []byte
	traceID  string // of the successful attempt
	traceIDs []string
}

// request is one logical GP Connect call. Only reads set retry: a write
// whose answer is lost may have taken effect, so it is never repeated blind.
type request struct {
	method, pathAndQuery string
	interaction, scope   string
	body                 []byte     // POST and PUT
	ifMatch              string     // W/"<versionId>" for amend and cancel
	who                  *Requester // nil: the configured responsible person
	retry                bool
}

// get performs GET SSPPrefix+ServiceRoot+pathAndQuery with retries per GPCONNECT.md section 4,
// with the organisation-level scope of slot search and metadata.
// The returned error, if any, is an *Error.
func (c *Client) get(ctx context.Context, p Provider, interaction, pathAndQuery string) (callResult, error) {
	return c.call(ctx, p, request{method: http.MethodGet, pathAndQuery: pathAndQuery, interaction: interaction,
		scope: jwtScopeOrganisationRead, retry: true})
}

// call performs rq, retrying transient failures when rq.retry is set.
func (c *Client) call(ctx context.Context, p Provider, rq request) (callResult, error) {
	var res callResult
	p, rerr := c.resolve(ctx, p, rq.interaction)
	if rerr != nil {
		return res, rerr
	}
	for attempt := 1; ; attempt++ {
		traceID := uuid.NewString()
		res.traceIDs = append(res.traceIDs, traceID)
		resp, retryAfter, err := c.attempt(ctx, p, &rq, traceID, attempt)
		if err == nil {
			res.status, res.header, res.body, res.traceID = resp.status, resp.header, resp.body, traceID
			return res, nil
		}
		err.Attempts = attempt
		if !rq.retry || !err.Retryable || attempt >= c.cfg.MaxAttempts {
			return res, err
		}
		if serr := ctxwait.Sleep(ctx, c.backoff(attempt, retryAfter)); serr != nil {
			err.Err = fmt.Errorf("%w (gave up retrying: %w)", err.Err, serr)
			return res, err
		}
	}
}

// attemptResponse is a 2xx answer to one attempt.
type attemptResponse struct {
	status int
	header http.Header
	body   []byte
}

// attempt makes one HTTP request under the concurrency limits and the per-attempt timeout.
func (c *Client) attempt(ctx context.Context, p Provider, rq *request, traceID string, n int) (attemptResponse, time.Duration, *Error) {
	var wrote atomic.Bool // the whole request reached the wire
	fail := func(status int, code string, retryable bool, err error) *Error {
		return &Error{Status: status, SpineCode: code, TraceID: traceID, Interaction: rq.interaction,
			Retryable: retryable, NotSent: status == 0 && !wrote.Load(), Err: err}
	}
	release, err := c.limits.acquire(ctx, p.ODS)
	if err != nil {
		return attemptResponse{}, 0, fail(0, CodeCancelled, false, err)
	}

	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wrote.Store(true)
		}
	}})
	start := time.Now()
	resp, body, ttfb, err := c.roundTrip(actx, p, rq, traceID)
	var aerr *Error
	var retryAfter time.Duration
	switch {
	case err != nil:
		aerr = c.transportError(ctx, actx, err, fail)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if int64(len(body)) > c.cfg.MaxResponseBytes {
			aerr = fail(resp.StatusCode, CodeResponseTooLarge, false,
				fmt.Errorf("response body exceeds %d bytes", c.cfg.MaxResponseBytes))
		}
	default:
		aerr = fail(resp.StatusCode, "", retryableStatus(resp.StatusCode), nil)
		if code, diag, ok := ParseOperationOutcome(body); ok {
			aerr.SpineCode, aerr.Diagnostics = code, diag
		}
		retryAfter = c.parseRetryAfter(resp.Header.Get("Retry-After"))
	}
	if ttfb == 0 {
		ttfb = time.Since(start)
	}
	release(ttfb, aerr != nil && (aerr.Status == 429 || aerr.Status == 503 || aerr.SpineCode == CodeTimeout))
	c.report(p, rq.interaction, traceID, n, resp, time.Since(start), aerr)
	if aerr != nil {
		return attemptResponse{}, retryAfter, aerr
	}
	return attemptResponse{status: resp.StatusCode, header: resp.Header, body: body}, 0, nil
}

// roundTrip sends the request and reads at most MaxResponseBytes+1 bytes of a 2xx body (so an
// oversize body is detected rather than silently truncated) or maxErrorBody of any other. ttfb is
// the time to the response headers: the provider's latency, without time spent waiting for room
// in the byte budget, which is what the adaptive limit must see.
func (c *Client) roundTrip(ctx context.Context, p Provider, rq *request, traceID string) (resp *http.Response, body []byte, ttfb time.Duration, err error) {
	var reqBody io.Reader
	if rq.body != nil {
		reqBody = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, p.url(c.cfg.SSPPrefix, rq.pathAndQuery), reqBody)
	if err != nil {
		return nil, nil, 0, err
	}
	jwt, err := buildJWT(c.cfg.Consumer.as(rq.who), p.ServiceRoot, rq.scope, c.cfg.Now())
	if err != nil {
		return nil, nil, 0, err
	}
	req.Header.Set("Ssp-TraceID", traceID)
	req.Header.Set("Ssp-From", c.cfg.Consumer.ASID)
	req.Header.Set("Ssp-To", p.ASID)
	req.Header.Set("Ssp-InteractionID", rq.interaction)
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("Accept", fhirJSON)
	if rq.body != nil {
		req.Header.Set("Content-Type", fhirJSON+";charset=utf-8")
	}
	if rq.ifMatch != "" {
		req.Header.Set("If-Match", rq.ifMatch)
	}

	start := time.Now()
	resp, err = c.cfg.HTTPClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			// Its message repeats the URL, and a Find patient URL carries an
			// NHS number: keep the cause only.
			err = uerr.Err
		}
		return nil, nil, 0, err
	}
	ttfb = time.Since(start)
	defer resp.Body.Close()
	limit := int64(maxErrorBody)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		limit = c.cfg.MaxResponseBytes + 1
	}
	body, err = readBody(ctx, resp.Body, limit)
	if err != nil {
		return nil, nil, ttfb, fmt.Errorf("read response body: %w", err)
	}
	return resp, body, ttfb, nil
}

// transportError classifies a failure that produced no usable response. A cancelled parent
// context is final; the per-attempt deadline and network faults are worth another attempt.
func (c *Client) transportError(parent, attemptCtx context.Context, err error, fail func(int, string, bool, error) *Error) *Error {
	if perr := parent.Err(); perr != nil {
		// The caller's own deadline is still a timeout (a later sync may succeed); the retry loop
		// will not wait past it. An explicit cancel is final.
		if errors.Is(perr, context.DeadlineExceeded) {
			return fail(0, CodeTimeout, true, fmt.Errorf("%w: %w", perr, err))
		}
		return fail(0, CodeCancelled, false, fmt.Errorf("%w: %w", perr, err))
	}
	var nerr net.Error
	if errors.Is(attemptCtx.Err(), context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()) {
		return fail(0, CodeTimeout, true, fmt.Errorf("no response within %s: %w", c.cfg.RequestTimeout, err))
	}
	return fail(0, CodeNetwork, true, err)
}

// report feeds the Observer and the log. The JWT is never logged.
func (c *Client) report(p Provider, interaction, traceID string, n int, resp *http.Response, d time.Duration, aerr *Error) {
	info := CallInfo{ODS: p.ODS, Interaction: interaction, TraceID: traceID, Duration: d, Attempt: n}
	if resp != nil {
		info.Status = resp.StatusCode
	}
	if aerr != nil {
		info.Err = aerr
	}
	if c.cfg.Observer != nil {
		c.cfg.Observer(info)
	}
	attrs := []any{
		"ssp_trace_id", traceID, "ods_code", p.ODS, "interaction", shortInteraction(interaction),
		"status", info.Status, "duration_ms", d.Milliseconds(), "attempt", n,
	}
	if aerr != nil {
		attrs = append(attrs, "spine_code", aerr.SpineCode, "retryable", aerr.Retryable)
		c.log.Warn("gp connect call failed", attrs...)
		return
	}
	// Every call is logged with its Ssp-TraceID so a provider or the SSP can trace it.
	c.log.Info("gp connect call", attrs...)
}

// backoff returns the wait before attempt+1: exponential with full jitter, unless the provider
// or SSP asked for a specific delay, which is honoured up to 3*BackoffMax.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, 3*c.cfg.BackoffMax)
	}
	ceiling := c.cfg.BackoffMax
	if attempt < 32 {
		ceiling = min(c.cfg.BackoffBase<<(attempt-1), c.cfg.BackoffMax)
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1)
}

// parseRetryAfter accepts delta-seconds or an HTTP date; anything else means "not given".
func (c *Client) parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(c.cfg.Now()), 0)
	}
	return 0
}
