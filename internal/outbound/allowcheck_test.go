package outbound

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// TestCheckAllowCIDR: an allowlist entry that covers the whole address
// space (or more than a /8 of IPv4, a /16 of IPv6) or any part of the
// link-local and metadata ranges, in any IPv6 spelling that carries IPv4,
// is refused; ordinary internal ranges are not.
func TestCheckAllowCIDR(t *testing.T) {
	for _, tc := range []struct {
		cidr string
		want string // "" = accepted
	}{
		{"10.0.0.0/8", ""},
		{"10.20.0.0/16", ""},
		{"172.16.0.0/12", ""},
		{"192.168.7.7/32", ""},
		{"127.0.0.0/8", ""},
		{"127.0.0.1/32", ""},
		{"100.64.0.0/10", ""},
		{"fd12:3456:789a::/48", ""},
		{"fc00::/16", ""},
		{"::1/128", ""},
		{"::ffff:10.0.0.0/104", ""},
		{"64:ff9b::10.1.2.3/128", ""},
		{"0.0.0.0/0", "covers too much of the address space: an IPv4 entry must be /8 or longer"},
		{"::/0", "covers too much of the address space: an IPv6 entry must be /16 or longer"},
		{"10.0.0.0/7", "covers too much"},
		{"128.0.0.0/1", "covers too much"},
		{"2000::/3", "covers too much"},
		{"fc00::/7", "covers too much"},
		{"169.254.169.254/32", "is inside 169.254.0.0/16"},
		{"169.254.0.0/16", "is inside 169.254.0.0/16"},
		{"169.254.170.2/32", "is inside 169.254.0.0/16"},
		{"169.0.0.0/8", "overlaps 169.254.0.0/16"},
		{"169.254.0.0/15", "overlaps 169.254.0.0/16"},
		{"fe80::1/128", "is inside fe80::/10"},
		{"fe80::/10", "is inside fe80::/10"},
		{"fd00:ec2::254/128", "AWS IPv6 metadata endpoint"},
		{"fd00::/8", "covers too much"},
		{"fd00:ec2::/32", "overlaps fd00:ec2::254"},
		{"::ffff:169.254.169.254/128", "IPv4-mapped of 169.254.169.254/32) is inside 169.254.0.0/16"},
		{"::ffff:0:0/96", "IPv4-mapped of 0.0.0.0/0) covers too much"},
		{"::ffff:0.0.0.0/98", "covers too much"},
		{"64:ff9b::a9fe:a9fe/128", "NAT64 of 169.254.169.254/32"},
		{"64:ff9b::/96", "covers too much"},
		{"2002:a9fe::/32", "6to4 of 169.254.0.0/16"},
		{"2002::/16", "6to4 of 0.0.0.0/0"},
		{"::a9fe:a9fe/128", "IPv4-compatible of 169.254.169.254/32"},
		{"::/64", "every IPv4 address"},
	} {
		err := CheckAllowCIDR(netip.MustParsePrefix(tc.cidr))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s refused: %v", tc.cidr, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s accepted, want %q", tc.cidr, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %v, want %q", tc.cidr, err, tc.want)
		}
	}
}

func TestCheckAllowHost(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"scim-gateway.corp.internal", ""},
		{"Vault.Internal.", ""},
		{"10.0.0.5", ""},
		{"[::1]", ""},
		{"169.254.169.254", "is inside 169.254.0.0/16"},
		{"[fd00:ec2::254]", "AWS IPv6 metadata endpoint"},
		{"::ffff:169.254.169.254", "IPv4-mapped"},
		{"metadata.google.internal", "cloud metadata service"},
		{"Metadata.Google.Internal.", "cloud metadata service"},
		{"instance-data", "cloud metadata service"},
		{"2852039166", "non-standard form"},
		{"127.1", "non-standard form"},
		{"0xa9fea9fe", "non-standard form"},
	} {
		err := CheckAllowHost(tc.host)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s refused: %v", tc.host, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.host, err, tc.want)
		}
	}
}

// TestCheckHostForm: a host that ends in a number is accepted only as a
// standard dotted quad; decimal, hex, octal, shorthand and trailing-dot
// spellings are refused, host names and IPv6 literals are not.
func TestCheckHostForm(t *testing.T) {
	for _, h := range []string{"", "okta.com", "slack.com", "127.0.0.1", "10.1.2.3", "::1", "[::1]", "[fd00:ec2::254]",
		"0x7f.example.com", "1e100.net", "host-1", "api.example.com.", "LOCALHOST"} {
		if err := CheckHostForm(h); err != nil {
			t.Errorf("%q refused: %v", h, err)
		}
	}
	for _, h := range []string{"2130706433", "0x7f000001", "0X7F000001", "127.1", "10.1", "0177.0.0.1", "0x7f.0.0.1",
		"017700000001", "0", "0x", "127.0.0.1.", "1.2.3.4.5", "256.1.1.1", "169.254.43518", "0251.0376.0251.0376", "a.b.1", "a.0x"} {
		err := CheckHostForm(h)
		if err == nil || !strings.Contains(err.Error(), "non-standard form") {
			t.Errorf("%q: %v, want refused", h, err)
		}
	}
}

type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[host]; ok {
		return a, nil
	}
	return nil, &netErr{}
}

type netErr struct{}

func (*netErr) Error() string { return "no such host" }

func TestExplicitlyAllows(t *testing.T) {
	p, err := NewURLPolicy([]string{"127.0.0.1/32", "10.0.0.0/8"}, []string{"fake.slack.test"})
	if err != nil {
		t.Fatal(err)
	}
	p.Resolver = mapResolver{
		"internal.test": {netip.MustParseAddr("10.1.1.1")},
		"mixed.test":    {netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("203.0.113.9")},
		"public.test":   {netip.MustParseAddr("203.0.113.9")},
	}
	ctx := context.Background()
	for host, want := range map[string]bool{
		"127.0.0.1": true, "10.2.3.4": true, "fake.slack.test": true, "FAKE.slack.test.": true, "internal.test": true,
		"127.0.0.2": false, "slack.com": false, "public.test": false, "mixed.test": false, "unresolvable.test": false, "::1": false,
	} {
		if got := p.ExplicitlyAllows(ctx, host); got != want {
			t.Errorf("ExplicitlyAllows(%s) = %v, want %v", host, got, want)
		}
	}
	var nilPolicy *URLPolicy
	if nilPolicy.ExplicitlyAllows(ctx, "127.0.0.1") {
		t.Error("a nil policy allows a host explicitly")
	}
}
