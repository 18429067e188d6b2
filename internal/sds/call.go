package sds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/ctxwait"
)

// maxBody bounds an SDS response: a searchset for one practice is a few KB.
const maxBody = 1 << 20

// query is one search's parameters in order (identifier repeats).
type query [][2]string

func (q query) encode() string {
	v := make([]byte, 0, 256)
	for i, kv := range q {
		if i > 0 {
			v = append(v, '&')
		}
		// Values carry "system|value": "|" and ":" are percent-encoded as the API asks.
		v = append(v, kv[0]...)
		v = append(v, '=')
		v = append(v, url.QueryEscape(kv[1])...)
	}
	return string(v)
}

// search GETs {base}/{resource}?q with retries and returns the body of the
// 200 answer. Failures come back as *Error with Kind Unavailable or Rejected
// (the caller fills ODS, Interaction and Step).
func (c *Client) search(ctx context.Context, resource string, q query) ([]byte, *Error) {
	target := c.base + "/" + resource + "?" + q.encode()
	for attempt := 1; ; attempt++ {
		body, retryAfter, err := c.attempt(ctx, resource, target, attempt)
		if err == nil {
			return body, nil
		}
		err.Attempts = attempt
		if err.Kind != Unavailable || attempt >= c.cfg.MaxAttempts || ctx.Err() != nil {
			return nil, err
		}
		if serr := ctxwait.Sleep(ctx, c.backoff(attempt, retryAfter)); serr != nil {
			err.Err = errors.Join(err.Err, serr)
			return nil, err
		}
	}
}

func (c *Client) attempt(ctx context.Context, resource, target string, n int) ([]byte, time.Duration, *Error) {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, 0, &Error{Kind: Unavailable, Err: fmt.Errorf("waiting for the SDS rate limit: %w", err)}
		}
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, target, nil)
	if err != nil {
		return nil, 0, &Error{Kind: Rejected, Err: err}
	}
	correlation := uuid.NewString()
	req.Header.Set("apikey", c.cfg.APIKey)
	req.Header.Set("Accept", "application/fhir+json")
	req.Header.Set("X-Correlation-Id", correlation)
	start := time.Now()
	resp, err := c.cfg.HTTPClient.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		resp.Body.Close()
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	d := time.Since(start)
	if c.cfg.Observer != nil {
		c.cfg.Observer(Call{Step: resource, Status: status, Duration: d, Attempt: n})
	}
	c.log.Debug("sds call", "step", resource, "status", status, "duration_ms", d.Milliseconds(),
		"attempt", n, "x_correlation_id", correlation)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, 0, &Error{Kind: Unavailable, Err: ctx.Err()}
	case err != nil:
		return nil, 0, &Error{Kind: Unavailable, Err: fmt.Errorf("no answer (x-correlation-id %s): %w", correlation, err)}
	case status == http.StatusOK && len(body) > maxBody:
		return nil, 0, &Error{Kind: Inconsistent, Status: status, Err: fmt.Errorf("answer larger than %d bytes", maxBody)}
	case status == http.StatusOK:
		return body, 0, nil
	}
	e := &Error{Kind: Rejected, Status: status}
	if status == http.StatusTooManyRequests || status >= 500 {
		e.Kind = Unavailable
	}
	e.SpineCode, e.Diagnostics = operationOutcome(body)
	if status == http.StatusUnauthorized && e.Diagnostics == "" {
		e.Diagnostics = "the API gateway refused the key: check GPFED_SDS_API_KEY"
	}
	return nil, parseRetryAfter(resp.Header.Get("Retry-After")), e
}

// operationOutcome reads issue[0]'s code and diagnostics from an SDS error body.
func operationOutcome(body []byte) (code, diagnostics string) {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code    string `json:"code"`
			Details struct {
				Coding []struct {
					Code string `json:"code"`
				} `json:"coding"`
			} `json:"details"`
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		return "", ""
	}
	i := oo.Issue[0]
	code = i.Code
	if len(i.Details.Coding) > 0 && i.Details.Coding[0].Code != "" {
		code = i.Details.Coding[0].Code
	}
	return code, i.Diagnostics
}

// backoff is exponential with full jitter, or the server's Retry-After (capped).
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, 4*c.cfg.BackoffMax)
	}
	ceiling := c.cfg.BackoffMax
	if attempt < 20 {
		ceiling = min(c.cfg.BackoffBase<<(attempt-1), c.cfg.BackoffMax)
	}
	return rand.N(ceiling + 1)
}

func parseRetryAfter(v string) time.Duration {
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		return time.Duration(min(secs, 3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
