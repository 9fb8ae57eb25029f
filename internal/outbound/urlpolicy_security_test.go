package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/webhook"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// libcResolver answers like glibc's getaddrinfo: a name in names gets its
// addresses; a host that inet_aton accepts (decimal, octal and hex parts,
// one to four of them: "2852039166", "0251.0376.0251.0376", "0xa9fea9fe",
// "169.254.43518") is that IPv4 address, as the cgo resolver would return
// it; anything else is NXDOMAIN. A trailing dot is dropped, as DNS does.
// It counts lookups per host.
type libcResolver struct {
	names map[string][]string
	mu    sync.Mutex
	calls map[string]int
}

func (r *libcResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	r.mu.Lock()
	if r.calls == nil {
		r.calls = map[string]int{}
	}
	r.calls[h]++
	r.mu.Unlock()
	var out []netip.Addr
	if answer, ok := r.names[h]; ok {
		for _, s := range answer {
			out = append(out, netip.MustParseAddr(s))
		}
	} else if a, ok := inetAton(h); ok {
		out = []netip.Addr{a}
	} else {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var filtered []netip.Addr
	for _, a := range out {
		if network == "ip4" && !a.Unmap().Is4() || network == "ip6" && !a.Is6() {
			continue
		}
		filtered = append(filtered, a)
	}
	return filtered, nil
}

// inetAton parses s the way BSD/glibc inet_aton does.
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
			base, p = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		if p == "" && base != 8 {
			return netip.Addr{}, false
		}
		if p == "" {
			p = "0"
		}
		n, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	var v uint64
	last := len(nums) - 1
	for i := 0; i < last; i++ {
		if nums[i] > 0xff {
			return netip.Addr{}, false
		}
		v |= nums[i] << (24 - 8*uint(i))
	}
	if max := uint64(1)<<(32-8*uint(last)) - 1; nums[last] > max {
		return netip.Addr{}, false
	}
	v |= nums[last]
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func TestInetAtonEmulation(t *testing.T) {
	for in, want := range map[string]string{
		"2852039166": "169.254.169.254", "0251.0376.0251.0376": "169.254.169.254", "0xa9fea9fe": "169.254.169.254",
		"0xA9.0xFE.0xA9.0xFE": "169.254.169.254", "169.254.43518": "169.254.169.254", "169.16689662": "169.254.169.254",
		"017700000001": "127.0.0.1", "0x7f.1": "127.0.0.1", "10.1": "10.0.0.1", "0300.0250.0.1": "192.168.0.1", "0": "0.0.0.0",
	} {
		if a, ok := inetAton(in); !ok || a.String() != want {
			t.Errorf("inetAton(%q) = %v, %v; want %s", in, a, ok, want)
		}
	}
	for _, in := range []string{"api", "1.2.3.4.5", "256.1.1.1", "0x", "08", "1..1", "4294967296"} {
		if a, ok := inetAton(in); ok {
			t.Errorf("inetAton(%q) = %v, want not an address", in, a)
		}
	}
}

// securityNames are the DNS names of the table: each resolves (in
// libcResolver) to internal addresses, as an attacker-controlled or a
// cloud-internal name would.
var securityNames = map[string][]string{
	"metadata.google.internal":    {"169.254.169.254"},
	"metadata":                    {"169.254.169.254"},
	"instance-data.ec2.internal":  {"169.254.169.254"},
	"metadata.tencentyun.com":     {"169.254.0.23"},
	"metadata.aliyun.test":        {"100.100.100.200"},
	"ec2-v6-metadata.test":        {"fd00:ec2::254"},
	"kubernetes.default.svc":      {"10.96.0.1"},
	"db.corp.test":                {"172.20.1.5"},
	"router.home.test":            {"192.168.1.1"},
	"ula.corp.test":               {"fd12:3456:789a::1"},
	"fe80.corp.test":              {"fe80::1"},
	"localhost":                   {"127.0.0.1"},
	"localtest.me":                {"127.0.0.1"},
	"169.254.169.254.nip.io":      {"169.254.169.254"},
	"zero.test":                   {"0.0.0.0"},
	"mapped-metadata.test":        {"::ffff:169.254.169.254"},
	"nat64-metadata.test":         {"64:ff9b::a9fe:a9fe"},
	"sixtofour-private.test":      {"2002:c0a8:101::1"},
	"mixed-public-metadata.test":  {"93.184.215.14", "169.254.169.254"},
	"mixed-metadata-public.test":  {"2606:2800:21f:cb07:6820:80da:af6b:8b2c", "fd00:ec2::254"},
	"api.vendor.test":             {"93.184.215.14"},
	"rebind-target-public.test":   {"93.184.215.14"},
	"okta.com":                    {"93.184.215.15"},
	"metadata.google.internal.ex": {"93.184.215.16"},
}

// urlCase is one row of the outbound URL table.
type urlCase struct {
	url string
	// addr is the refused address the message must name.
	addr string
	// class is the refusal class the message must name.
	class string
	// allowCIDR and allowHost are the exact allowlist entries that let
	// the URL through (either suffices); "" for none of that kind.
	allowCIDR, allowHost string
}

func securityURLTable() []urlCase {
	var cs []urlCase
	lit := func(u, addr, class, cidr string) {
		h, _ := url.Parse(u)
		cs = append(cs, urlCase{url: u, addr: addr, class: class, allowCIDR: cidr, allowHost: h.Hostname()})
	}
	name := func(u, addr, class string) {
		h, _ := url.Parse(u)
		cs = append(cs, urlCase{url: u, addr: addr, class: class, allowCIDR: addr, allowHost: h.Hostname()})
	}
	const ll, md = "link-local/cloud metadata", "cloud metadata"

	// Link-local and the metadata address, as literals.
	lit("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "169.254.169.254", ll, "169.254.169.254/32")
	lit("http://169.254.169.254:80/computeMetadata/v1/", "169.254.169.254", ll, "169.254.0.0/16")
	lit("https://169.254.0.1/", "169.254.0.1", ll, "169.254.0.1")
	lit("http://169.254.255.254:8080/x", "169.254.255.254", ll, "169.254.255.254/32")
	lit("http://169.254.170.2/v2/credentials", "169.254.170.2", ll, "169.254.170.2/32") // ECS task credentials
	lit("http://[fe80::1]/", "fe80::1", ll, "fe80::1/128")
	lit("http://[fe80::a9fe:a9fe]/", "fe80::a9fe:a9fe", ll, "fe80::/10")
	lit("http://[febf:ffff:ffff:ffff::1]/", "febf:ffff:ffff:ffff::1", ll, "febf::/16")
	lit("http://[fe80::1%25eth0]:8080/", "fe80::1", ll, "fe80::1/128")
	lit("http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254", "private/"+md, "fd00:ec2::254/128")
	lit("http://100.100.100.200/latest/meta-data/", "100.100.100.200", "carrier-grade NAT/"+md, "100.100.100.200/32")

	// Private, loopback, unspecified.
	for _, a := range []string{"10.0.0.1", "10.255.255.254", "172.16.0.1", "172.31.255.254", "192.168.0.1", "192.168.255.254"} {
		lit("http://"+a+"/", a, "private", a+"/32")
	}
	lit("http://[fc00::1]/", "fc00::1", "private", "fc00::/7")
	lit("http://[fdff:ffff::1]/", "fdff:ffff::1", "private", "fdff:ffff::1/128")
	lit("http://127.0.0.1:9000/", "127.0.0.1", "loopback", "127.0.0.1/32")
	lit("http://127.255.255.254/", "127.255.255.254", "loopback", "127.0.0.0/8")
	lit("http://[::1]:8080/", "::1", "loopback", "::1/128")
	lit("http://0.0.0.0:8080/", "0.0.0.0", "unspecified", "0.0.0.0/32")
	lit("http://[::]/", "::", "unspecified", "::/128")

	// IPv4-mapped, NAT64 and 6to4 spellings of internal IPv4 addresses;
	// the IPv4 address's CIDR allows them.
	lit("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254", ll, "169.254.169.254/32")
	lit("http://[::ffff:a9fe:a9fe]/", "::ffff:169.254.169.254", ll, "169.254.169.254/32")
	lit("http://[0:0:0:0:0:ffff:169.254.169.254]:80/", "::ffff:169.254.169.254", ll, "::ffff:169.254.169.254/128")
	lit("http://[::ffff:169.254.169.254%25eth0]/", "::ffff:169.254.169.254", ll, "169.254.169.254/32")
	lit("http://[::ffff:10.0.0.1]/", "::ffff:10.0.0.1", "private", "10.0.0.0/8")
	lit("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", "loopback", "127.0.0.1/32")
	lit("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254, "+ll, "169.254.169.254/32")
	lit("http://[64:ff9b::10.1.2.3]/", "64:ff9b::a01:203", "NAT64 of 10.1.2.3, private", "64:ff9b::a01:203/128")
	lit("http://[2002:a9fe:a9fe::1]/", "2002:a9fe:a9fe::1", "6to4 of 169.254.169.254, "+ll, "169.254.169.254/32")

	// Userinfo and fragment tricks: the host is what follows the last "@".
	lit("http://okta.com@169.254.169.254/", "169.254.169.254", ll, "169.254.169.254/32")
	lit("http://okta.com:443@169.254.169.254:80/latest", "169.254.169.254", ll, "169.254.169.254/32")
	lit("https://user:pass@10.0.0.1/", "10.0.0.1", "private", "10.0.0.1/32")
	lit("http://169.254.169.254#@okta.com/", "169.254.169.254", ll, "169.254.169.254/32")
	lit("http://169.254.169.254?@okta.com/", "169.254.169.254", ll, "169.254.169.254/32")
	lit("HTTP://169.254.169.254/", "169.254.169.254", ll, "169.254.169.254/32")

	// Decimal, octal, hex and short IPv4 spellings, and trailing dots: not
	// IP literals to Go, so they are resolved, and whatever the resolver
	// makes of them (here: what getaddrinfo would) is checked.
	for _, h := range []string{"2852039166", "0251.0376.0251.0376", "0xa9fea9fe", "0xA9.0xFE.0xA9.0xFE", "169.254.43518", "169.16689662", "0251.0xfe.43518", "169.254.169.254."} {
		cs = append(cs, urlCase{url: "http://" + h + "/latest/meta-data/", addr: "169.254.169.254", class: ll, allowCIDR: "169.254.169.254/32", allowHost: h})
	}
	for h, a := range map[string]string{"2130706433": "127.0.0.1", "017700000001": "127.0.0.1", "0x7f.1": "127.0.0.1", "127.1": "127.0.0.1", "10.1": "10.0.0.1", "0300.0250.0.1": "192.168.0.1", "0": "0.0.0.0", "0x0a000001": "10.0.0.1", "127.0.0.1.": "127.0.0.1"} {
		class := "private"
		switch {
		case strings.HasPrefix(a, "127."):
			class = "loopback"
		case a == "0.0.0.0":
			class = "unspecified"
		}
		cs = append(cs, urlCase{url: "http://" + h + ":8080/", addr: a, class: class, allowCIDR: a + "/32", allowHost: h})
	}

	// DNS names that resolve to internal addresses.
	name("http://metadata.google.internal/computeMetadata/v1/", "169.254.169.254", ll)
	name("http://metadata.google.internal./computeMetadata/v1/", "169.254.169.254", ll)
	name("http://METADATA.Google.Internal/", "169.254.169.254", ll)
	name("http://metadata/", "169.254.169.254", ll)
	name("http://instance-data.ec2.internal/latest/", "169.254.169.254", ll)
	name("http://metadata.tencentyun.com/latest/", "169.254.0.23", ll)
	name("http://metadata.aliyun.test/latest/meta-data/", "100.100.100.200", "carrier-grade NAT/"+md)
	name("http://ec2-v6-metadata.test/", "fd00:ec2::254", "private/"+md)
	name("https://kubernetes.default.svc/api", "10.96.0.1", "private")
	name("https://db.corp.test:5432/", "172.20.1.5", "private")
	name("http://router.home.test/", "192.168.1.1", "private")
	name("http://ula.corp.test/", "fd12:3456:789a::1", "private")
	name("http://fe80.corp.test/", "fe80::1", ll)
	name("http://localhost:8080/", "127.0.0.1", "loopback")
	name("http://localhost./", "127.0.0.1", "loopback")
	name("http://localtest.me/", "127.0.0.1", "loopback")
	name("http://169.254.169.254.nip.io/", "169.254.169.254", ll)
	name("http://zero.test/", "0.0.0.0", "unspecified")
	name("http://mapped-metadata.test/", "::ffff:169.254.169.254", ll)
	name("http://nat64-metadata.test/", "64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254")
	name("http://sixtofour-private.test/", "2002:c0a8:101::1", "6to4 of 192.168.1.1, private")
	name("http://okta.com@metadata.google.internal/", "169.254.169.254", ll)
	// One internal answer among public ones is enough to refuse.
	name("https://mixed-public-metadata.test/", "169.254.169.254", ll)
	name("https://mixed-metadata-public.test/", "fd00:ec2::254", "private/"+md)
	return cs
}

// TestOutboundURLTableRefusedUnlessAllowlisted: every URL of the table is
// refused at configuration time (CheckURL) with an error that names the
// address and why, and at connection time (the policy's HTTP client, whose
// dialer checks each address it connects to) before any connection; adding
// exactly the refused address's CIDR, or exactly the host, lets it through,
// and a neighbouring entry does not.
func TestOutboundURLTableRefusedUnlessAllowlisted(t *testing.T) {
	ctx := context.Background()
	res := &libcResolver{names: securityNames}
	table := securityURLTable()
	checks := 0
	for i, tc := range table {
		t.Run(fmt.Sprintf("%02d %s", i, tc.url), func(t *testing.T) {
			strict := &outbound.URLPolicy{Resolver: res}
			err := strict.CheckURL(ctx, tc.url)
			checks++
			if !errors.Is(err, outbound.ErrURLRefused) {
				t.Fatalf("CheckURL(%q) = %v, want a refusal (ErrURLRefused)", tc.url, err)
			}
			msg := err.Error()
			for _, want := range []string{tc.addr, tc.class, "allow"} {
				if !strings.Contains(msg, want) {
					t.Errorf("refusal %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, "pass@") || strings.Contains(msg, "okta.com@") {
				t.Errorf("refusal repeats the URL's user info: %q", msg)
			}

			// The dial-time check, with no configuration-time check before
			// it: the client never connects.
			c := strict.HTTPClient(2 * time.Second)
			resp, err := c.Get(tc.url)
			checks++
			if err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s through the policy's client succeeded (status %d)", tc.url, resp.StatusCode)
			}
			if !errors.Is(err, outbound.ErrURLRefused) || !strings.Contains(err.Error(), tc.class) {
				t.Fatalf("GET %s = %v, want refused at the dial as %s", tc.url, err, tc.class)
			}

			// The exact allowlist entries let it through; neighbours don't.
			if tc.allowCIDR != "" {
				p, err := outbound.NewURLPolicy([]string{tc.allowCIDR}, nil)
				if err != nil {
					t.Fatal(err)
				}
				p.Resolver = res
				if err := p.CheckURL(ctx, tc.url); err != nil {
					t.Errorf("with outbound.allow_cidrs [%s]: %v, want allowed", tc.allowCIDR, err)
				}
				checks++
				other := neighbour(t, tc.allowCIDR)
				p, err = outbound.NewURLPolicy([]string{other}, nil)
				if err != nil {
					t.Fatal(err)
				}
				p.Resolver = res
				if err := p.CheckURL(ctx, tc.url); !errors.Is(err, outbound.ErrURLRefused) {
					t.Errorf("with outbound.allow_cidrs [%s] (a neighbour): %v, want refused", other, err)
				}
				checks++
			}
			if tc.allowHost != "" {
				p, err := outbound.NewURLPolicy(nil, []string{tc.allowHost})
				if err != nil {
					t.Fatal(err)
				}
				p.Resolver = res
				if err := p.CheckURL(ctx, tc.url); err != nil {
					t.Errorf("with outbound.allow_hosts [%s]: %v, want allowed", tc.allowHost, err)
				}
				checks++
				others := []string{"okta.com"}
				if !strings.Contains(tc.allowHost, ":") {
					others = append(others, "x"+tc.allowHost)
				}
				p, err = outbound.NewURLPolicy(nil, others)
				if err != nil {
					t.Fatal(err)
				}
				p.Resolver = res
				if err := p.CheckURL(ctx, tc.url); !errors.Is(err, outbound.ErrURLRefused) {
					t.Errorf("with outbound.allow_hosts %v: %v, want refused", others, err)
				}
				checks++
			}
		})
	}
	t.Logf("outbound URL table: %d URLs, %d checks (configuration time, dial time, exact and neighbouring allowlist entries)", len(table), checks)
}

// neighbour returns a prefix next to cidr (same length, just outside it).
func neighbour(t *testing.T, cidr string) string {
	t.Helper()
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		a, aerr := netip.ParseAddr(cidr)
		if aerr != nil {
			t.Fatalf("bad CIDR %q", cidr)
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	pfx = pfx.Masked()
	b := pfx.Addr().AsSlice()
	// Flip the last bit inside the prefix: the sibling prefix of the same
	// length.
	bit := pfx.Bits() - 1
	if bit < 0 {
		bit = 0
	}
	b[bit/8] ^= 0x80 >> (bit % 8)
	a, _ := netip.AddrFromSlice(b)
	return netip.PrefixFrom(a, pfx.Bits()).String()
}

// TestOutboundURLUnresolvableNumericHostsAreNotReached: with Go's own
// resolver (no cgo), the numeric spellings are names that do not resolve;
// the check then fails (not as a policy refusal: it could not be made) and
// the client does not connect. Go's resolver is pointed at a DNS server
// that answers nothing, so the test needs no network.
func TestOutboundURLUnresolvableNumericHostsAreNotReached(t *testing.T) {
	goRes := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return nil, errors.New("no DNS in this test")
	}}
	p := &outbound.URLPolicy{Resolver: goRes}
	for _, h := range []string{"2852039166", "0251.0376.0251.0376", "0xa9fea9fe", "169.254.43518", "017700000001"} {
		u := "http://" + h + "/latest/meta-data/"
		err := p.CheckURL(context.Background(), u)
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || errors.Is(err, outbound.ErrURLRefused) {
			t.Errorf("CheckURL(%s) = %v, want a resolution failure, not a refusal", u, err)
		}
		resp, err := p.HTTPClient(2 * time.Second).Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s succeeded", u)
		}
	}
}

// TestOutboundRedirectsToInternalAddressesRefused: a public-looking server
// (allowed by name) that redirects to the metadata endpoint, a private or
// loopback address, in any spelling, is refused when the client follows the
// redirect, and the target is never contacted. The same holds through the
// webhook connector.
func TestOutboundRedirectsToInternalAddressesRefused(t *testing.T) {
	var targetHits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetHits.Add(1)
		fmt.Fprint(w, `{"secret":"AKIA-not-for-you"}`)
	}))
	t.Cleanup(target.Close)
	targetPort := target.Listener.Addr().(*net.TCPAddr).Port

	var location atomic.Value // the Location the redirector answers
	var status atomic.Int64
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hop" {
			http.Redirect(w, r, "/hop2", http.StatusFound) // an allowed hop first
			return
		}
		w.Header().Set("Location", location.Load().(string))
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(redirector.Close)
	rport := redirector.Listener.Addr().(*net.TCPAddr).Port

	names := map[string][]string{"public.vendor.test": {"127.0.0.1"}, "rebind.test": {"127.0.0.1"}}
	for k, v := range securityNames {
		names[k] = v
	}
	res := &libcResolver{names: names}
	// Only the redirector's name is allowed (it is on loopback here; it
	// stands for a public server).
	p := &outbound.URLPolicy{AllowHosts: []string{"public.vendor.test"}, Resolver: res}
	client := p.HTTPClient(5 * time.Second)
	start := fmt.Sprintf("http://public.vendor.test:%d/", rport)

	locations := []string{
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://[::ffff:169.254.169.254]/latest/meta-data/",
		"http://2852039166/latest/meta-data/",
		"http://0xa9fea9fe/",
		"http://169.254.169.254./",
		"http://metadata.google.internal/computeMetadata/v1/",
		"http://okta.com@169.254.169.254/",
		"//169.254.169.254/latest/meta-data/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://100.100.100.200/latest/meta-data/",
		"http://10.0.0.1/",
		fmt.Sprintf("http://127.0.0.1:%d/", targetPort),
		fmt.Sprintf("http://localhost:%d/", targetPort),
		fmt.Sprintf("http://2130706433:%d/", targetPort),
		fmt.Sprintf("http://[::1]:%d/", targetPort),
		fmt.Sprintf("http://localtest.me:%d/", targetPort),
	}
	statuses := []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect}
	n := 0
	for _, loc := range locations {
		for _, st := range statuses {
			for _, path := range []string{"", "hop"} {
				location.Store(loc)
				status.Store(int64(st))
				method := http.MethodGet
				if st == http.StatusTemporaryRedirect || st == http.StatusPermanentRedirect {
					method = http.MethodPost // 307/308 keep the method and body
				}
				req, err := http.NewRequest(method, start+path, strings.NewReader(`{"q":1}`))
				if err != nil {
					t.Fatal(err)
				}
				resp, err := client.Do(req)
				n++
				if err == nil {
					resp.Body.Close()
					t.Errorf("%s %s%s → %d %s: followed (status %d), want refused", method, start, path, st, loc, resp.StatusCode)
					continue
				}
				if !errors.Is(err, outbound.ErrURLRefused) {
					t.Errorf("%s → %d %s: %v, want ErrURLRefused", start+path, st, loc, err)
				}
			}
		}
	}
	if hits := targetHits.Load(); hits != 0 {
		t.Errorf("the redirect target was contacted %d times", hits)
	}

	// Through a connector: the webhook connector's client (built with the
	// policy) refuses the same redirect, and a base URL whose name resolves
	// to the metadata address is refused at the dial.
	location.Store("http://169.254.169.254/latest/meta-data/")
	status.Store(http.StatusFound)
	for _, base := range []string{start + "api", "http://metadata.google.internal/api", "http://2852039166/api", "http://okta.com@169.254.169.254/api"} {
		c, err := webhook.New("badges", webhook.Config{
			BaseURL: base,
			Lookup:  webhook.LookupSpec{Path: "/people?email={{.Email}}", IDField: "id"},
		}, p)
		if err != nil {
			// Refused when the configuration is built (user info).
			n++
			if !strings.Contains(err.Error(), "user info") {
				t.Errorf("webhook.New(%s): %v", base, err)
			}
			continue
		}
		_, err = c.Lookup(context.Background(), connectors.Subject{EmployeeID: "E1", Email: "erin@example.test"})
		n++
		if err == nil {
			t.Errorf("webhook lookup at %s succeeded, want refused", base)
		} else if !errors.Is(err, outbound.ErrURLRefused) && !strings.Contains(err.Error(), "redirects to another host or scheme are not followed") {
			t.Errorf("webhook lookup at %s: %v, want the policy's refusal (or the connector's refusal of a redirect)", base, err)
		}
		c.Close()
	}
	if hits := targetHits.Load(); hits != 0 {
		t.Errorf("the redirect target was contacted %d times", hits)
	}
	t.Logf("redirects: %d requests refused (%d locations × %d statuses × 2 paths, + 4 through the webhook connector)", n, len(locations), len(statuses))
}

// TestOutboundDNSRebindingToInternalAddressesRefused: a name that resolves
// to a public address when checked and to an internal one when dialled is
// refused at the dial, for every internal target of the table.
func TestOutboundDNSRebindingToInternalAddressesRefused(t *testing.T) {
	targets := []string{"169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254", "100.100.100.200", "10.0.0.1", "172.16.0.1", "192.168.0.1",
		"127.0.0.1", "::1", "0.0.0.0", "fe80::1", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1"}
	for _, target := range targets {
		var calls atomic.Int64
		res := rebinder{first: netip.MustParseAddr("93.184.215.14"), then: netip.MustParseAddr(target), calls: &calls}
		p := &outbound.URLPolicy{Resolver: res}
		u := "http://rebind.vendor.test/latest/meta-data/"
		if err := p.CheckURL(context.Background(), u); err != nil {
			t.Fatalf("%s: the first (public) answer was refused: %v", target, err)
		}
		resp, err := p.HTTPClient(2 * time.Second).Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("rebinding to %s: GET succeeded", target)
			continue
		}
		if !errors.Is(err, outbound.ErrURLRefused) || !strings.Contains(err.Error(), netip.MustParseAddr(target).String()) {
			t.Errorf("rebinding to %s: %v, want refused naming the address", target, err)
		}
	}
}

type rebinder struct {
	first, then netip.Addr
	calls       *atomic.Int64
}

func (r rebinder) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return []netip.Addr{r.first}, nil
	}
	return []netip.Addr{r.then}, nil
}
