package intune

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/internal/callscript"
	"github.com/kineticsec/kinetic/connectors/intune/intunetest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

var dana = connectors.Subject{Email: "dana@example.com", Attributes: map[string]string{"upn": "dana@corp.example.com"}}

// now is the injected clock; the case started an hour before.
var now = time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newConn(t *testing.T, base string) *Connector {
	t.Helper()
	c, err := New("mdm", Config{TenantID: "contoso.onmicrosoft.com", ClientID: "app-1", ClientSecret: secret.FromValue(fakeSecret),
		AuthorityURL: base, GraphURL: base + "/v1.0"}, testPolicy, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func req(op connectors.Operation, kv ...string) connectors.Request {
	p := map[string]string{"since": "2026-12-07T17:00:00Z"}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return connectors.Request{Operation: op, Subject: dana, Params: p}
}

func tokenCall() callscript.Call {
	return callscript.Call{Method: "POST", Path: "/contoso.onmicrosoft.com/oauth2/v2.0/token",
		Form: map[string]string{"grant_type": "client_credentials", "client_id": "app-1", "client_secret": fakeSecret, "scope": callscript.Base + "/.default"},
		Resp: `{"token_type":"Bearer","expires_in":3599,"access_token":"` + fakeToken + `"}`}
}

const (
	laptop = `{"id":"dev-1","deviceName":"DANA-LT","serialNumber":"C02X","operatingSystem":"Windows","managementState":"managed","userPrincipalName":"dana@corp.example.com","deviceActionResults":[]}`
	phone  = `{"id":"dev-2","deviceName":"Dana iPhone","serialNumber":"F2LX","operatingSystem":"iOS","managementState":"managed","userPrincipalName":"dana@corp.example.com","deviceActionResults":[{"actionName":"remoteLock","actionState":"done","startDateTime":"2026-01-05T10:00:00Z","lastUpdatedDateTime":"2026-01-05T10:01:00Z"}]}`
	// phoneLocked has a lock issued after the case started.
	phoneLocked  = `{"id":"dev-2","deviceName":"Dana iPhone","serialNumber":"F2LX","operatingSystem":"iOS","managementState":"managed","userPrincipalName":"dana@corp.example.com","deviceActionResults":[{"actionName":"remoteLock","actionState":"pending","startDateTime":"2026-12-07T17:30:00Z","lastUpdatedDateTime":"2026-12-07T17:30:00Z"}]}`
	laptopLocked = `{"id":"dev-1","deviceName":"DANA-LT","serialNumber":"C02X","operatingSystem":"Windows","managementState":"managed","userPrincipalName":"dana@corp.example.com","deviceActionResults":[{"actionName":"remoteLock","actionState":"done","startDateTime":"2026-12-07T18:00:00Z","lastUpdatedDateTime":"2026-12-07T18:00:05Z"}]}`
)

func listCall(devs ...string) callscript.Call {
	return callscript.Call{Method: "GET", Path: "/v1.0/users/dana@corp.example.com/managedDevices", Bearer: fakeToken,
		Resp: `{"value":[` + strings.Join(devs, ",") + `]}`}
}

func actionCall(id, action, body string) callscript.Call {
	return callscript.Call{Method: "POST", Path: "/v1.0/deviceManagement/managedDevices/" + id + "/" + action, Bearer: fakeToken, Body: body, Status: 204}
}

// TestLockDeparture: token, list Dana's devices, lock both (the phone's
// lock from January is older than the case, so it is sent again), then the
// read-back shows one done and one pending.
func TestLockDeparture(t *testing.T) {
	s := callscript.New(t,
		tokenCall(),
		listCall(laptop, phone),
		actionCall("dev-1", "remoteLock", ""),
		actionCall("dev-2", "remoteLock", ""),
		listCall(laptopLocked, phoneLocked),
	)
	c := newConn(t, s.URL())
	res, err := c.Do(ctxT(t), req(connectors.OpLockDevices))
	if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["issued"] != "dev-1,dev-2" {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	ver, err := c.Verify(ctxT(t), req(connectors.OpLockDevices))
	if err != nil || !ver.OK || ver.Detail != "remoteLock: DANA-LT=done, Dana iPhone=pending" {
		t.Fatalf("Verify = %+v, %v", ver, err)
	}
}

func TestRetireAndWipe(t *testing.T) {
	t.Run("retire one device by serial", func(t *testing.T) {
		s := callscript.New(t, tokenCall(), listCall(laptop, phone), actionCall("dev-2", "retire", ""))
		res, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpRetireDevices, "serials", "f2lx"))
		if err != nil || res.Data["issued"] != "dev-2" {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("wipe sends a full reset", func(t *testing.T) {
		s := callscript.New(t, tokenCall(), listCall(laptop), actionCall("dev-1", "wipe", `{"keepEnrollmentData":false,"keepUserData":false}`))
		res, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpWipeDevices, "legal_hold", "false"))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("a retire already issued is not sent again", func(t *testing.T) {
		retiring := strings.Replace(laptop, `"managementState":"managed"`, `"managementState":"retireIssued"`, 1)
		s := callscript.New(t, tokenCall(), listCall(retiring))
		res, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpRetireDevices))
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("a failed lock is sent again and verifies only once it holds", func(t *testing.T) {
		failed := strings.Replace(laptopLocked, `"actionState":"done"`, `"actionState":"failed"`, 1)
		s := callscript.New(t, tokenCall(), listCall(failed), listCall(failed), actionCall("dev-1", "remoteLock", ""))
		c := newConn(t, s.URL())
		if ver, err := c.Verify(ctxT(t), req(connectors.OpLockDevices)); err != nil || ver.OK || !strings.Contains(ver.Detail, "DANA-LT=failed") {
			t.Fatalf("Verify = %+v, %v", ver, err)
		}
		if res, err := c.Do(ctxT(t), req(connectors.OpLockDevices)); err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
}

// Refusals: a clear error and nothing sent (no action call is scripted).
func TestRefusals(t *testing.T) {
	t.Run("wipe under a legal hold makes no request at all", func(t *testing.T) {
		s := callscript.New(t)
		_, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpWipeDevices, "legal_hold", "true"))
		assertErr(t, err, connectors.KindInvalid, "legal hold covers the case")
	})
	t.Run("a serial that is not the person's", func(t *testing.T) {
		s := callscript.New(t, tokenCall(), listCall(laptop))
		_, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpLockDevices, "serials", "C02X,ZZZ9"))
		assertErr(t, err, connectors.KindInvalid, "serial ZZZ9 is not among the subject's managed devices: nothing was sent")
	})
	t.Run("a listing holding another user's device", func(t *testing.T) {
		other := strings.Replace(phone, "dana@corp.example.com", "sam@corp.example.com", 1)
		s := callscript.New(t, tokenCall(), listCall(laptop, other))
		_, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpWipeDevices))
		assertErr(t, err, connectors.KindInvalid, "device dev-2 of another user")
	})
	t.Run("a bad since", func(t *testing.T) {
		s := callscript.New(t)
		_, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpLockDevices, "since", "yesterday"))
		assertErr(t, err, connectors.KindInvalid, "params.since")
	})
}

// TestOneFailureDoesNotStopTheRest: the laptop's lock is throttled, the
// phone's still goes out, and the result keeps what was done beside a
// retryable error.
func TestOneFailureDoesNotStopTheRest(t *testing.T) {
	s := callscript.New(t, tokenCall(), listCall(laptop, phone),
		callscript.Call{Method: "POST", Path: "/v1.0/deviceManagement/managedDevices/dev-1/remoteLock", Bearer: fakeToken, Status: 429,
			RespHeader: map[string]string{"Retry-After": "20"}, Resp: `{"error":{"code":"TooManyRequests","message":"slow down"}}`},
		actionCall("dev-2", "remoteLock", ""))
	res, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpLockDevices))
	assertErr(t, err, connectors.KindRateLimited, "1 of 2 devices failed")
	if connectors.RetryAfterOf(err) != 20*time.Second || res.Data["issued"] != "dev-2" || res.Data["failed"] != "dev-1" {
		t.Fatalf("res = %+v, retry after %s", res, connectors.RetryAfterOf(err))
	}
}

func TestDeviceDeletedMidwayIsNotAFailure(t *testing.T) {
	s := callscript.New(t, tokenCall(), listCall(laptop, phone),
		callscript.Call{Method: "POST", Path: "/v1.0/deviceManagement/managedDevices/dev-1/remoteLock", Bearer: fakeToken, Status: 404,
			Resp: `{"error":{"code":"ResourceNotFound","message":"The managed device was not found."}}`},
		actionCall("dev-2", "remoteLock", ""))
	res, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpLockDevices))
	if err != nil || res.Data["gone"] != "dev-1" || res.Data["issued"] != "dev-2" || !strings.Contains(res.Detail, "1 no longer in Intune") {
		t.Fatalf("Do = %+v, %v", res, err)
	}
}

func TestNoUserIsNoneFound(t *testing.T) {
	s := callscript.New(t, tokenCall(),
		callscript.Call{Method: "GET", Path: "/v1.0/users/dana@corp.example.com/managedDevices", Bearer: fakeToken, Status: 404,
			Resp: `{"error":{"code":"Request_ResourceNotFound","message":"Resource 'dana@corp.example.com' does not exist"}}`})
	res, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpLockDevices))
	if err != nil || res.Outcome != connectors.OutcomeNoneFound {
		t.Fatalf("Do = %+v, %v", res, err)
	}
}

func TestExpiredTokenIsReplacedOnce(t *testing.T) {
	s := callscript.New(t, tokenCall(),
		callscript.Call{Method: "GET", Path: "/v1.0/users/dana@corp.example.com/managedDevices", Bearer: fakeToken, Resp: `{"value":[]}`},
		callscript.Call{Method: "GET", Path: "/v1.0/users/dana@corp.example.com/managedDevices", Bearer: fakeToken, Status: 401, Resp: `{"error":{"code":"InvalidAuthenticationToken","message":"Lifetime validation failed, the token is expired."}}`},
		tokenCall(),
		callscript.Call{Method: "GET", Path: "/v1.0/users/dana@corp.example.com/managedDevices", Bearer: fakeToken, Resp: `{"value":[]}`})
	c := newConn(t, s.URL())
	for i := 0; i < 2; i++ {
		if _, err := c.Lookup(ctxT(t), dana); err != nil {
			t.Fatalf("Lookup %d: %v", i, err)
		}
	}
}

func assertErr(t *testing.T, err error, kind connectors.Kind, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %s", kind)
	}
	if got := connectors.KindOf(err); got != kind {
		t.Fatalf("kind = %s, want %s (%v)", got, kind, err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	for _, s := range []string{fakeSecret, fakeToken} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error carries a secret: %q", err)
		}
	}
}

func TestFailureTable(t *testing.T) {
	for name, tc := range map[string]struct {
		call      callscript.Call
		token     bool // the failure is the token endpoint's
		kind      connectors.Kind
		retryable bool
		want      string
	}{
		"token: bad secret":       {token: true, call: callscript.Call{Status: 401, Resp: `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}`}, kind: connectors.KindAuth, want: "invalid_client: AADSTS7000215"},
		"token: HTML":             {token: true, call: callscript.Call{Status: 502, RespHeader: map[string]string{"Content-Type": "text/html"}, Resp: `<html>proxy</html>`}, kind: connectors.KindTransient, retryable: true, want: "HTML page"},
		"401 after a fresh token": {call: callscript.Call{Status: 401, Resp: `{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure."}}`}, kind: connectors.KindAuth},
		"403":                     {call: callscript.Call{Status: 403, Resp: `{"error":{"code":"Forbidden","message":"Application is not authorized to perform this operation."}}`}, kind: connectors.KindForbidden, want: "application permissions"},
		"429":                     {call: callscript.Call{Status: 429, RespHeader: map[string]string{"Retry-After": "7"}, Resp: `{"error":{"code":"TooManyRequests","message":"throttled"}}`}, kind: connectors.KindRateLimited, retryable: true, want: "retry after 7s"},
		"500":                     {call: callscript.Call{Status: 500, Resp: `{"error":{"code":"InternalServerError","message":"oops"}}`}, kind: connectors.KindTransient, retryable: true},
		"HTML on 200":             {call: callscript.Call{RespHeader: map[string]string{"Content-Type": "text/html"}, Resp: `<html>login</html>`}, kind: connectors.KindInvalid, want: "not JSON"},
		"malformed JSON":          {call: callscript.Call{Resp: `{"value":[{"id":`}, kind: connectors.KindInvalid, want: "not JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			var calls []callscript.Call
			if tc.token {
				c := tokenCall()
				c.Status, c.Resp, c.RespHeader = tc.call.Status, tc.call.Resp, tc.call.RespHeader
				calls = []callscript.Call{c}
			} else {
				c := tc.call
				c.Method, c.Path, c.Bearer = "GET", "/v1.0/users/dana@corp.example.com/managedDevices", fakeToken
				calls = []callscript.Call{tokenCall(), c}
			}
			s := callscript.New(t, calls...)
			_, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpLockDevices))
			assertErr(t, err, tc.kind, tc.want)
			if connectors.IsRetryable(err) != tc.retryable {
				t.Fatalf("retryable = %t, want %t", connectors.IsRetryable(err), tc.retryable)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{TenantID: "contoso.onmicrosoft.com", ClientID: "app", ClientSecret: secret.FromValue("x")}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"no tenant":       {func(c *Config) { c.TenantID = "" }, "tenant_id is required"},
		"bad tenant":      {func(c *Config) { c.TenantID = "a/b" }, "tenant_id"},
		"no client":       {func(c *Config) { c.ClientID = "" }, "client_id is required"},
		"no secret":       {func(c *Config) { c.ClientSecret = secret.Secret{} }, "client_secret is required"},
		"http graph":      {func(c *Config) { c.GraphURL = "http://graph.example.com/v1.0" }, "graph_url must use https"},
		"negative window": {func(c *Config) { c.ReuseWindow = -1 }, "reuse_window"},
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// The fake's credentials, which the scripted tests use too.
const (
	fakeSecret = intunetest.Secret
	fakeToken  = intunetest.Token
)

// fakes maps a connector built by the conformance harness to its fake.
var fakes sync.Map

func TestConformance(t *testing.T) {
	for _, op := range Operations() {
		t.Run(string(op), func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				New: func(t *testing.T) connectors.Connector {
					f := intunetest.New(t)
					f.SeedDana()
					c, err := New("mdm", Config{TenantID: intunetest.Tenant, ClientID: intunetest.ClientID, ClientSecret: secret.FromValue(fakeSecret),
						AuthorityURL: f.Srv.URL, GraphURL: f.Srv.URL + "/v1.0"}, testPolicy)
					if err != nil {
						t.Fatal(err)
					}
					fakes.Store(c, f)
					return c
				},
				Present: connectors.Subject{Email: "dana@example.com"},
				Missing: connectors.Subject{Email: "nobody@example.com"},
				Ops:     []connectors.Operation{op},
				InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
					f, _ := fakes.Load(c)
					f.(*intunetest.Fake).FailWith(kind)
				},
				Slow: func(t *testing.T, c connectors.Connector) {
					f, _ := fakes.Load(c)
					f.(*intunetest.Fake).Block()
				},
				Secrets: []string{fakeSecret, fakeToken},
			})
		})
	}
}

// TestTokenRenewedByTheClock: the cached token is reused until shortly
// before expires_in runs out on the injected clock, then fetched again.
func TestTokenRenewedByTheClock(t *testing.T) {
	list := callscript.Call{Method: "GET", Path: "/v1.0/users/dana@corp.example.com/managedDevices", Bearer: fakeToken, Resp: `{"value":[]}`}
	s := callscript.New(t, tokenCall(), list, list, tokenCall(), list)
	clock := now
	c, err := New("mdm", Config{TenantID: "contoso.onmicrosoft.com", ClientID: "app-1", ClientSecret: secret.FromValue(fakeSecret),
		AuthorityURL: s.URL(), GraphURL: s.URL() + "/v1.0"}, testPolicy, WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	for _, advance := range []time.Duration{0, 50 * time.Minute, 10 * time.Minute} { // 3599s lifetime, renewed 2 minutes early
		clock = clock.Add(advance)
		if _, err := c.Lookup(ctxT(t), dana); err != nil {
			t.Fatalf("Lookup after %s: %v", advance, err)
		}
	}
}
