package fortigate

import (
	"context"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/fortigate/fortigatetest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

var (
	dana   = connectors.Subject{EmployeeID: "E100", Username: "dana", Email: "dana@example.com"}
	nobody = connectors.Subject{EmployeeID: "E999", Username: "nobody", Email: "nobody@example.com"}
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newConn(t *testing.T, f *fortigatetest.FortiGate, mod ...func(*Config)) *Connector {
	t.Helper()
	cfg := Config{URL: f.Srv.URL, APIToken: secret.FromValue(f.Token)}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New("fw-hq", cfg, testPolicy)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func revoke(s connectors.Subject) connectors.Request {
	return connectors.Request{Operation: connectors.OpRevokeVPN, Subject: s}
}

// TestRevokeVPNDeparture is one departure, request by request, in order:
// the two candidate names are looked up, both monitors read, the user
// disabled, dana's two SSL-VPN sessions (one listed as DANA) deleted and
// both phase 2 selectors of her dial-up tunnel brought down; sam's session
// and tunnel stay. Verify then reads the same three things back.
func TestRevokeVPNDeparture(t *testing.T) {
	f := fortigatetest.New(t, false)
	f.SeedDana()
	c := newConn(t, f)

	res, err := c.Do(ctxT(t), revoke(dana))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if res.Outcome != connectors.OutcomeDone || res.Account != "dana" {
		t.Fatalf("Do = %+v", res)
	}
	want := []string{
		"GET /api/v2/cmdb/user/local/dana?vdom=root",
		"GET /api/v2/cmdb/user/local/dana@example.com?vdom=root",
		"GET /api/v2/monitor/vpn/ssl?vdom=root",
		"GET /api/v2/monitor/vpn/ipsec?vdom=root",
		`PUT /api/v2/cmdb/user/local/dana?vdom=root {"status":"disable"}`,
		`POST /api/v2/monitor/vpn/ssl/delete?vdom=root {"index":3,"type":"websession"}`,
		`POST /api/v2/monitor/vpn/ssl/delete?vdom=root {"index":7,"type":"websession"}`,
		`POST /api/v2/monitor/vpn/ipsec/tunnel_down?vdom=root {"p1name":"dialup_0","p2name":"dialup-p2","p2serial":11}`,
		`POST /api/v2/monitor/vpn/ipsec/tunnel_down?vdom=root {"p1name":"dialup_0","p2name":"dialup-p2b","p2serial":12}`,
	}
	if got := f.RequestLog(); !slices.Equal(got, want) {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Data["user_disabled"] != "dana" || res.Data["ssl_sessions_ended"] != "2" || res.Data["ipsec_tunnels_down"] != "2" {
		t.Errorf("Data = %v", res.Data)
	}
	t.Logf("revoke_vpn: %d requests", len(want))

	f.ResetLog()
	ver, err := c.Verify(ctxT(t), revoke(dana))
	if err != nil || !ver.OK {
		t.Fatalf("Verify = %+v, %v", ver, err)
	}
	if !strings.Contains(ver.Detail, "status=disable") || !strings.Contains(ver.Detail, "0 SSL-VPN sessions") {
		t.Errorf("Verify detail %q", ver.Detail)
	}
	t.Logf("verify: %d requests (%s)", len(f.RequestLog()), ver.Detail)
	if f.Users["sam"].Status != statusEnable || len(f.SSL) != 1 || f.SSL[0].User != "sam" || f.Tunnels[1].Proxies[0].Status != "up" {
		t.Errorf("another user's state changed: %+v %+v", f.SSL, f.Tunnels[1])
	}

	again, err := c.Do(ctxT(t), revoke(dana))
	if err != nil || again.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("second Do = %+v, %v", again, err)
	}
}

// TestFailures is the table over the appliance's interesting answers to
// the first request of a revocation.
func TestFailures(t *testing.T) {
	cases := []struct {
		name      string
		failure   fortigatetest.Failure
		kind      connectors.Kind
		retryable bool
		mention   string
	}{
		{"wrong key", fortigatetest.Failure{Status: 401}, connectors.KindAuth, false, "API token is wrong"},
		{"no permission", fortigatetest.FailureFor(connectors.KindForbidden), connectors.KindForbidden, false, "lacks the permission"},
		{"rate limited", fortigatetest.FailureFor(connectors.KindRateLimited), connectors.KindRateLimited, true, "Too Many Requests"},
		{"server error", fortigatetest.Failure{Status: 500, ContentType: "text/html", Body: "<html>Internal</html>"}, connectors.KindTransient, true, "HTML page"},
		{"HTML login page on 200", fortigatetest.Failure{Status: 200, ContentType: "text/html", Body: "<!DOCTYPE html><html><title>FortiGate</title></html>"}, connectors.KindInvalid, false, "HTML page"},
		{"malformed JSON", fortigatetest.Failure{Status: 200, ContentType: "application/json", Body: `{"results": [`}, connectors.KindInvalid, false, "not the FortiOS JSON envelope"},
		{"error envelope on 200", fortigatetest.Failure{Status: 200, ContentType: "application/json", Body: `{"status":"error","http_status":424,"error":-23}`}, connectors.KindInvalid, false, "FortiOS error -23"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := fortigatetest.New(t, false)
			f.SeedDana()
			c := newConn(t, f)
			f.Fail(tc.failure)
			_, err := c.Do(ctxT(t), revoke(dana))
			assertErr(t, err, tc.kind, tc.retryable, tc.mention)
			if tc.kind == connectors.KindRateLimited && connectors.RetryAfterOf(err) != 7*time.Second {
				t.Errorf("RetryAfter = %s, want 7s", connectors.RetryAfterOf(err))
			}
			for _, l := range f.RequestLog() {
				if !strings.HasPrefix(l, "GET ") {
					t.Errorf("a change was sent after a failed read: %s", l)
				}
			}
		})
	}

	t.Run("user not found is an idempotent success", func(t *testing.T) {
		f := fortigatetest.New(t, false)
		f.SeedDana()
		res, err := newConn(t, f).Do(ctxT(t), revoke(nobody))
		if err != nil || res.Outcome != connectors.OutcomeNoneFound {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})

	t.Run("unreachable is retryable", func(t *testing.T) {
		f := fortigatetest.New(t, false)
		c := newConn(t, f)
		f.Srv.Close()
		_, err := c.Do(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindTransient, true, "unreachable")
	})

	t.Run("TLS failure is permanent until ca_file is set", func(t *testing.T) {
		f := fortigatetest.New(t, true)
		f.SeedDana()
		_, err := newConn(t, f).Do(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindInvalid, false, "ca_file")

		ca := filepath.Join(t.TempDir(), "ca.pem")
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Srv.Certificate().Raw})
		if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := newConn(t, f, func(c *Config) { c.CAFile = ca }).Do(ctxT(t), revoke(dana))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("with ca_file: %+v, %v", res, err)
		}
	})

	t.Run("user found twice is ambiguous and changes nothing", func(t *testing.T) {
		f := fortigatetest.New(t, false)
		f.SeedDana()
		f.Users["dana@example.com"] = &fortigatetest.User{Name: "dana@example.com", Status: statusEnable}
		_, err := newConn(t, f).Do(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindInvalid, false, "matches 2 FortiGate local users (dana, dana@example.com)")
		if n := len(f.RequestLog()); n != 2 {
			t.Errorf("%d requests, want the 2 lookups only: %v", n, f.RequestLog())
		}
	})

	t.Run("session that reappears after termination is a retryable verification error", func(t *testing.T) {
		f := fortigatetest.New(t, false)
		f.SeedDana()
		f.Reappear = true
		c := newConn(t, f)
		if res, err := c.Do(ctxT(t), revoke(dana)); err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		_, err := c.Verify(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindTransient, true, "reappeared")
	})

	t.Run("one failed step does not stop the rest and is reported with what was done", func(t *testing.T) {
		f := fortigatetest.New(t, false)
		f.SeedDana()
		c := newConn(t, f)
		// The four reads pass, the PUT is refused.
		f.Mu.Lock()
		f.FailNext = nil
		f.Mu.Unlock()
		f.Fail(passThrough(), passThrough(), passThrough(), passThrough(), fortigatetest.FailureFor(connectors.KindForbidden))
		_, err := c.Do(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindForbidden, false, "done: 2 SSL-VPN sessions ended; 2 IPsec tunnels brought down")
		if len(f.SSL) != 1 {
			t.Errorf("sessions left %+v: the refused PUT stopped the terminations", f.SSL)
		}
	})
}

// passThrough is a queued "failure" that lets the request through.
func passThrough() fortigatetest.Failure { return fortigatetest.Failure{Status: -1} }

func assertErr(t *testing.T, err error, kind connectors.Kind, retryable bool, mention string) {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	if ce.Kind != kind || connectors.IsRetryable(err) != retryable {
		t.Fatalf("error kind %s retryable %t, want %s %t: %v", ce.Kind, connectors.IsRetryable(err), kind, retryable, err)
	}
	if !strings.Contains(err.Error(), mention) {
		t.Errorf("error %q does not mention %q", err, mention)
	}
	if !strings.Contains(err.Error(), "fw-hq") {
		t.Errorf("error %q does not name the system", err)
	}
	if strings.Contains(err.Error(), fortigatetest.Token) {
		t.Errorf("error %q carries the token", err)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"url missing":     {Config{APIToken: secret.FromValue("x")}, "url is required"},
		"plain http":      {Config{URL: "http://fw.example.com", APIToken: secret.FromValue("x")}, "url"},
		"path":            {Config{URL: "https://fw.example.com/api", APIToken: secret.FromValue("x")}, "without a path"},
		"no token":        {Config{URL: "https://fw.example.com"}, "api_token is required"},
		"bad vdom":        {Config{URL: "https://fw.example.com", APIToken: secret.FromValue("x"), VDOM: "a b"}, "vdom"},
		"bad from":        {Config{URL: "https://fw.example.com", APIToken: secret.FromValue("x"), UserNameFrom: []string{"upn"}}, "user_name_from[0]"},
		"negative timout": {Config{URL: "https://fw.example.com", APIToken: secret.FromValue("x"), Timeout: -1}, "timeout"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want mention of %q", err, tc.want)
			}
		})
	}
	if err := (Config{URL: "https://fw.example.com:8443", APIToken: secret.FromValue("x"), UserNameFrom: []string{"attr:vpn_user", "email_local"}}).Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func TestConformance(t *testing.T) {
	fakes := map[connectors.Connector]*fortigatetest.FortiGate{}
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			f := fortigatetest.New(t, false)
			f.SeedDana()
			c := newConn(t, f)
			fakes[c] = f
			return c
		},
		Present: dana,
		Missing: nobody,
		Ops:     []connectors.Operation{connectors.OpRevokeVPN},
		InjectFailure: func(t *testing.T, c connectors.Connector, k connectors.Kind) {
			fakes[c].Fail(fortigatetest.FailureFor(k))
		},
		Slow: func(t *testing.T, c connectors.Connector) {
			f := fakes[c]
			f.Mu.Lock()
			f.Stall = make(chan struct{})
			f.Mu.Unlock()
		},
		Secrets: []string{fortigatetest.Token},
	})
}
