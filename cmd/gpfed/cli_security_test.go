package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/secret"
)

var secretLine = regexp.MustCompile(`(?m)^webhook secret ([A-Z0-9]+) (whsec_[A-Za-z0-9_-]{43})$`)

// storedSecrets reads a practice's stored webhook secrets and how long the
// previous one stays valid.
func storedSecrets(t *testing.T, e cliEnv, ods string) (cur, prev string, left time.Duration) {
	t.Helper()
	err := e.db.Pool.QueryRow(context.Background(), `SELECT COALESCE(webhook_secret, ''), COALESCE(webhook_secret_previous, ''),
		COALESCE((extract(epoch FROM webhook_secret_previous_until - now()) * 1e9)::bigint, 0) FROM practices WHERE ods_code = $1`, ods).
		Scan(&cur, &prev, &left)
	if err != nil {
		t.Fatal(err)
	}
	return cur, prev, left
}

func open(t *testing.T, stored string, keys ...string) string {
	t.Helper()
	kr, err := secret.NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := kr.Open(stored)
	if err != nil || !secret.IsSealed(stored) {
		t.Fatalf("stored secret %.30q: sealed=%t, open: %v", stored, secret.IsSealed(stored), err)
	}
	return plain
}

// Issue 10: webhook secrets were operator-chosen, stored in clear, with an
// unbounded rotation overlap, and a webhook change left no trace. Now gpfed
// generates them (32 random bytes, shown once), seals them with
// GPFED_SECRET_KEY, caps the overlap at 72h and records every change.
func TestCLIWebhookSecrets(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	ods := e.fed.Practices()[0].ODS
	out, stderr, code := cli(t, e.env, "practices", "import", e.csv)
	m := secretLine.FindStringSubmatch(out)
	if code != 0 || m == nil || m[1] != ods || !strings.Contains(stderr, "not shown again") {
		t.Fatalf("import: exit %d, no generated secret shown once:\n%s\n%s", code, out, stderr)
	}
	first := m[2]
	cur, _, _ := storedSecrets(t, e, ods)
	if strings.Contains(cur, first) || open(t, cur, testSecretKey) != first {
		t.Fatalf("the stored secret is not the sealed form of the one shown")
	}
	if out, _, _ := cli(t, e.env, "practices", "import", e.csv); secretLine.MatchString(out) || !strings.Contains(out, "1 unchanged") {
		t.Fatalf("re-import changed or re-showed the secret:\n%s", out)
	}

	out, stderr, code = cli(t, e.env, "practices", "webhook", "--rotate", "--keep-previous", "2h", ods)
	second := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(second, "whsec_") || second == first || !strings.Contains(stderr, "previous secret too until") {
		t.Fatalf("rotate: exit %d: %q %s", code, out, stderr)
	}
	cur, prev, left := storedSecrets(t, e, ods)
	if open(t, cur, testSecretKey) != second || open(t, prev, testSecretKey) != first || left < 119*time.Minute || left > 2*time.Hour {
		t.Fatalf("after rotation: want the new secret, the old one for ~2h (%s)", left)
	}
	if _, stderr, code := cli(t, e.env, "practices", "webhook", ods, "https://hooks.example/gpfed"); code != 0 {
		t.Fatalf("move the webhook: exit %d: %s", code, stderr)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rotate", "--keep-previous", "73h", ods}, "at most 72h"},
		{[]string{ods, "https://hooks.example/gpfed", "operator-chosen-secret"}, "generates webhook secrets"},
		{[]string{"--keep-previous", "1h", ods, "https://hooks.example/gpfed"}, "usage"},
		{[]string{ods, "http://hooks.example/gpfed"}, ""}, // allowed here: GPFED_WEBHOOK_ALLOW_HTTP=true
	} {
		_, stderr, code := cli(t, e.env, append([]string{"practices", "webhook"}, c.args...)...)
		if c.want == "" {
			if code != 0 {
				t.Errorf("practices webhook %v: exit %d: %s", c.args, code, stderr)
			}
			continue
		}
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("practices webhook %v: exit %d, want 2 mentioning %q: %s", c.args, code, c.want, stderr)
		}
	}
	strict := withoutEnv(e.env, "GPFED_WEBHOOK_ALLOW_HTTP", "GPFED_WEBHOOK_ALLOW_NETS")
	for _, url := range []string{"http://hooks.example/gpfed", "https://127.0.0.1:5432/", "https://169.254.169.254/"} {
		if _, stderr, code := cli(t, strict, "practices", "webhook", ods, url); code != 2 {
			t.Errorf("production settings accepted webhook %s: exit %d %s", url, code, stderr)
		}
	}
	if _, stderr, code := cli(t, withoutEnv(e.env, "GPFED_SECRET_KEY"), "practices", "webhook", "--rotate", ods); code != 1 ||
		!strings.Contains(stderr, "GPFED_SECRET_KEY is not set") {
		t.Errorf("rotation without a key: exit %d: %s", code, stderr)
	}
	checkChannelAudit(t, e, ods)
}

// checkChannelAudit: every change above is on record, without paths.
func checkChannelAudit(t *testing.T, e cliEnv, ods string) {
	t.Helper()
	rows, err := e.db.Pool.Query(context.Background(), `SELECT actor, old_origin, new_origin, secret_rotated,
		previous_valid_until IS NOT NULL FROM webhook_channel_changes WHERE ods_code = $1 ORDER BY id`, ods)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var actor, from, to string
		var rotated, overlap bool
		if err := rows.Scan(&actor, &from, &to, &rotated, &overlap); err != nil {
			t.Fatal(err)
		}
		kind, _, _ := strings.Cut(actor, ":")
		got = append(got, strings.Join([]string{kind, originKind(from), originKind(to), map[bool]string{true: "rotated"}[rotated],
			map[bool]string{true: "overlap"}[overlap]}, " "))
	}
	want := []string{
		"import none sim rotated ",        // first webhook: generated secret
		"cli sim sim rotated overlap",     // --rotate --keep-previous 2h
		"cli sim https://hooks.example  ", // moved, same secret
		"cli https://hooks.example http://hooks.example  ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("channel changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func originKind(o string) string {
	switch {
	case o == "":
		return "none"
	case strings.HasPrefix(o, "http://127.0.0.1:"):
		return "sim"
	}
	return o
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		keep := true
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	for _, n := range names { // and not inherited from the test's own environment
		out = append(out, n+"=")
	}
	return out
}

// Key rotation: a new GPFED_SECRET_KEY with the old one in
// GPFED_SECRET_KEY_PREVIOUS reseals every stored secret on the next
// command; a wrong key stops commands with a message naming the key.
func TestCLISecretKeyRotationAndWrongKey(t *testing.T) {
	t.Parallel()
	e := setup(t, 2)
	out, _, code := cli(t, e.env, "practices", "import", e.csv)
	if code != 0 {
		t.Fatalf("import exit %d", code)
	}
	shown := map[string]string{}
	for _, m := range secretLine.FindAllStringSubmatch(out, -1) {
		shown[m[1]] = m[2]
	}
	newKey := secret.NewKey()
	wrong := append(withoutEnv(e.env, "GPFED_SECRET_KEY"), "GPFED_SECRET_KEY="+newKey)
	if _, stderr, code := cli(t, wrong, "practices", "list"); code == 0 || !strings.Contains(stderr, "GPFED_SECRET_KEY_PREVIOUS") {
		t.Fatalf("a wrong key was not reported: exit %d %s", code, stderr)
	}
	rotated := append(wrong, "GPFED_SECRET_KEY_PREVIOUS="+testSecretKey)
	out, stderr, code := cli(t, rotated, "practices", "reseal")
	if code != 0 || !strings.Contains(out, "sealed under key") {
		t.Fatalf("reseal: exit %d %s %s", code, out, stderr)
	}
	for ods, plain := range shown {
		cur, _, _ := storedSecrets(t, e, ods)
		if open(t, cur, newKey) != plain {
			t.Fatalf("%s: resealed secret differs from the one shown", ods)
		}
	}
	if len(shown) != 2 {
		t.Fatalf("secrets shown for %d practices, want 2", len(shown))
	}
}

// A plaintext secret from before sealing is sealed by the first command
// that runs with a key, keeping its value (deliveries go on unchanged).
func TestCLISealsLegacyPlaintextSecrets(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	if _, _, code := cli(t, e.env, "practices", "import", e.csv); code != 0 {
		t.Fatal("import failed")
	}
	ods := e.fed.Practices()[0].ODS
	if _, err := e.db.Pool.Exec(context.Background(), `UPDATE practices SET webhook_secret = 'legacy-operator-secret-01'
		WHERE ods_code = $1`, ods); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := cli(t, e.env, "practices", "list"); code != 0 {
		t.Fatalf("list: %s", stderr)
	}
	cur, _, _ := storedSecrets(t, e, ods)
	if open(t, cur, testSecretKey) != "legacy-operator-secret-01" {
		t.Fatal("the legacy secret changed value when sealed")
	}
}

// Issue 10: practices list printed names raw, so a name holding escape
// sequences (stored before names were validated) could rewrite the
// operator's terminal.
func TestCLIPracticesListNeutralisesControlCharacters(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	if _, _, code := cli(t, e.env, "practices", "import", e.csv); code != 0 {
		t.Fatal("import failed")
	}
	if _, err := e.db.Pool.Exec(context.Background(), `UPDATE practices SET name = E'Evil\x1b]0;pwned\x07\u202e Surgery'`); err != nil {
		t.Fatal(err)
	}
	out, _, code := cli(t, e.env, "practices", "list")
	if code != 0 || strings.ContainsAny(out, "\x1b\x07\u202e") || !strings.Contains(out, "Evil?]0;pwned??") {
		t.Fatalf("practices list printed control characters (exit %d): %q", code, out)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Issue 10, finding 5: /metrics and /readyz were on the public listener and
// MaxHeaderBytes was 1 MiB. serve now keeps them on the operations
// listener, answers unknown public paths with a problem document, and
// refuses oversized headers.
func TestCLIServeListenersAndHeaderLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	public, ops := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gpfedBin, "serve")
	cmd.Env = append(append(os.Environ(), e.env...), "GPFED_HTTP_ADDR="+public, "GPFED_METRICS_ADDR="+ops)
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	for {
		if res, err := http.Get("http://" + ops + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("serve not ready: %s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		url    string
		status int
		ctype  string
	}{
		{"http://" + public + "/metrics", 404, "application/problem+json"},
		{"http://" + public + "/readyz", 404, "application/problem+json"},
		{"http://" + public + "/no/such/path", 404, "application/problem+json"},
		{"http://" + public + "/healthz", 200, "application/json"},
		{"http://" + ops + "/metrics", 200, ""},
		{"http://" + ops + "/readyz", 200, "application/json"},
	} {
		res, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.status || (c.ctype != "" && res.Header.Get("Content-Type") != c.ctype) {
			t.Errorf("%s: %d %s, want %d %s", c.url, res.StatusCode, res.Header.Get("Content-Type"), c.status, c.ctype)
		}
	}
	req, _ := http.NewRequest("GET", "http://"+public+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 40<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("40 KiB of headers: %d, want 431", res.StatusCode)
	}
}

// Issue 10, finding 4: a CSV import that changed a webhook URL reported
// "0 updated, N unchanged". It now counts and prints every channel change.
func TestCLIImportReportsChannelChanges(t *testing.T) {
	t.Parallel()
	e := setup(t, 2)
	if _, _, code := cli(t, e.env, "practices", "import", e.csv); code != 0 {
		t.Fatal("import failed")
	}
	ps := e.fed.Practices()
	b, err := os.ReadFile(e.csv)
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(string(b), ps[0].WebhookURL, "https://moved.example/gpfed", 1)
	if moved == string(b) {
		t.Fatal("the CSV has no webhook URL to move")
	}
	if err := os.WriteFile(e.csv, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := cli(t, e.env, "practices", "import", e.csv)
	if code != 0 || !strings.Contains(out, "1 updated, 1 unchanged") ||
		!strings.Contains(out, "webhook channel of "+ps[0].ODS+" changed: http://127.0.0.1:") ||
		!strings.Contains(out, "-> https://moved.example (new path)") || secretLine.MatchString(out) {
		t.Fatalf("re-import with a moved webhook (exit %d):\n%s%s", code, out, stderr)
	}
}
