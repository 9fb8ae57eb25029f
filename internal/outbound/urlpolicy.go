package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// ErrURLRefused is wrapped by every refusal of the outbound URL policy; test
// for it with errors.Is.
var ErrURLRefused = errors.New("outbound URL refused by policy")

// Resolver resolves host names to addresses; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// URLPolicy is the outbound URL policy (an SSRF guard) every connector base
// URL must pass. It refuses URLs whose host resolves to a loopback,
// link-local (169.254.0.0/16 and fe80::/10, which covers the cloud metadata
// endpoint 169.254.169.254), private (10/8, 172.16/12, 192.168/16,
// fc00::/7, which covers fd00:ec2::254), carrier-grade NAT (100.64/10),
// unspecified, multicast or broadcast address — unless the address is
// inside AllowCIDRs or the host is listed in AllowHosts (exact match,
// case-insensitive). IPv4 addresses embedded in IPv6 (IPv4-mapped, NAT64
// 64:ff9b::/96, 6to4 2002::/16) are judged by the IPv4 address. Only the
// http and https schemes are allowed.
//
// The zero value (and a nil *URLPolicy) refuses every internal address and
// resolves with net.DefaultResolver.
type URLPolicy struct {
	// AllowCIDRs are address ranges that are allowed even though they are
	// internal (config: outbound.allow_cidrs).
	AllowCIDRs []netip.Prefix
	// AllowHosts are host names (or literal addresses) allowed whatever
	// they resolve to (config: outbound.allow_hosts).
	AllowHosts []string
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// RootCAs, when set, replaces the system roots HTTPClient's
	// connections verify servers with. No configuration key sets it: it
	// lets tests run Kinetic against https fakes (httptest.NewTLSServer)
	// without weakening any URL check. Nil means the system roots.
	RootCAs *x509.CertPool
}

// NewURLPolicy parses the configured allow lists. A CIDR may also be a bare
// address ("10.0.0.5", meaning /32 or /128). Every bad entry is reported,
// each naming the entry.
func NewURLPolicy(allowCIDRs, allowHosts []string) (*URLPolicy, error) {
	p := &URLPolicy{}
	var errs []error
	for _, s := range allowCIDRs {
		s = strings.TrimSpace(s)
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil && a.Zone() == "" {
				pfx, err = a.Prefix(a.BitLen())
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("outbound.allow_cidrs: %q is not a CIDR (e.g. 10.20.0.0/16) or an IP address", s))
			continue
		}
		p.AllowCIDRs = append(p.AllowCIDRs, pfx.Masked())
	}
	for _, h := range allowHosts {
		n := normHost(h)
		if n == "" || strings.ContainsAny(n, "/:@ ") && !isIP(n) {
			errs = append(errs, fmt.Errorf("outbound.allow_hosts: %q is not a host name", h))
			continue
		}
		p.AllowHosts = append(p.AllowHosts, n)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// CheckURL checks a connector base URL against the policy. Every address
// the host resolves to must pass. A refusal wraps ErrURLRefused and says
// why, e.g.
//
//	outbound URL refused by policy: https://169.254.169.254/: host resolves to 169.254.169.254 (link-local/cloud metadata); add it to outbound.allow_cidrs to allow
//
// A host that cannot be resolved is an error too (the check could not be
// made), but one that does not wrap ErrURLRefused. Messages name only the
// scheme and host of the URL, never its user info, path or query.
func (p *URLPolicy) CheckURL(ctx context.Context, raw string) error {
	if p == nil {
		p = &URLPolicy{}
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Error repeats the whole URL, password included: say less.
		return fmt.Errorf("%w: not a valid URL", ErrURLRefused)
	}
	if u.Opaque != "" {
		// "scheme:rest" without "//": possibly "user:password@host" read as
		// a scheme, so repeat none of it.
		return fmt.Errorf("%w: not an absolute http(s)://host URL", ErrURLRefused)
	}
	where := safeURL(u)
	switch u.Scheme {
	case "http", "https":
	case "":
		return fmt.Errorf("%w: %s: URL has no scheme (use http:// or https://)", ErrURLRefused, where)
	default:
		return fmt.Errorf("%w: %s: scheme %q is not allowed (use http or https)", ErrURLRefused, where, u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: %s: URL has no host", ErrURLRefused, where)
	}
	if p.hostAllowed(host) {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if class := p.refusal(a); class != "" {
			return fmt.Errorf("%w: %s: host resolves to %s (%s); add it to outbound.allow_cidrs to allow", ErrURLRefused, where, a, class)
		}
		return nil
	}
	addrs, err := p.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("%s: cannot resolve host %s to check it against the outbound URL policy: %w", where, host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("%s: host %s resolves to no address", where, host)
	}
	for _, a := range addrs {
		if class := p.refusal(a); class != "" {
			return fmt.Errorf("%w: %s: host %s resolves to %s (%s); add the address to outbound.allow_cidrs or the host to outbound.allow_hosts to allow",
				ErrURLRefused, where, host, a, class)
		}
	}
	return nil
}

// HTTPClient returns a client for connectors whose every connection obeys
// the policy: its dialer resolves the host itself, checks each address it
// is about to connect to (so a DNS answer that changes between CheckURL and
// the dial — DNS rebinding — is caught), and connects to exactly the checked
// address. Redirects are checked with CheckURL and refused when they lead
// to a refused address; at most 10 are followed. timeout bounds each whole
// request (zero means none).
//
// The client ignores HTTP(S)_PROXY: through a proxy the policy could not see
// which address is finally contacted.
func (p *URLPolicy) HTTPClient(timeout time.Duration) *http.Client {
	if p == nil {
		p = &URLPolicy{}
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	var tr *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = dt.Clone()
	} else {
		tr = &http.Transport{
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	tr.Proxy = nil
	tr.DialTLSContext = nil
	if p.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: p.RootCAs, MinVersion: tls.VersionTLS12}
	}
	tr.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		return p.dial(ctx, dialer, network, address)
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return p.CheckURL(req.Context(), req.URL.String())
		},
	}
}

// dial resolves address, checks every resolved address and connects to the
// checked addresses in turn.
func (p *URLPolicy) dial(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ipNet := "ip"
		switch network {
		case "tcp4":
			ipNet = "ip4"
		case "tcp6":
			ipNet = "ip6"
		}
		addrs, err = p.resolver().LookupNetIP(ctx, ipNet, host)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("host %s resolves to no address", host)
		}
	}
	if !p.hostAllowed(host) {
		for _, a := range addrs {
			if class := p.refusal(a); class != "" {
				return nil, fmt.Errorf("%w: dial %s: address %s is %s; add it to outbound.allow_cidrs to allow", ErrURLRefused, host, a, class)
			}
		}
	}
	var first error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// ExplicitlyAllows reports whether host is listed in AllowHosts, or is an
// address (or a name whose every address, resolved now, is) inside
// AllowCIDRs: an allowance the configuration spelled out, as plain http
// to a credential-bearing API needs. A host that cannot be resolved is not
// allowed.
func (p *URLPolicy) ExplicitlyAllows(ctx context.Context, host string) bool {
	if p == nil {
		return false
	}
	if p.hostAllowed(host) {
		return true
	}
	if len(p.AllowCIDRs) == 0 {
		return false
	}
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(normHost(host)); err == nil {
		addrs = append(addrs, a)
	} else {
		res, err := p.resolver().LookupNetIP(ctx, "ip", host)
		if err != nil {
			return false
		}
		addrs = res
	}
	for _, a := range addrs {
		a = a.WithZone("")
		if !p.inAllowedCIDR(a) && !p.inAllowedCIDR(a.Unmap()) {
			return false
		}
	}
	return len(addrs) > 0
}

func (p *URLPolicy) resolver() Resolver {
	if p.Resolver != nil {
		return p.Resolver
	}
	return net.DefaultResolver
}

func (p *URLPolicy) hostAllowed(host string) bool {
	h := normHost(host)
	ha, herr := netip.ParseAddr(h)
	for _, allowed := range p.AllowHosts {
		a := normHost(allowed)
		if a == h {
			return true
		}
		if herr == nil {
			if aa, err := netip.ParseAddr(a); err == nil && aa == ha {
				return true
			}
		}
	}
	return false
}

// refusal returns why the policy refuses a, or "" when a is allowed.
func (p *URLPolicy) refusal(a netip.Addr) string {
	a = a.WithZone("")
	if p.inAllowedCIDR(a) || p.inAllowedCIDR(a.Unmap()) {
		return ""
	}
	class := addrClass(a.Unmap())
	if class == "" {
		if v4, how := embeddedIPv4(a); v4.IsValid() {
			if p.inAllowedCIDR(v4) {
				return ""
			}
			if c := addrClass(v4); c != "" {
				class = fmt.Sprintf("%s of %s, %s", how, v4, c)
			}
		}
	}
	return class
}

func (p *URLPolicy) inAllowedCIDR(a netip.Addr) bool {
	for _, pfx := range p.AllowCIDRs {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

var (
	cgnatPrefix     = netip.MustParsePrefix("100.64.0.0/10")
	thisNetPrefix   = netip.MustParsePrefix("0.0.0.0/8")
	siteLocalPrefix = netip.MustParsePrefix("fec0::/10")
	nat64Prefix     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFourPrefix = netip.MustParsePrefix("2002::/16")
	// Local-use NAT64 (RFC 8215): the network chooses where the IPv4
	// address sits, so the whole prefix is treated as private.
	nat64LocalPrefix = netip.MustParsePrefix("64:ff9b:1::/48")
	// IPv4-compatible (::a.b.c.d, deprecated by RFC 4291) and
	// IPv4-translated (::ffff:0:a.b.c.d, RFC 2765) addresses.
	v4CompatPrefix     = netip.MustParsePrefix("::/96")
	v4TranslatedPrefix = netip.MustParsePrefix("::ffff:0:0:0/96")
	broadcastAddr      = netip.MustParseAddr("255.255.255.255")
	// Cloud metadata endpoints outside 169.254/16.
	metadataAddrs = map[netip.Addr]bool{
		netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OpenStack
		netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IPv6
		netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
	}
)

// addrClass names the refused class a (unmapped, zoneless) address is in,
// or "" for a public address.
func addrClass(a netip.Addr) string {
	suffix := ""
	if metadataAddrs[a] {
		suffix = "/cloud metadata"
	}
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified() || thisNetPrefix.Contains(a):
		return "unspecified"
	case a.IsLinkLocalUnicast():
		return "link-local/cloud metadata"
	case a.IsMulticast():
		return "multicast"
	case a == broadcastAddr:
		return "broadcast"
	case a.IsPrivate():
		return "private" + suffix
	case cgnatPrefix.Contains(a):
		return "carrier-grade NAT" + suffix
	case siteLocalPrefix.Contains(a):
		return "site-local"
	case nat64LocalPrefix.Contains(a):
		return "private (local-use NAT64)"
	}
	return ""
}

// embeddedIPv4 returns the IPv4 address a NAT64, 6to4, IPv4-compatible or
// IPv4-translated IPv6 address carries, and how it carries it: a gateway
// or a dual stack may deliver such an address to the IPv4 one.
func embeddedIPv4(a netip.Addr) (netip.Addr, string) {
	if !a.Is6() || a.Is4In6() {
		return netip.Addr{}, ""
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "NAT64"
	case v4CompatPrefix.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "IPv4-compatible"
	case v4TranslatedPrefix.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), "IPv4-translated"
	case sixToFourPrefix.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), "6to4"
	}
	return netip.Addr{}, ""
}

// safeURL renders only the scheme and host of u, so messages never carry
// user info, path or query (any of which may hold a credential).
func safeURL(u *url.URL) string {
	if u.Host == "" {
		if u.Scheme == "" {
			return "URL"
		}
		return u.Scheme + ":"
	}
	s := u.Scheme
	if s != "" {
		s += "://"
	}
	return s + u.Host + "/"
}

func normHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.TrimSuffix(h, ".")
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return h
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
