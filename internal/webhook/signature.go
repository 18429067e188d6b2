// Package webhook is gpfed's webhook contract: the headers and JSON bodies
// of task and notification events, the Gpfed-Signature scheme
// (t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>), Verify for
// receivers, and the sender that classifies a receiver's answer as
// delivered, retry later, or permanent failure.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header names of the contract.
const (
	HeaderSignature      = "Gpfed-Signature"
	HeaderEvent          = "Gpfed-Event"
	HeaderIdempotencyKey = "Idempotency-Key"
)

// Event names carried in Gpfed-Event.
const (
	EventTask         = "task"
	EventNotification = "notification"
)

// DefaultTolerance is how far a signature timestamp may be from the
// receiver's clock. Retries are signed afresh, so a small window is enough.
const DefaultTolerance = 5 * time.Minute

var (
	// ErrNoSignature means the header is missing or has no v1 entry.
	ErrNoSignature = errors.New("webhook: no Gpfed-Signature v1 entry")
	// ErrMalformed means the header is not "t=<unix>,v1=<hex>".
	ErrMalformed = errors.New("webhook: malformed Gpfed-Signature")
	// ErrTimestamp means t is outside the tolerance (a replay or a bad clock).
	ErrTimestamp = errors.New("webhook: signature timestamp outside tolerance")
	// ErrMismatch means no v1 entry matches the body and secret.
	ErrMismatch = errors.New("webhook: signature does not match")
)

// Sign returns the Gpfed-Signature header value for body at time t.
func Sign(secret string, t time.Time, body []byte) string {
	return SignAll([]string{secret}, t, body)
}

// SignAll is Sign with one v1 entry per secret, in order: during a secret
// rotation the receiver verifies with whichever of them it holds.
func SignAll(secrets []string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=" + hex.EncodeToString(mac(s, ts, body)))
	}
	return b.String()
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks header against the raw request body with the receiver's
// clock and DefaultTolerance. It returns nil only for a genuine, fresh
// signature.
func Verify(secret, header string, body []byte) error {
	return VerifyAt(secret, header, body, time.Now(), DefaultTolerance)
}

// VerifyAt is Verify with an explicit clock and tolerance. Several v1
// entries are allowed (for secret rotation); any match is enough. The
// comparison is constant-time.
func VerifyAt(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if strings.TrimSpace(header) == "" {
		return ErrNoSignature
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformed
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: repeated t", ErrMalformed)
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return fmt.Errorf("%w: v1 is not a hex SHA-256", ErrMalformed)
			}
			sigs = append(sigs, b)
		}
	}
	if ts == "" {
		return fmt.Errorf("%w: no t", ErrMalformed)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: t is not unix seconds", ErrMalformed)
	}
	if len(sigs) == 0 {
		return ErrNoSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(want, s) {
			ok = true
		}
	}
	if !ok {
		return ErrMismatch
	}
	return nil
}
