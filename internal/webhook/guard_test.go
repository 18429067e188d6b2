package webhook_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/secret"
	"github.com/gpfed/gpfed/internal/webhook"
)

// loopback is the explicit development policy the tests' receivers need.
var loopback = webhook.Policy{AllowHTTP: true, AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// fakeDNS resolves names from a table instead of real DNS.
type fakeDNS map[string][]netip.Addr

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// countingServer is a loopback receiver that counts what reaches it: any
// request at all means the guard let a blocked target through.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestSSRFTargetsRefused: every non-public target is refused at connect
// time, with the sender told only "unreachable", whether the URL names the
// address or a DNS name resolves to it. A real receiver listens on the
// loopback port each URL names, so a guard that let one through would be
// caught by the request arriving.
func TestSSRFTargetsRefused(t *testing.T) {
	t.Parallel()
	srv, hits := countingServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	dns := fakeDNS{
		"rebind.example":  addrs("127.0.0.1"),
		"metadata.test":   addrs("169.254.169.254"),
		"mixed.example":   addrs("93.184.216.34", "127.0.0.1"),
		"v6local.example": addrs("::1"),
		"localhost":       addrs("127.0.0.1", "::1"),
	}
	p := webhook.Policy{AllowHTTP: true, Resolver: dns}
	hostURL := func(h string) string { return "http://" + net.JoinHostPort(h, itoa(port)) + "/hook" }
	for _, c := range []struct{ name, url string }{
		{"loopback literal", hostURL("127.0.0.1")},
		{"loopback other", hostURL("127.1.2.3")},
		{"postgres port", "http://127.0.0.1:5432/"},
		{"localhost name", hostURL("localhost")},
		{"DNS name resolving to loopback", hostURL("rebind.example")},
		{"DNS name resolving to public and loopback", hostURL("mixed.example")},
		{"DNS name resolving to ::1", hostURL("v6local.example")},
		{"IPv6 loopback", hostURL("::1")},
		{"IPv4-mapped loopback", hostURL("::ffff:127.0.0.1")},
		{"NAT64 of loopback", hostURL("64:ff9b::7f00:1")},
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/"},
		{"cloud metadata by name", "http://metadata.test/"},
		{"link-local v6", hostURL("fe80::1")},
		{"private 10/8", hostURL("10.1.2.3")},
		{"private 172.16/12", hostURL("172.16.5.4")},
		{"private 192.168/16", hostURL("192.168.0.1")},
		{"unique local v6", hostURL("fd00::1")},
		{"carrier-grade NAT", hostURL("100.64.0.1")},
		{"unspecified", hostURL("0.0.0.0")},
		{"broadcast", hostURL("255.255.255.255")},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			s := &webhook.Sender{Client: webhook.NewClientFor(2*time.Second, p),
				Log: slog.New(slog.NewJSONHandler(&logs, nil))}
			res := s.Send(context.Background(), c.url, []string{"k"}, webhook.EventTask, "id", []byte("{}"))
			if res.Outcome != webhook.Permanent || res.Category != webhook.CategoryUnreachable {
				t.Fatalf("Send = %+v, want a permanent unreachable failure", res)
			}
			if msg := res.Err.Error(); msg != "webhook unreachable" {
				t.Errorf("sender sees %q: more than the category (a port-scan oracle)", msg)
			}
			if !strings.Contains(res.Detail, "not in GPFED_WEBHOOK_ALLOW_NETS") || !strings.Contains(logs.String(), "GPFED_WEBHOOK_ALLOW_NETS") {
				t.Errorf("admins get no detail: result %q, log %s", res.Detail, logs.String())
			}
		})
	}
	t.Cleanup(func() {
		if n := hits.Load(); n != 0 {
			t.Errorf("%d requests reached the loopback receiver", n)
		}
	})
}

// The allow-list opens exactly what it names; a plain http:// URL needs
// AllowHTTP; a blocked host in a URL is refused when it is configured.
func TestPolicyAllowList(t *testing.T) {
	t.Parallel()
	srv, hits := countingServer(t)
	port := itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	dns := fakeDNS{"receiver.test": addrs("127.0.0.1")}
	for _, c := range []struct {
		name     string
		policy   webhook.Policy
		url      string
		want     webhook.Outcome
		category webhook.Category
	}{
		{"allow-listed address", webhook.Policy{AllowHTTP: true, AllowNets: mustNets(t, "127.0.0.1")}, "http://127.0.0.1:" + port, webhook.Delivered, ""},
		{"allow-listed network, by name", webhook.Policy{AllowHTTP: true, AllowNets: mustNets(t, "127.0.0.0/8"), Resolver: dns},
			"http://receiver.test:" + port, webhook.Delivered, ""},
		{"neighbour of the allowed address", webhook.Policy{AllowHTTP: true, AllowNets: mustNets(t, "127.0.0.2")}, "http://127.0.0.1:" + port,
			webhook.Permanent, webhook.CategoryUnreachable},
		{"http:// without AllowHTTP", webhook.Policy{AllowNets: mustNets(t, "127.0.0.0/8")}, "http://127.0.0.1:" + port,
			webhook.Permanent, webhook.CategoryTLS},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := hits.Load()
			s := &webhook.Sender{Client: webhook.NewClientFor(2*time.Second, c.policy)}
			res := s.Send(context.Background(), c.url, []string{"k"}, webhook.EventTask, "id", []byte("{}"))
			if res.Outcome != c.want || res.Category != c.category {
				t.Fatalf("Send = %+v, want %v %q", res, c.want, c.category)
			}
			if got := hits.Load() - before; (c.want == webhook.Delivered) != (got == 1) {
				t.Fatalf("%d requests reached the receiver", got)
			}
		})
	}
}

func mustNets(t *testing.T, s string) []netip.Prefix {
	n, err := webhook.ParseNets(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestParseNets(t *testing.T) {
	t.Parallel()
	n, err := webhook.ParseNets(" 10.20.0.0/16, 127.0.0.1 ,fd00::/8,")
	if err != nil || len(n) != 3 || n[1].String() != "127.0.0.1/32" {
		t.Fatalf("ParseNets = %v, %v", n, err)
	}
	if _, err := webhook.ParseNets("10.0.0.0/33"); err == nil {
		t.Fatal("a bad prefix was accepted")
	}
}

// CheckURL is what configuring a webhook URL runs.
func TestCheckURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		policy webhook.Policy
		url    string
		ok     bool
	}{
		{"https public", webhook.Policy{}, "https://receiver.example.nhs.uk/gpfed", true},
		{"http refused", webhook.Policy{}, "http://receiver.example.nhs.uk/gpfed", false},
		{"http in development", webhook.Policy{AllowHTTP: true}, "http://receiver.example.nhs.uk/gpfed", true},
		{"ftp", webhook.Policy{AllowHTTP: true}, "ftp://receiver.example/", false},
		{"credentials", webhook.Policy{}, "https://user:pw@receiver.example/", false},
		{"loopback literal", webhook.Policy{}, "https://127.0.0.1:8443/", false},
		{"localhost", webhook.Policy{}, "https://localhost/", false},
		{"sub.localhost", webhook.Policy{}, "https://a.localhost./", false},
		{"metadata", webhook.Policy{}, "https://169.254.169.254/", false},
		{"private v6", webhook.Policy{}, "https://[fd12::1]/", false},
		{"allow-listed private", webhook.Policy{AllowNets: mustNets(t, "10.0.0.0/8")}, "https://10.1.1.1/", true},
		{"public literal", webhook.Policy{}, "https://93.184.216.34/", true},
		{"relative", webhook.Policy{}, "/hook", false},
	} {
		if err := c.policy.CheckURL(c.url); (err == nil) != c.ok {
			t.Errorf("%s: CheckURL(%q) = %v, want ok=%t", c.name, c.url, err, c.ok)
		}
	}
}

// A receiver with a certificate gpfed does not trust is a tls failure;
// sealed secrets are opened before signing and a missing key stops the
// attempt before anything is sent.
func TestSenderTLSAndSealedSecrets(t *testing.T) {
	t.Parallel()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	s := &webhook.Sender{Client: webhook.NewClientFor(2*time.Second, loopback)}
	res := s.Send(context.Background(), tlsSrv.URL, []string{"k"}, webhook.EventTask, "id", []byte("{}"))
	if res.Category != webhook.CategoryTLS || res.Err.Error() != "webhook TLS failed" || res.Outcome != webhook.Retry {
		t.Fatalf("untrusted certificate: %+v", res)
	}

	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := kr.Seal("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{status: 204, got: make(chan map[string]string, 2)}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	s = &webhook.Sender{Client: webhook.NewClientFor(2*time.Second, loopback), Secrets: kr}
	if res := s.Send(context.Background(), srv.URL, []string{sealed, sealed}, webhook.EventTask, "id", []byte("{}")); res.Outcome != webhook.Delivered {
		t.Fatalf("sealed secret: %+v", res)
	}
	if got := <-rc.got; got["verified"] != "yes" {
		t.Fatalf("receiver could not verify the signature made with the opened secret: %v", got)
	}
	for name, s := range map[string]*webhook.Sender{
		"no key":    {Client: webhook.NewClientFor(2*time.Second, loopback)},
		"wrong key": {Client: webhook.NewClientFor(2*time.Second, loopback), Secrets: mustKeyring(t)},
	} {
		res := s.Send(context.Background(), srv.URL, []string{sealed}, webhook.EventTask, "id", []byte("{}"))
		if res.Outcome != webhook.Retry || res.Category != webhook.CategoryUnreachable || !strings.Contains(res.Detail, "secret") {
			t.Errorf("%s: %+v, want a retry with the key problem in the detail", name, res)
		}
	}
	select {
	case got := <-rc.got:
		t.Fatalf("a request was sent without a usable secret: %v", got)
	default:
	}
}

func mustKeyring(t *testing.T) *secret.Keyring {
	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestCategoryOf(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]webhook.Category{
		"webhook answered 503": webhook.CategoryHTTP5xx,
		"webhook answered 410": webhook.CategoryHTTP4xx,
		"not delivered within its maximum age (last error: webhook answered 503)": webhook.CategoryHTTP5xx,
		"webhook unreachable": webhook.CategoryUnreachable,
		"webhook timed out":   webhook.CategoryTimeout,
		"webhook TLS failed":  webhook.CategoryTLS,
		"cancelled by sender": "",
	} {
		if got := webhook.CategoryOf(msg); got != want {
			t.Errorf("CategoryOf(%q) = %q, want %q", msg, got, want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
