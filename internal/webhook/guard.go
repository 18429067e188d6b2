package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// Policy says where gpfed may send webhooks. Its zero value is the
// production rule: https only, and never to loopback, private, link-local
// or otherwise non-public addresses (which would let whoever sets a
// practice's webhook URL make gpfed probe, or post patient data into, the
// network it runs in: a database port, a cloud metadata service).
// Development and tests name their loopback receivers explicitly.
type Policy struct {
	// AllowHTTP permits http:// URLs (GPFED_WEBHOOK_ALLOW_HTTP). Off, NHS
	// numbers never travel in clear.
	AllowHTTP bool
	// AllowNets lists networks that may be targets even though they are
	// not public (GPFED_WEBHOOK_ALLOW_NETS), e.g. a receiver on a private
	// HSCN address, or 127.0.0.1/32 for a local simulator.
	AllowNets []netip.Prefix
	// Resolver resolves host names at connect time (default
	// net.DefaultResolver); tests substitute their own.
	Resolver Resolver
}

// Loopback is the loopback networks, for a Policy's AllowNets in tests and
// local development (a simulator's receivers), always named explicitly.
var Loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Resolver is the part of *net.Resolver the guard uses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// BlockedError is a refused target address. Its text is for admins (logs);
// senders only ever see the category "unreachable".
type BlockedError struct {
	Addr   netip.Addr
	Reason string // loopback, private, link-local, ...
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("webhook target %s is a %s address, not in GPFED_WEBHOOK_ALLOW_NETS", e.Addr, e.Reason)
}

// InsecureError is an http:// URL while AllowHTTP is off.
type InsecureError struct{}

func (InsecureError) Error() string {
	return "webhook URL is http:// and GPFED_WEBHOOK_ALLOW_HTTP is off: patient data must travel over TLS"
}

// ParseNets reads a comma-separated list of CIDR prefixes or single IP
// addresses (GPFED_WEBHOOK_ALLOW_NETS).
func ParseNets(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR prefix", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// nonPublic are ranges that are not reachable public unicast destinations
// beyond what netip's predicates cover.
var nonPublic = []struct {
	p      netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
}

// CheckAddr returns a *BlockedError unless a is a public unicast address
// or lies in AllowNets. IPv4 embedded in IPv6 (mapped, NAT64, 6to4) is
// judged by its IPv4 address.
func (p Policy) CheckAddr(a netip.Addr) error {
	a = a.Unmap()
	for _, n := range p.AllowNets {
		if n.Contains(a) {
			return nil
		}
	}
	if v4, ok := embeddedV4(a); ok {
		if err := p.CheckAddr(v4); err != nil {
			return &BlockedError{Addr: a, Reason: err.(*BlockedError).Reason + " (embedded IPv4)"}
		}
		return nil
	}
	if r := classify(a); r != "" {
		return &BlockedError{Addr: a, Reason: r}
	}
	return nil
}

func classify(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, r := range nonPublic {
		if r.p.Contains(a) {
			return r.reason
		}
	}
	return ""
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// embeddedV4 extracts the IPv4 address a NAT64 or 6to4 address carries.
func embeddedV4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixTo4.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// CheckURL is the check made when a webhook URL is configured: the scheme,
// and the host when it is an IP literal or "localhost". Host names are
// judged again, by the address they resolve to, every time gpfed connects
// (so a name that later resolves to an internal address is still refused).
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("is not an absolute URL")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowHTTP {
			return errors.New("must be https:// (http:// would send patient data in clear; GPFED_WEBHOOK_ALLOW_HTTP=true allows it for development only)")
		}
	default:
		return errors.New("must be an https:// URL")
	}
	if u.User != nil {
		return errors.New("must not carry credentials (user:password@)")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		host = "127.0.0.1"
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := p.CheckAddr(a); err != nil {
			var be *BlockedError
			errors.As(err, &be)
			return fmt.Errorf("must not point at a %s address (%s) unless GPFED_WEBHOOK_ALLOW_NETS names it", be.Reason, be.Addr)
		}
	}
	return nil
}

func (p Policy) resolver() Resolver {
	if p.Resolver != nil {
		return p.Resolver
	}
	return net.DefaultResolver
}

// dialContext resolves the host itself, refuses the connection if any
// address is blocked (a name with one public and one internal address is
// an attack, not a fallback), and dials the checked address. The dialer's
// Control hook checks the socket's address once more, so no path through
// the transport reaches a blocked address.
func (p Policy) dialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d.Control = func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("webhook dial: unparseable address %q", address)
		}
		return p.CheckAddr(ap.Addr())
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := p.lookup(ctx, host)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if err := p.CheckAddr(a); err != nil {
				return nil, err
			}
		}
		var firstErr error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
			if err == nil {
				return c, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return nil, firstErr
	}
}

func (p Policy) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := p.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return addrs, nil
}

// schemeGuard refuses http:// requests unless the policy allows them: the
// last line of defence for a URL stored before https became required.
type schemeGuard struct {
	next      http.RoundTripper
	allowHTTP bool
}

func (g schemeGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" && !(g.allowHTTP && r.URL.Scheme == "http") {
		return nil, InsecureError{}
	}
	return g.next.RoundTrip(r)
}
