package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/webhook"
)

func TestSignMatchesContract(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"task"}`)
	at := time.Unix(1767225600, 0)
	h := hmac.New(sha256.New, []byte("s3cret"))
	fmt.Fprintf(h, "%d.%s", at.Unix(), body)
	want := fmt.Sprintf("t=%d,v1=%s", at.Unix(), hex.EncodeToString(h.Sum(nil)))
	if got := webhook.Sign("s3cret", at, body); got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestVerifyAt(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"x"}`)
	at := time.Unix(1767225600, 0)
	good := webhook.Sign("s3cret", at, body)
	other := webhook.Sign("other", at, body)
	both := webhook.SignAll([]string{"new-secret", "s3cret"}, at, body)
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", "s3cret", good, body, at, nil},
		{"valid within tolerance", "s3cret", good, body, at.Add(4 * time.Minute), nil},
		{"valid with clock slightly behind", "s3cret", good, body, at.Add(-4 * time.Minute), nil},
		{"rotation: second v1 matches", "s3cret", other + ",v1=" + good[len("t=1767225600,v1="):], body, at, nil},
		{"SignAll: old secret verifies", "s3cret", both, body, at, nil},
		{"SignAll: new secret verifies", "new-secret", both, body, at, nil},
		{"SignAll: a third does not", "other", both, body, at, webhook.ErrMismatch},
		{"wrong secret", "nope", good, body, at, webhook.ErrMismatch},
		{"tampered body", "s3cret", good, []byte(`{"id":"y"}`), at, webhook.ErrMismatch},
		{"replayed too late", "s3cret", good, body, at.Add(6 * time.Minute), webhook.ErrTimestamp},
		{"from the future", "s3cret", good, body, at.Add(-6 * time.Minute), webhook.ErrTimestamp},
		{"empty header", "s3cret", "", body, at, webhook.ErrNoSignature},
		{"no v1", "s3cret", "t=1767225600", body, at, webhook.ErrNoSignature},
		{"no t", "s3cret", "v1=" + good[len("t=1767225600,v1="):], body, at, webhook.ErrMalformed},
		{"t not a number", "s3cret", "t=abc,v1=" + good[len("t=1767225600,v1="):], body, at, webhook.ErrMalformed},
		{"v1 not hex", "s3cret", "t=1767225600,v1=zz", body, at, webhook.ErrMalformed},
		{"v1 truncated", "s3cret", good[:len(good)-2], body, at, webhook.ErrMalformed},
		{"garbage", "s3cret", "hello", body, at, webhook.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.VerifyAt(tc.secret, tc.header, tc.body, tc.now, webhook.DefaultTolerance)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("VerifyAt = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyUsesNow(t *testing.T) {
	t.Parallel()
	body := []byte("{}")
	if err := webhook.Verify("k", webhook.Sign("k", time.Now(), body), body); err != nil {
		t.Fatalf("fresh signature: %v", err)
	}
	if err := webhook.Verify("k", webhook.Sign("k", time.Now().Add(-time.Hour), body), body); !errors.Is(err, webhook.ErrTimestamp) {
		t.Fatalf("stale signature: %v, want ErrTimestamp", err)
	}
}
