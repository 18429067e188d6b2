// Package secret generates webhook signing secrets and seals them for
// storage. A sealed value is AES-256-GCM under a key gpfed reads from the
// environment (GPFED_SECRET_KEY), so a database dump or backup does not
// give away the secrets that let anyone forge deliveries to a practice.
//
// Sealed values look like "gpfed:v1:<key id>:<base64url(nonce|ciphertext)>".
// The key id (the first 4 bytes of the key's SHA-256, hex) names which key
// sealed a value, so a wrong or missing key is reported as exactly that.
// Keyring.Open is the one place that turns stored values back into
// plaintext.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a sealing key: AES-256.
const KeySize = 32

// WebhookSecretBytes is the entropy of a generated webhook secret.
const WebhookSecretBytes = 32

// prefix starts every sealed value; values without it predate sealing.
const prefix = "gpfed:v1:"

// aad binds a sealed value to its purpose, so a ciphertext of another kind
// (should gpfed ever seal one) cannot be passed off as a webhook secret.
var aad = []byte("gpfed webhook secret v1")

var (
	// ErrNoKey means a sealed value was met but no key is configured.
	ErrNoKey = errors.New("GPFED_SECRET_KEY is not set")
	// ErrUnknownKey means the value was sealed with a key the keyring lacks.
	ErrUnknownKey = errors.New("sealed with a key that is neither GPFED_SECRET_KEY nor in GPFED_SECRET_KEY_PREVIOUS")
	// ErrCorrupt means the value is malformed or fails authentication.
	ErrCorrupt = errors.New("sealed value is corrupt or was altered")
)

// Key is one AES-256 key with its id.
type Key struct {
	id   string
	aead cipher.AEAD
}

// ID is the key's public identifier (safe to log and show).
func (k Key) ID() string { return k.id }

// ParseKey decodes a 32-byte key written in standard or URL-safe base64
// (padded or not), as `gpfed secret-key` prints it.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return Key{}, errors.New("not base64")
	}
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("decodes to %d bytes, want %d", len(raw), KeySize)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return Key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Key{}, err
	}
	sum := sha256.Sum256(raw)
	return Key{id: hex.EncodeToString(sum[:4]), aead: aead}, nil
}

// NewKey returns a fresh random key in the form ParseKey reads.
func NewKey() string {
	b := make([]byte, KeySize)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.StdEncoding.EncodeToString(b)
}

// NewWebhookSecret returns WebhookSecretBytes random bytes, base64url,
// with a "whsec_" prefix so a leaked one is recognisable.
func NewWebhookSecret() string {
	b := make([]byte, WebhookSecretBytes)
	_, _ = rand.Read(b)
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

// Keyring seals with its current key and opens with it or any previous
// one (key rotation). The zero Keyring has no key: it opens plaintext
// values only and refuses to seal.
type Keyring struct {
	current  *Key
	previous []Key
}

// NewKeyring builds a keyring from the current key and older keys that
// may still have sealed stored values. current may be "" (no key).
func NewKeyring(current string, previous ...string) (*Keyring, error) {
	kr := &Keyring{}
	if current != "" {
		k, err := ParseKey(current)
		if err != nil {
			return nil, fmt.Errorf("GPFED_SECRET_KEY: %w", err)
		}
		kr.current = &k
	}
	for i, p := range previous {
		if strings.TrimSpace(p) == "" {
			continue
		}
		k, err := ParseKey(p)
		if err != nil {
			return nil, fmt.Errorf("GPFED_SECRET_KEY_PREVIOUS entry %d: %w", i+1, err)
		}
		kr.previous = append(kr.previous, k)
	}
	return kr, nil
}

// HasKey reports whether the keyring can seal.
func (kr *Keyring) HasKey() bool { return kr != nil && kr.current != nil }

// CurrentID is the id of the sealing key ("" without one).
func (kr *Keyring) CurrentID() string {
	if !kr.HasKey() {
		return ""
	}
	return kr.current.id
}

// Seal encrypts plaintext under the current key.
func (kr *Keyring) Seal(plaintext string) (string, error) {
	if !kr.HasKey() {
		return "", fmt.Errorf("seal webhook secret: %w (generate one with `gpfed secret-key`)", ErrNoKey)
	}
	k := kr.current
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal webhook secret: %w", err)
	}
	out := k.aead.Seal(nonce, nonce, []byte(plaintext), aad)
	return prefix + k.id + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// IsSealed reports whether a stored value is sealed (as opposed to a
// plaintext value written before sealing existed).
func IsSealed(stored string) bool { return strings.HasPrefix(stored, prefix) }

// KeyIDOf returns the id of the key that sealed stored ("" if plaintext
// or malformed).
func KeyIDOf(stored string) string {
	if !IsSealed(stored) {
		return ""
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(stored, prefix), ":")
	return id
}

// Open returns the plaintext of a stored value. A value without the sealed
// prefix predates sealing and is returned as it is (gpfed seals such
// values at start-up; see store.SealPlaintextSecrets); "" stays "".
func (kr *Keyring) Open(stored string) (string, error) {
	if !IsSealed(stored) {
		return stored, nil
	}
	id, body, ok := strings.Cut(strings.TrimPrefix(stored, prefix), ":")
	if !ok {
		return "", ErrCorrupt
	}
	k, err := kr.key(id)
	if err != nil {
		return "", err
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return "", ErrCorrupt
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], aad)
	if err != nil {
		return "", ErrCorrupt
	}
	return string(plain), nil
}

func (kr *Keyring) key(id string) (Key, error) {
	if kr == nil || (kr.current == nil && len(kr.previous) == 0) {
		return Key{}, fmt.Errorf("%w (the value was sealed with key %s)", ErrNoKey, id)
	}
	if kr.current != nil && kr.current.id == id {
		return *kr.current, nil
	}
	for _, k := range kr.previous {
		if k.id == id {
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("key %s: %w (current key is %s)", id, ErrUnknownKey, kr.CurrentID())
}

// NeedsReseal reports whether stored should be sealed again under the
// current key: it is plaintext or sealed with an older key.
func (kr *Keyring) NeedsReseal(stored string) bool {
	if stored == "" || !kr.HasKey() {
		return false
	}
	return KeyIDOf(stored) != kr.current.id
}

// Reseal opens stored and seals it under the current key.
func (kr *Keyring) Reseal(stored string) (string, error) {
	plain, err := kr.Open(stored)
	if err != nil {
		return "", err
	}
	return kr.Seal(plain)
}
