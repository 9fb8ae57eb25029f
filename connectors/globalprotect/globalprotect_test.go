package globalprotect

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/globalprotect/globalprotecttest"
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

// noSleep stands in for the wait between two reads of a commit job.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func newConn(t *testing.T, f *globalprotecttest.PANOS, mod ...func(*Config)) *Connector {
	t.Helper()
	cfg := Config{URL: f.Srv.URL, APIKey: secret.FromValue(f.Key), Gateways: []string{"gw-east", "gw-west"}, CommitAdmin: globalprotecttest.Admin}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New("pa-hq", cfg, testPolicy, WithSleep(noSleep))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func revoke(s connectors.Subject) connectors.Request {
	return connectors.Request{Operation: connectors.OpRevokeVPN, Subject: s}
}

func show(name string) string {
	return "type=config action=show xpath=" + fmt.Sprintf(globalprotecttest.UserXPath, name)
}

func current(gw string) string {
	return "type=op cmd=<show><global-protect-gateway><current-user><gateway>" + gw + "</gateway></current-user></global-protect-gateway></show>"
}

// TestRevokeVPNDeparture is one departure, request by request, in order:
// both candidate names are read from the running config, both gateways'
// current users listed, the user disabled, the admin's changes committed
// and the job read until it finishes, then dana's three sessions (two on
// gw-east, one on gw-west as CORP\dana) logged out; sam stays. Verify
// reads the running config and both gateways back.
func TestRevokeVPNDeparture(t *testing.T) {
	f := globalprotecttest.New(t, false)
	f.SeedDana()
	c := newConn(t, f)

	res, err := c.Do(ctxT(t), revoke(dana))
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	want := []string{
		show("dana"),
		show("dana@example.com"),
		current("gw-east"),
		current("gw-west"),
		"type=config action=set xpath=" + fmt.Sprintf(globalprotecttest.UserXPath, "dana") + " element=<disabled>yes</disabled>",
		"type=commit action=partial cmd=<commit><partial><admin><member>kinetic-api</member></admin></partial></commit>",
		"type=op cmd=<show><jobs><id>41</id></jobs></show>",
		"type=op cmd=<show><jobs><id>41</id></jobs></show>",
		"type=op cmd=<request><global-protect-gateway><client-logout><gateway>gw-east</gateway><user>dana</user><reason>force-logout</reason><computer>DANA-LAPTOP</computer></client-logout></global-protect-gateway></request>",
		"type=op cmd=<request><global-protect-gateway><client-logout><gateway>gw-east</gateway><user>dana</user><reason>force-logout</reason><computer>Dana’s iPhone</computer></client-logout></global-protect-gateway></request>",
		`type=op cmd=<request><global-protect-gateway><client-logout><gateway>gw-west</gateway><user>CORP\dana</user><reason>force-logout</reason><computer>DANA-LAPTOP</computer><domain>CORP</domain></client-logout></global-protect-gateway></request>`,
	}
	if got := f.RequestLog(); !slices.Equal(got, want) {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Data["user_disabled"] != "dana" || res.Data["sessions_logged_out"] != "3" {
		t.Errorf("Data = %v", res.Data)
	}
	t.Logf("revoke_vpn: %d requests", len(want))

	f.ResetLog()
	ver, err := c.Verify(ctxT(t), revoke(dana))
	if err != nil || !ver.OK || ver.Detail != "local user dana disabled in the running config, 0 GlobalProtect session(s)" {
		t.Fatalf("Verify = %+v, %v", ver, err)
	}
	t.Logf("verify: %d requests (%s)", len(f.RequestLog()), ver.Detail)
	if len(f.Sessions) != 1 || f.Sessions[0].User != "sam" || f.Running["sam"] {
		t.Errorf("sam's state changed: %+v", f.Sessions)
	}
	again, err := c.Do(ctxT(t), revoke(dana))
	if err != nil || again.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("second Do = %+v, %v", again, err)
	}
}

func TestFailures(t *testing.T) {
	cases := []struct {
		name      string
		failure   globalprotecttest.Failure
		kind      connectors.Kind
		retryable bool
		mention   string
	}{
		{"wrong key", globalprotecttest.FailureFor(connectors.KindAuth), connectors.KindAuth, false, "API key is wrong"},
		{"no permission", globalprotecttest.FailureFor(connectors.KindForbidden), connectors.KindForbidden, false, "admin role lacks"},
		{"rate limited", globalprotecttest.FailureFor(connectors.KindRateLimited), connectors.KindRateLimited, true, "429"},
		{"server error", globalprotecttest.FailureFor(connectors.KindTransient), connectors.KindTransient, true, "503"},
		{"HTML page", globalprotecttest.Failure{Status: 200, ContentType: "text/html", Body: "<!DOCTYPE html><html><body>GlobalProtect Portal</body></html>"}, connectors.KindInvalid, false, "HTML page"},
		{"HTML without content type", globalprotecttest.Failure{Status: 200, Body: "<html><head><title>Login</title></head></html>"}, connectors.KindInvalid, false, "HTML page"},
		{"not XML", globalprotecttest.Failure{Status: 200, ContentType: "application/xml", Body: `{"result": "success"}`}, connectors.KindInvalid, false, "not an XML API"},
		{"other XML root", globalprotecttest.Failure{Status: 200, ContentType: "application/xml", Body: `<result status="success"/>`}, connectors.KindInvalid, false, "not an XML API"},
		{"status neither success nor error", globalprotecttest.Failure{Status: 200, ContentType: "application/xml", Body: `<response status="ok"/>`}, connectors.KindInvalid, false, "not an XML API"},
		{"bad command", globalprotecttest.FailureFor(connectors.KindInvalid), connectors.KindInvalid, false, "code 17"},
		{"internal error", globalprotecttest.Failure{Status: 200, ContentType: "application/xml", Body: `<response status="error" code="5"><msg>Internal error</msg></response>`}, connectors.KindTransient, true, "code 5"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := globalprotecttest.New(t, false)
			f.SeedDana()
			f.Fail(tc.failure)
			_, err := newConn(t, f).Do(ctxT(t), revoke(dana))
			assertErr(t, err, tc.kind, tc.retryable, tc.mention)
			if tc.kind == connectors.KindRateLimited && connectors.RetryAfterOf(err) != 11*time.Second {
				t.Errorf("RetryAfter = %s", connectors.RetryAfterOf(err))
			}
			if len(f.RequestLog()) != 1 {
				t.Errorf("requests after a failed read: %v", f.RequestLog())
			}
		})
	}

	t.Run("user not found is an idempotent success", func(t *testing.T) {
		f := globalprotecttest.New(t, false)
		f.SeedDana()
		res, err := newConn(t, f).Do(ctxT(t), revoke(nobody))
		if err != nil || res.Outcome != connectors.OutcomeNoneFound {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})

	t.Run("unreachable is retryable", func(t *testing.T) {
		f := globalprotecttest.New(t, false)
		c := newConn(t, f)
		f.Srv.Close()
		_, err := c.Do(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindTransient, true, "unreachable")
	})

	t.Run("TLS failure is permanent until ca_file is set", func(t *testing.T) {
		f := globalprotecttest.New(t, true)
		f.SeedDana()
		_, err := newConn(t, f).Do(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindInvalid, false, "ca_file")
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Srv.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := newConn(t, f, func(c *Config) { c.CAFile = ca }).Do(ctxT(t), revoke(dana))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("with ca_file: %+v, %v", res, err)
		}
	})

	t.Run("user found twice is ambiguous and changes nothing", func(t *testing.T) {
		f := globalprotecttest.New(t, false)
		f.SeedDana()
		f.AddUser("dana@example.com", false)
		_, err := newConn(t, f).Do(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindInvalid, false, "matches 2 PAN-OS local users (dana, dana@example.com)")
		if n := len(f.RequestLog()); n != 2 {
			t.Errorf("%d requests, want the two reads: %v", n, f.RequestLog())
		}
	})

	t.Run("session that reappears after logout is a retryable verification error", func(t *testing.T) {
		f := globalprotecttest.New(t, false)
		f.SeedDana()
		f.Reappear = true
		c := newConn(t, f)
		if _, err := c.Do(ctxT(t), revoke(dana)); err != nil {
			t.Fatal(err)
		}
		_, err := c.Verify(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindTransient, true, "reappeared")
	})

	t.Run("a failed commit is reported and the logouts still happen", func(t *testing.T) {
		f := globalprotecttest.New(t, false)
		f.SeedDana()
		f.JobFail = true
		_, err := newConn(t, f).Do(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindInvalid, false, "finished FAIL: Validation Error")
		if !strings.Contains(err.Error(), "done: 3 GlobalProtect session(s) logged out") {
			t.Errorf("error %q does not report the logouts", err)
		}
		if len(f.Sessions) != 1 {
			t.Errorf("sessions left: %+v", f.Sessions)
		}
	})

	t.Run("a commit that does not finish in time is retryable", func(t *testing.T) {
		f := globalprotecttest.New(t, false)
		f.SeedDana()
		c := newConn(t, f, func(c *Config) { c.CommitWait = 1 }) // one read
		_, err := c.Do(ctxT(t), revoke(dana))
		assertErr(t, err, connectors.KindTransient, true, "has not finished after 1 reads")
	})

	t.Run("block none only logs out and says where to block", func(t *testing.T) {
		f := globalprotecttest.New(t, false)
		f.SeedDana()
		res, err := newConn(t, f, func(c *Config) { c.Block = BlockNone; c.CommitAdmin = "" }).Do(ctxT(t), revoke(dana))
		if err != nil || res.Outcome != connectors.OutcomeDone || !strings.Contains(res.Detail, "block the person at the identity provider") {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		for _, l := range f.RequestLog() {
			if strings.Contains(l, "type=config") || strings.Contains(l, "type=commit") {
				t.Errorf("block none touched the configuration: %s", l)
			}
		}
	})
}

func assertErr(t *testing.T, err error, kind connectors.Kind, retryable bool, mention string) {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	if ce.Kind != kind || connectors.IsRetryable(err) != retryable {
		t.Fatalf("error kind %s retryable %t, want %s %t: %v", ce.Kind, connectors.IsRetryable(err), kind, retryable, err)
	}
	if !strings.Contains(err.Error(), mention) || !strings.Contains(err.Error(), "pa-hq") {
		t.Errorf("error %q does not mention %q and the system", err, mention)
	}
	if strings.Contains(err.Error(), globalprotecttest.Key) {
		t.Errorf("error %q carries the API key", err)
	}
}

func TestConfigValidate(t *testing.T) {
	base := func() Config {
		return Config{URL: "https://fw.example.com", APIKey: secret.FromValue("k"), Gateways: []string{"gw"}, CommitAdmin: "api"}
	}
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"no url":          {func(c *Config) { c.URL = "" }, "url is required"},
		"path":            {func(c *Config) { c.URL = "https://fw.example.com/api" }, "without a path"},
		"no key":          {func(c *Config) { c.APIKey = secret.Secret{} }, "api_key is required"},
		"no gateways":     {func(c *Config) { c.Gateways = nil }, "gateways is required"},
		"bad gateway":     {func(c *Config) { c.Gateways = []string{"gw'x"} }, "gateways[0]"},
		"no commit admin": {func(c *Config) { c.CommitAdmin = "" }, "commit_admin is required"},
		"bad block":       {func(c *Config) { c.Block = "quarantine" }, "block:"},
		"bad vsys":        {func(c *Config) { c.VSys = "v1" }, "vsys:"},
		"bad from":        {func(c *Config) { c.UserNameFrom = []string{"upn"} }, "user_name_from[0]"},
	} {
		t.Run(name, func(t *testing.T) {
			c := base()
			tc.mod(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
	if err := base().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	fakes := map[connectors.Connector]*globalprotecttest.PANOS{}
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			f := globalprotecttest.New(t, false)
			f.SeedDana()
			c := newConn(t, f)
			fakes[c] = f
			return c
		},
		Present: dana,
		Missing: nobody,
		Ops:     []connectors.Operation{connectors.OpRevokeVPN},
		InjectFailure: func(t *testing.T, c connectors.Connector, k connectors.Kind) {
			fakes[c].Fail(globalprotecttest.FailureFor(k))
		},
		Slow: func(t *testing.T, c connectors.Connector) {
			f := fakes[c]
			f.Mu.Lock()
			f.Stall = true
			f.Mu.Unlock()
		},
		Secrets: []string{globalprotecttest.Key},
	})
}
