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
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kineticsec/kinetic/internal/outbound"
)

// fakeResolver answers from a map; a name it does not know is NXDOMAIN.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string
	calls   map[string]int
	// next, when set, overrides answers per call (for DNS rebinding).
	next func(host string, call int) []string
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(strings.ToLower(host), ".") // as DNS does
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[host]++
	answer, ok := f.answers[host]
	if f.next != nil {
		answer, ok = f.next(host, f.calls[host]), true
	}
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range answer {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func (f *fakeResolver) count(host string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[host]
}

func newResolver() *fakeResolver {
	return &fakeResolver{answers: map[string][]string{
		"api.example.com":      {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"metadata.example.com": {"169.254.169.254"},
		"intranet.example.com": {"10.20.30.40"},
		"mixed.example.com":    {"93.184.215.14", "192.168.0.10"},
		"localhost":            {"127.0.0.1", "::1"},
		"vault.internal":       {"10.9.9.9"},
	}}
}

func TestCheckURL(t *testing.T) {
	const hint = "add it to outbound.allow_cidrs to allow"
	tests := []struct {
		url  string
		want string // "" = allowed; otherwise a substring of the refusal
	}{
		// Public addresses and names.
		{"https://api.example.com/v1", ""},
		{"https://8.8.8.8/", ""},
		{"http://172.32.0.1/", ""},
		{"http://100.128.0.1/", ""},
		{"https://[2606:4700::1111]:8443/", ""},
		{"HTTPS://API.EXAMPLE.COM./", ""},

		// Loopback.
		{"http://127.0.0.1:8080/", "host resolves to 127.0.0.1 (loopback); " + hint},
		{"http://127.1.2.3/", "(loopback)"},
		{"http://[::1]/", "host resolves to ::1 (loopback)"},
		{"http://localhost:9000/", "host localhost resolves to 127.0.0.1 (loopback); add the address to outbound.allow_cidrs or the host to outbound.allow_hosts to allow"},
		{"http://[::ffff:127.0.0.1]/", "(loopback)"},

		// Link-local and cloud metadata.
		{"https://169.254.169.254/latest/meta-data/", "https://169.254.169.254/: host resolves to 169.254.169.254 (link-local/cloud metadata); " + hint},
		{"http://169.254.1.1/", "(link-local/cloud metadata)"},
		{"http://[fe80::1]/", "(link-local/cloud metadata)"},
		{"http://[fe80::1%25eth0]/", "(link-local/cloud metadata)"},
		{"http://[fd00:ec2::254]/", "host resolves to fd00:ec2::254 (private/cloud metadata)"},
		{"http://[::ffff:169.254.169.254]/", "(link-local/cloud metadata)"},
		{"http://[64:ff9b::a9fe:a9fe]/", "NAT64 of 169.254.169.254, link-local/cloud metadata"},
		{"http://[2002:a00:1::1]/", "6to4 of 10.0.0.1, private"},
		{"http://[::169.254.169.254]/", "IPv4-compatible of 169.254.169.254, link-local/cloud metadata"},
		{"http://[::a00:1]/", "IPv4-compatible of 10.0.0.1, private"},
		{"http://[::ffff:0:169.254.169.254]/", "IPv4-translated of 169.254.169.254, link-local/cloud metadata"},
		{"http://[64:ff9b:1::a9fe:a9fe]/", "(private (local-use NAT64))"},
		{"http://[64:ff9b:1:ffff::1]/", "(private (local-use NAT64))"},
		{"http://[::808:808]/", ""}, // IPv4-compatible of a public address
		{"http://metadata.example.com/", "host metadata.example.com resolves to 169.254.169.254 (link-local/cloud metadata)"},
		{"http://100.100.100.200/", "(carrier-grade NAT/cloud metadata)"},

		// Private.
		{"http://10.1.2.3/", "(private)"},
		{"http://172.16.0.1/", "(private)"},
		{"http://172.31.255.255/", "(private)"},
		{"http://192.168.1.1/", "(private)"},
		{"http://[fc00::1]/", "(private)"},
		{"http://[fd12:3456::1]/", "(private)"},
		{"http://[fec0::1]/", "(site-local)"},
		{"https://intranet.example.com/", "host intranet.example.com resolves to 10.20.30.40 (private)"},
		{"https://mixed.example.com/", "host mixed.example.com resolves to 192.168.0.10 (private)"},

		// CGNAT, unspecified, multicast, broadcast.
		{"http://100.64.0.1/", "(carrier-grade NAT)"},
		{"http://100.127.255.254/", "(carrier-grade NAT)"},
		{"http://0.0.0.0/", "(unspecified)"},
		{"http://0.1.2.3/", "(unspecified)"},
		{"http://[::]/", "(unspecified)"},
		{"http://224.0.0.1/", "(multicast)"},
		{"http://239.255.255.250/", "(multicast)"},
		{"http://[ff02::1]/", "(multicast)"},
		{"http://255.255.255.255/", "(broadcast)"},

		// Schemes and shapes.
		{"ftp://api.example.com/", `scheme "ftp" is not allowed`},
		{"file:///etc/passwd", `scheme "file" is not allowed`},
		{"gopher://api.example.com:70/", `scheme "gopher" is not allowed`},
		{"api.example.com/v1", "URL has no scheme"},
		{"https:///path", "URL has no host"},
		{"http:api.example.com", "not an absolute http(s)://host URL"},
		{"http://[::1", "not a valid URL"},
	}
	p := &outbound.URLPolicy{Resolver: newResolver()}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := p.CheckURL(context.Background(), tt.url)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckURL = %v, want allowed", err)
				}
				return
			}
			if !errors.Is(err, outbound.ErrURLRefused) {
				t.Fatalf("CheckURL = %v, want an error wrapping ErrURLRefused", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckURL = %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCheckURLMessage(t *testing.T) {
	err := (&outbound.URLPolicy{}).CheckURL(context.Background(), "https://169.254.169.254/")
	want := "outbound URL refused by policy: https://169.254.169.254/: host resolves to 169.254.169.254 (link-local/cloud metadata); add it to outbound.allow_cidrs to allow"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

func TestCheckURLAllowLists(t *testing.T) {
	res := newResolver()
	p, err := outbound.NewURLPolicy([]string{"10.0.0.0/8", " fd00::/8 ", "192.168.7.7"}, []string{"Vault.Internal", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	p.Resolver = res
	tests := []struct {
		url     string
		allowed bool
	}{
		{"http://10.1.2.3/", true},
		{"https://intranet.example.com/", true},
		{"http://[::ffff:10.1.2.3]/", true},
		{"http://[fd00:ec2::254]/", true},
		{"http://192.168.7.7/", true},
		{"http://192.168.7.8/", false},
		{"http://172.16.0.1/", false},
		{"http://169.254.169.254/", false},
		{"https://VAULT.internal:8200/v1/sys", true},
		{"https://vault.internal./", true},
		{"http://127.0.0.1:8080/", true},
		{"http://127.0.0.2/", false},
		{"http://localhost/", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := p.CheckURL(context.Background(), tt.url)
			if tt.allowed && err != nil {
				t.Fatalf("CheckURL = %v, want allowed", err)
			}
			if !tt.allowed && !errors.Is(err, outbound.ErrURLRefused) {
				t.Fatalf("CheckURL = %v, want refused", err)
			}
		})
	}
	if n := res.count("vault.internal"); n != 0 {
		t.Errorf("an allowlisted host was resolved %d times; it should not need resolving", n)
	}
}

func TestCheckURLResolverFailure(t *testing.T) {
	p := &outbound.URLPolicy{Resolver: newResolver()}
	err := p.CheckURL(context.Background(), "https://nxdomain.example.com/")
	if err == nil {
		t.Fatal("an unresolvable host passed")
	}
	if errors.Is(err, outbound.ErrURLRefused) {
		t.Errorf("a DNS failure is not a policy refusal: %v", err)
	}
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !strings.Contains(err.Error(), "cannot resolve host nxdomain.example.com") {
		t.Errorf("err = %v, want it to name the host and wrap the DNS error", err)
	}
	if err := (&outbound.URLPolicy{Resolver: &fakeResolver{answers: map[string][]string{"empty.example.com": {}}}}).CheckURL(context.Background(), "https://empty.example.com/"); err == nil {
		t.Error("a host with no address passed")
	}
}

func TestCheckURLNeverLeaksCredentials(t *testing.T) {
	p := &outbound.URLPolicy{Resolver: newResolver()}
	secrets := []string{"hunter2", "s3cr3t-token", "sig=abc123", "admin"}
	urls := []string{
		"https://admin:hunter2@10.0.0.1/path?token=s3cr3t-token&sig=abc123",
		"https://admin:hunter2@intranet.example.com/?token=s3cr3t-token",
		"ftp://admin:hunter2@api.example.com/?token=s3cr3t-token",
		"https://admin:hunter2@nxdomain.example.com/?token=s3cr3t-token",
		"admin:hunter2@10.0.0.1",
		"http://admin:hunter2@[::1/?token=s3cr3t-token",
		"https://admin:hunter2@169.254.169.254/latest/meta-data/iam/s3cr3t-token",
	}
	for _, u := range urls {
		err := p.CheckURL(context.Background(), u)
		if err == nil {
			t.Errorf("CheckURL(%q) passed", u)
			continue
		}
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) {
				t.Errorf("CheckURL error %q contains %q", err, s)
			}
		}
	}
}

func TestNewURLPolicyErrors(t *testing.T) {
	_, err := outbound.NewURLPolicy([]string{"10.0.0.0/8", "10.0.0.0/33", "not-a-cidr"}, []string{"ok.example.com", "", "https://x.example.com/"})
	if err == nil {
		t.Fatal("bad entries were accepted")
	}
	for _, want := range []string{`"10.0.0.0/33"`, `"not-a-cidr"`, `outbound.allow_hosts: ""`, `"https://x.example.com/"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	p, err := outbound.NewURLPolicy([]string{"10.1.2.3/8", "::1"}, []string{"::1", "Host.Example.COM."})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(p.AllowCIDRs); got != "[10.0.0.0/8 ::1/128]" {
		t.Errorf("AllowCIDRs = %s", got)
	}
	if got := fmt.Sprint(p.AllowHosts); got != "[::1 host.example.com]" {
		t.Errorf("AllowHosts = %s", got)
	}
	if p, err := outbound.NewURLPolicy(nil, nil); err != nil || p == nil {
		t.Errorf("empty lists = %v, %v", p, err)
	}
}

func TestNilURLPolicyRefusesInternal(t *testing.T) {
	var p *outbound.URLPolicy
	if err := p.CheckURL(context.Background(), "http://127.0.0.1/"); !errors.Is(err, outbound.ErrURLRefused) {
		t.Fatalf("nil policy: %v", err)
	}
	if p.HTTPClient(0) == nil {
		t.Fatal("nil policy: no client")
	}
}

// countingServer returns a test server on 127.0.0.1 and a counter of the
// requests it served.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, error) {
	t.Helper()
	resp, err := c.Get(u)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func TestHTTPClient(t *testing.T) {
	srv, served := countingServer(t, nil)
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	t.Run("refuses to dial loopback", func(t *testing.T) {
		before := served.Load()
		c := (&outbound.URLPolicy{}).HTTPClient(0)
		_, err := get(t, c, srv.URL)
		if !errors.Is(err, outbound.ErrURLRefused) {
			t.Fatalf("GET %s = %v, want refused", srv.URL, err)
		}
		if !strings.Contains(err.Error(), "127.0.0.1 is loopback") {
			t.Errorf("err = %v", err)
		}
		if served.Load() != before {
			t.Error("the refused request reached the server")
		}
	})
	t.Run("allows loopback when allowlisted", func(t *testing.T) {
		p, err := outbound.NewURLPolicy([]string{"127.0.0.0/8"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := get(t, p.HTTPClient(0), srv.URL)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET = %v, %v", resp, err)
		}
	})
	t.Run("allows an allowlisted host", func(t *testing.T) {
		p := &outbound.URLPolicy{AllowHosts: []string{"api.internal.test"}, Resolver: &fakeResolver{answers: map[string][]string{"api.internal.test": {"127.0.0.1"}}}}
		resp, err := get(t, p.HTTPClient(0), fmt.Sprintf("http://api.internal.test:%d/", port))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET = %v, %v", resp, err)
		}
	})
	t.Run("defeats DNS rebinding", func(t *testing.T) {
		// The first answer (seen by CheckURL) is public; later ones are
		// loopback.
		res := &fakeResolver{next: func(_ string, call int) []string {
			if call == 1 {
				return []string{"93.184.215.14"}
			}
			return []string{"127.0.0.1"}
		}}
		p := &outbound.URLPolicy{Resolver: res}
		u := fmt.Sprintf("http://rebind.example.com:%d/", port)
		if err := p.CheckURL(context.Background(), u); err != nil {
			t.Fatalf("CheckURL = %v", err)
		}
		before := served.Load()
		_, err := get(t, p.HTTPClient(0), u)
		if !errors.Is(err, outbound.ErrURLRefused) {
			t.Fatalf("GET = %v, want refused at dial time", err)
		}
		if served.Load() != before {
			t.Error("the rebound request reached the server")
		}
	})
	t.Run("refuses redirects to refused addresses", func(t *testing.T) {
		target, targetServed := countingServer(t, nil)
		targetPort := target.Listener.Addr().(*net.TCPAddr).Port
		redirector, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, fmt.Sprintf("http://internal.test:%d/secret", targetPort), http.StatusFound)
		})
		ru, _ := url.Parse(redirector.URL)
		p := &outbound.URLPolicy{
			AllowHosts: []string{ru.Hostname()}, // only the redirector is allowed
			Resolver:   &fakeResolver{answers: map[string][]string{"internal.test": {"127.0.0.1"}}},
		}
		_, err := get(t, p.HTTPClient(0), redirector.URL)
		if !errors.Is(err, outbound.ErrURLRefused) {
			t.Fatalf("GET = %v, want the redirect refused", err)
		}
		if targetServed.Load() != 0 {
			t.Error("the redirect target was reached")
		}
	})
	t.Run("follows allowed redirects", func(t *testing.T) {
		redirector, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, srv.URL+"/next", http.StatusFound)
		})
		p, _ := outbound.NewURLPolicy([]string{"127.0.0.1/32"}, nil)
		resp, err := get(t, p.HTTPClient(0), redirector.URL)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET = %v, %v", resp, err)
		}
	})
}

// FuzzCheckURL checks that no URL makes CheckURL panic or repeat the
// password or query of the URL it refuses.
func FuzzCheckURL(f *testing.F) {
	for _, s := range [][2]string{
		{"10.0.0.1", "hunter22"}, {"[::1]:80", "Pa55word"}, {"intranet.example.com", "tok3nabc"},
		{"api.example.com", "zzzzzzzz"}, {"[fe80::1%25eth0]", "abcdefgh"}, {"", "qwertyui"},
	} {
		f.Add(s[0], s[1])
	}
	p := &outbound.URLPolicy{Resolver: newResolver()}
	f.Fuzz(func(t *testing.T, host, pw string) {
		// Secrets are 8+ alphanumerics that the message would not contain
		// anyway (as part of the host, say).
		if len(pw) < 8 || strings.Trim(pw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return
		}
		if err := p.CheckURL(context.Background(), "https://"+host+"/p"); strings.Contains(host, pw) || err != nil && strings.Contains(err.Error(), pw) {
			return
		}
		for _, raw := range []string{
			"https://user:" + pw + "@" + host + "/p",
			"https://" + host + "/p?token=" + pw,
			"https://" + host + "/" + pw,
		} {
			err := p.CheckURL(context.Background(), raw)
			if err != nil && strings.Contains(err.Error(), pw) {
				t.Fatalf("CheckURL(%q) error repeats the secret: %v", raw, err)
			}
		}
	})
}
