package outbound

import (
	"fmt"
	"net/netip"
	"strings"
)

// Configuration-time checks of the outbound allow lists and of the hosts
// configured URLs name. URLPolicy itself applies whatever allow lists it is
// given; these checks are what `kinetic config validate` (the configs
// package) and the chat front ends run before building one, so that an
// allowlist can never open the cloud metadata endpoint or the whole
// address space, and a configured host is never a number that different
// parsers read differently.

// Minimum prefix lengths of an outbound.allow_cidrs entry: a shorter one
// covers too much of the address space to be a deliberate exception.
const (
	MinAllowIPv4Bits = 8
	MinAllowIPv6Bits = 16
)

// neverAllowed are the ranges no allowlist entry may overlap: IPv4
// link-local (which holds the metadata endpoint 169.254.169.254 of AWS,
// GCP, Azure and OpenStack, and ECS's 169.254.170.2), IPv6 link-local, and
// AWS's IPv6 metadata endpoint.
var neverAllowed = []struct {
	pfx  netip.Prefix
	what string
}{
	{netip.MustParsePrefix("169.254.0.0/16"), "169.254.0.0/16, link-local and the cloud metadata endpoint 169.254.169.254"},
	{netip.MustParsePrefix("fe80::/10"), "fe80::/10, IPv6 link-local"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "fd00:ec2::254, the AWS IPv6 metadata endpoint"},
}

// ipv4Embeddings are the IPv6 ranges that carry an IPv4 address (at byte
// offset off), which URLPolicy judges by that IPv4 address: an allowlist
// entry inside one is checked as the IPv4 range it carries.
var ipv4Embeddings = []struct {
	pfx netip.Prefix
	off int
	how string
}{
	{netip.MustParsePrefix("::ffff:0:0/96"), 12, "IPv4-mapped"},
	{netip.MustParsePrefix("::/96"), 12, "IPv4-compatible"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), 12, "IPv4-translated"},
	{nat64Prefix, 12, "NAT64"},
	{sixToFourPrefix, 2, "6to4"},
}

// metadataHostNames are the names of cloud metadata services; none may be
// an outbound.allow_hosts entry (an allowed host is trusted whatever it
// resolves to).
var metadataHostNames = map[string]bool{
	"metadata":                   true,
	"metadata.google.internal":   true,
	"metadata.goog":              true,
	"instance-data":              true,
	"instance-data.ec2.internal": true,
	"metadata.azure.com":         true,
}

// CheckAllowCIDR refuses an outbound.allow_cidrs entry that is too broad
// (IPv4 shorter than /8, IPv6 shorter than /16, e.g. 0.0.0.0/0 or ::/0) or
// that overlaps a range no configuration may open: 169.254.0.0/16 (cloud
// metadata, link-local), fe80::/10 and fd00:ec2::254. An IPv6 entry inside
// an IPv4-embedding range (IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96,
// 6to4 2002::/16, …) is checked as the IPv4 range it carries.
func CheckAllowCIDR(pfx netip.Prefix) error {
	pfx = pfx.Masked()
	if pfx.Addr().Is4() {
		return checkAllowIPv4(pfx, pfx.String())
	}
	if err := checkNeverAllowed(pfx, pfx.String(), true); err != nil {
		return err
	}
	if pfx.Bits() < MinAllowIPv6Bits {
		return fmt.Errorf("%s covers too much of the address space: an IPv6 entry must be /%d or longer; list the internal ranges the connectors need", pfx, MinAllowIPv6Bits)
	}
	if err := checkNeverAllowed(pfx, pfx.String(), false); err != nil {
		return err
	}
	for _, e := range ipv4Embeddings {
		if pfx.Bits() < e.pfx.Bits() {
			if pfx.Contains(e.pfx.Addr()) {
				return fmt.Errorf("%s contains %s (%s), that is every IPv4 address including the cloud metadata endpoint, which no allowlist may open", pfx, e.pfx, e.how)
			}
			continue
		}
		if !e.pfx.Contains(pfx.Addr()) {
			continue
		}
		b := pfx.Addr().As16()
		v4 := netip.AddrFrom4([4]byte(b[e.off : e.off+4]))
		v4p := netip.PrefixFrom(v4, min(pfx.Bits()-e.pfx.Bits(), 32)).Masked()
		return checkAllowIPv4(v4p, fmt.Sprintf("%s (%s of %s)", pfx, e.how, v4p))
	}
	return nil
}

func checkAllowIPv4(pfx netip.Prefix, shown string) error {
	if err := checkNeverAllowed(pfx, shown, true); err != nil {
		return err
	}
	if pfx.Bits() < MinAllowIPv4Bits {
		return fmt.Errorf("%s covers too much of the address space: an IPv4 entry must be /%d or longer; list the internal ranges the connectors need", shown, MinAllowIPv4Bits)
	}
	return checkNeverAllowed(pfx, shown, false)
}

// checkNeverAllowed refuses pfx when it lies inside (inside true) or, else,
// overlaps a neverAllowed range.
func checkNeverAllowed(pfx netip.Prefix, shown string, inside bool) error {
	for _, n := range neverAllowed {
		in := pfx.Bits() >= n.pfx.Bits() && n.pfx.Contains(pfx.Addr())
		if inside && in {
			return fmt.Errorf("%s is inside %s, which no allowlist may open", shown, n.what)
		}
		if !inside && n.pfx.Overlaps(pfx) {
			return fmt.Errorf("%s overlaps %s, which no allowlist may open", shown, n.what)
		}
	}
	return nil
}

// CheckAllowHost refuses an outbound.allow_hosts entry that opens what
// CheckAllowCIDR refuses: a literal address in those ranges, the name of a
// cloud metadata service (metadata.google.internal, instance-data, …), or
// a numeric host in a non-standard form (CheckHostForm).
func CheckAllowHost(host string) error {
	h := normHost(host)
	if a, err := netip.ParseAddr(h); err == nil {
		a = a.WithZone("")
		return CheckAllowCIDR(netip.PrefixFrom(a, a.BitLen()))
	}
	if err := CheckHostForm(host); err != nil {
		return err
	}
	if metadataHostNames[h] {
		return fmt.Errorf("%q is the cloud metadata service, which no allowlist may open", h)
	}
	return nil
}

// CheckHostForm refuses a host that ends in a number but is not an IPv4
// address in its standard form (four decimal parts without leading zeros,
// no trailing dot): decimal (2130706433), hex (0x7f000001), octal
// (0177.0.0.1), shorthand (127.1, 10.1) or dotted with a trailing dot
// (127.0.0.1.). Go does not read these as addresses, but libc, browsers,
// proxies and curl do, each in its own way, so such a host may reach an
// address other than the one checked; write the address in its standard
// form, or use a host name. IPv6 literals and host names (whose last label
// is not a number) are accepted.
func CheckHostForm(host string) error {
	h := strings.ToLower(strings.TrimSpace(host))
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if h == "" || strings.Contains(h, ":") {
		return nil // no host, or IPv6 (the URL parser checks its form)
	}
	trimmed := strings.TrimSuffix(h, ".")
	labels := strings.Split(trimmed, ".")
	if !numericLabel(labels[len(labels)-1]) {
		return nil
	}
	if trimmed == h {
		if a, err := netip.ParseAddr(h); err == nil && a.Is4() {
			return nil
		}
	}
	return fmt.Errorf("host %q is a number in a non-standard form (decimal, hex, octal, fewer than four parts or a trailing dot), which programs read as different addresses: write an IPv4 address as four decimal parts (e.g. 127.0.0.1) or use a host name", host)
}

// numericLabel reports whether a host label is a number as the WHATWG URL
// standard's IPv4 parser sees one: decimal digits, or 0x followed by hex
// digits (or nothing).
func numericLabel(s string) bool {
	if s == "" {
		return false
	}
	digits := s
	hex := false
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		digits, hex = s[2:], true
	}
	for _, r := range digits {
		switch {
		case r >= '0' && r <= '9':
		case hex && (r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F'):
		default:
			return false
		}
	}
	return true
}
