package secret_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/gpfed/gpfed/internal/secret"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	oldKey, newKey := secret.NewKey(), secret.NewKey()
	old, err := secret.NewKeyring(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	sealedOld, err := old.Seal("whsec_abc")
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := secret.NewKeyring(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	sealedNew, err := rotated.Seal("whsec_abc")
	if err != nil {
		t.Fatal(err)
	}
	if !secret.IsSealed(sealedNew) || strings.Contains(sealedNew, "whsec_abc") || sealedNew == sealedOld {
		t.Fatalf("sealed value %q shows the secret or repeats the older sealing", sealedNew)
	}
	wrong, _ := secret.NewKeyring(secret.NewKey())
	tampered := sealedNew[:len(sealedNew)-2] + "AA"
	for _, c := range []struct {
		name    string
		kr      *secret.Keyring
		stored  string
		want    string
		wantErr error
	}{
		{"current key", rotated, sealedNew, "whsec_abc", nil},
		{"previous key still opens", rotated, sealedOld, "whsec_abc", nil},
		{"plaintext from before sealing", rotated, "legacy-secret-0123456", "legacy-secret-0123456", nil},
		{"empty", rotated, "", "", nil},
		{"no key at all", &secret.Keyring{}, sealedNew, "", secret.ErrNoKey},
		{"nil keyring", nil, sealedNew, "", secret.ErrNoKey},
		{"wrong key", wrong, sealedNew, "", secret.ErrUnknownKey},
		{"old keyring lacks the new key", old, sealedNew, "", secret.ErrUnknownKey},
		{"tampered", rotated, tampered, "", secret.ErrCorrupt},
		{"truncated", rotated, "gpfed:v1:" + rotated.CurrentID() + ":AAAA", "", secret.ErrCorrupt},
		{"no body", rotated, "gpfed:v1:" + rotated.CurrentID(), "", secret.ErrCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.kr.Open(c.stored)
			if !errors.Is(err, c.wantErr) || got != c.want {
				t.Fatalf("Open = %q, %v; want %q, %v", got, err, c.want, c.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "whsec_abc") {
				t.Fatalf("error shows the secret: %v", err)
			}
		})
	}
	if !rotated.NeedsReseal(sealedOld) || rotated.NeedsReseal(sealedNew) || !rotated.NeedsReseal("plain") {
		t.Fatal("NeedsReseal: want true for older key and plaintext, false for current")
	}
	if _, err := (&secret.Keyring{}).Seal("x"); !errors.Is(err, secret.ErrNoKey) {
		t.Fatalf("Seal without key: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i)
	}
	for _, c := range []struct {
		name, in string
		ok       bool
	}{
		{"std", base64.StdEncoding.EncodeToString(raw), true},
		{"url raw", base64.RawURLEncoding.EncodeToString(raw), true},
		{"16 bytes", base64.StdEncoding.EncodeToString(raw[:16]), false},
		{"not base64", "correct horse battery staple", false},
		{"empty", "", false},
	} {
		if _, err := secret.ParseKey(c.in); (err == nil) != c.ok {
			t.Errorf("%s: ParseKey error %v, want ok=%t", c.name, err, c.ok)
		}
	}
	if _, err := secret.NewKeyring("short"); err == nil || !strings.Contains(err.Error(), "GPFED_SECRET_KEY") {
		t.Fatalf("bad key error does not name the variable: %v", err)
	}
}

func TestNewWebhookSecret(t *testing.T) {
	t.Parallel()
	a, b := secret.NewWebhookSecret(), secret.NewWebhookSecret()
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if err != nil || len(raw) != secret.WebhookSecretBytes || a == b || !strings.HasPrefix(a, "whsec_") {
		t.Fatalf("secret %q: %d random bytes (err %v), want %d and distinct", a, len(raw), err, secret.WebhookSecretBytes)
	}
}
