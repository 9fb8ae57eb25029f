package jamf

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/internal/callscript"
	"github.com/kineticsec/kinetic/connectors/jamf/jamftest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

var dana = connectors.Subject{Email: "dana@example.com", Username: "dana"}

var now = time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newConn(t *testing.T, base string, mod ...func(*Config)) *Connector {
	t.Helper()
	cfg := Config{URL: base, ClientID: "kinetic", ClientSecret: secret.FromValue(fakeSecret), LockPIN: secret.FromValue(fakePIN),
		LockMessage: "This device belongs to Example Corp", LockPhone: "+1 555 0100"}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New("jamf", cfg, testPolicy, WithClock(func() time.Time { return now }))
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
	return callscript.Call{Method: "POST", Path: "/api/oauth/token",
		Form: map[string]string{"grant_type": "client_credentials", "client_id": "kinetic", "client_secret": fakeSecret},
		Resp: `{"access_token":"` + fakeToken + `","scope":"api-role:1","token_type":"Bearer","expires_in":299}`}
}

var sections = "GENERAL,HARDWARE,USER_AND_LOCATION"

const (
	mac    = `{"id":"17","general":{"name":"Dana MacBook","managementId":"mgmt-mac"},"hardware":{"serialNumber":"C02X"},"userAndLocation":{"username":"dana","email":"Dana@Example.com"}}`
	iphone = `{"mobileDeviceId":"4","general":{"displayName":"Dana iPhone","managementId":"mgmt-ios"},"hardware":{"serialNumber":"F2LX"},"userAndLocation":{"username":"dana","emailAddress":"dana@example.com"}}`
)

func computersCall(rows ...string) callscript.Call {
	return callscript.Call{Method: "GET", Path: "/api/v1/computers-inventory", Bearer: fakeToken,
		Query: map[string]string{"section": sections, "filter": `userAndLocation.email=="dana@example.com"`, "page": "0", "page-size": "100"},
		Resp:  `{"totalCount":` + itoa(len(rows)) + `,"results":[` + strings.Join(rows, ",") + `]}`}
}

func mobileCall(rows ...string) callscript.Call {
	return callscript.Call{Method: "GET", Path: "/api/v2/mobile-devices/detail", Bearer: fakeToken,
		Query: map[string]string{"section": sections, "filter": `emailAddress=="dana@example.com"`, "page": "0", "page-size": "100"},
		Resp:  `{"totalCount":` + itoa(len(rows)) + `,"results":[` + strings.Join(rows, ",") + `]}`}
}

func commandsCall(cmd, ids string, rows ...string) callscript.Call {
	return callscript.Call{Method: "GET", Path: "/api/v2/mdm/commands", Bearer: fakeToken,
		Query: map[string]string{"filter": "clientManagementId=in=(" + ids + ");command==" + cmd, "page": "0", "page-size": "100"},
		Resp:  `{"totalCount":` + itoa(len(rows)) + `,"results":[` + strings.Join(rows, ",") + `]}`}
}

func cmdRow(mgmt, cmd, state, sent string) string {
	return `{"uuid":"u-` + mgmt + `","client":{"managementId":"` + mgmt + `","clientType":"COMPUTER"},"commandState":"` + state + `","commandType":"` + cmd + `","dateSent":"` + sent + `"}`
}

func itoa(n int) string { return string(rune('0' + n)) }

// TestLockDeparture: token, Dana's Mac and iPhone, the command queue (an
// old lock from January does not count), one DEVICE_LOCK per kind of
// device (the Mac's with the PIN, the iPhone's with the message), then
// the read-back.
func TestLockDeparture(t *testing.T) {
	s := callscript.New(t,
		tokenCall(),
		computersCall(mac),
		mobileCall(iphone),
		commandsCall("DEVICE_LOCK", "mgmt-mac,mgmt-ios", cmdRow("mgmt-ios", "DEVICE_LOCK", "ACKNOWLEDGED", "2026-01-03T09:00:00Z")),
		callscript.Call{Method: "POST", Path: "/api/v2/mdm/commands", Bearer: fakeToken, Status: 201,
			Body: `{"clientData":[{"managementId":"mgmt-mac"}],"commandData":{"commandType":"DEVICE_LOCK","pin":"` + fakePIN + `"}}`,
			Resp: `[{"id":"c-1","href":"/v2/mdm/commands/c-1"}]`},
		callscript.Call{Method: "POST", Path: "/api/v2/mdm/commands", Bearer: fakeToken, Status: 201,
			Body: `{"clientData":[{"managementId":"mgmt-ios"}],"commandData":{"commandType":"DEVICE_LOCK","message":"This device belongs to Example Corp","phoneNumber":"+1 555 0100"}}`,
			Resp: `[{"id":"c-2","href":"/v2/mdm/commands/c-2"}]`},
		// Verify.
		computersCall(mac),
		mobileCall(iphone),
		commandsCall("DEVICE_LOCK", "mgmt-mac,mgmt-ios",
			cmdRow("mgmt-mac", "DEVICE_LOCK", "ACKNOWLEDGED", "2026-12-07T18:00:01Z"),
			cmdRow("mgmt-ios", "DEVICE_LOCK", "PENDING", "2026-12-07T18:00:02Z")),
	)
	c := newConn(t, s.URL())
	res, err := c.Do(ctxT(t), req(connectors.OpLockDevices))
	if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["issued"] != "computer:17,mobile:4" {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	if strings.Contains(res.Detail+res.Data["issued"], fakePIN) {
		t.Fatal("the PIN leaked into the result")
	}
	ver, err := c.Verify(ctxT(t), req(connectors.OpLockDevices))
	if err != nil || !ver.OK || ver.Detail != "DEVICE_LOCK: Dana MacBook=ACKNOWLEDGED, Dana iPhone=PENDING" {
		t.Fatalf("Verify = %+v, %v", ver, err)
	}
}

func TestWipe(t *testing.T) {
	t.Run("erase the phone by serial", func(t *testing.T) {
		s := callscript.New(t, tokenCall(), computersCall(mac), mobileCall(iphone),
			commandsCall("ERASE_DEVICE", "mgmt-ios"),
			callscript.Call{Method: "POST", Path: "/api/v2/mdm/commands", Bearer: fakeToken, Status: 201,
				Body: `{"clientData":[{"managementId":"mgmt-ios"}],"commandData":{"commandType":"ERASE_DEVICE"}}`, Resp: `[{"id":"c-9"}]`})
		res, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpWipeDevices, "serials", "F2LX"))
		if err != nil || res.Data["issued"] != "mobile:4" {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("an erase already queued is not sent again", func(t *testing.T) {
		s := callscript.New(t, tokenCall(), computersCall(mac), mobileCall(),
			commandsCall("ERASE_DEVICE", "mgmt-mac", cmdRow("mgmt-mac", "ERASE_DEVICE", "PENDING", "2026-12-07T17:40:00Z")))
		res, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpWipeDevices))
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("a command in ERROR is sent again and does not verify", func(t *testing.T) {
		errRow := cmdRow("mgmt-mac", "ERASE_DEVICE", "ERROR", "2026-12-07T17:40:00Z")
		s := callscript.New(t, tokenCall(), computersCall(mac), mobileCall(), commandsCall("ERASE_DEVICE", "mgmt-mac", errRow),
			computersCall(mac), mobileCall(), commandsCall("ERASE_DEVICE", "mgmt-mac", errRow),
			callscript.Call{Method: "POST", Path: "/api/v2/mdm/commands", Bearer: fakeToken, Status: 201,
				Body: `{"clientData":[{"managementId":"mgmt-mac"}],"commandData":{"commandType":"ERASE_DEVICE","pin":"` + fakePIN + `"}}`, Resp: `[{"id":"c-10"}]`})
		c := newConn(t, s.URL())
		if ver, err := c.Verify(ctxT(t), req(connectors.OpWipeDevices)); err != nil || ver.OK || !strings.Contains(ver.Detail, "Dana MacBook=ERROR") {
			t.Fatalf("Verify = %+v, %v", ver, err)
		}
		if res, err := c.Do(ctxT(t), req(connectors.OpWipeDevices)); err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
}

func TestRefusals(t *testing.T) {
	t.Run("wipe under a legal hold makes no request at all", func(t *testing.T) {
		s := callscript.New(t)
		_, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpWipeDevices, "legal_hold", "TRUE"))
		assertErr(t, err, connectors.KindInvalid, "legal hold covers the case")
	})
	t.Run("Jamf ignoring the filter (another user's device) sends nothing", func(t *testing.T) {
		other := strings.Replace(mac, "Dana@Example.com", "sam@example.com", 1)
		s := callscript.New(t, tokenCall(), computersCall(mac, other))
		_, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpLockDevices))
		assertErr(t, err, connectors.KindInvalid, "belongs to another email: the filter was not applied")
	})
	t.Run("a serial that is not the person's", func(t *testing.T) {
		s := callscript.New(t, tokenCall(), computersCall(mac), mobileCall(iphone))
		_, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpLockDevices, "serials", "NOPE1"))
		assertErr(t, err, connectors.KindInvalid, "serial NOPE1 is not among the subject's managed devices")
	})
	t.Run("retire is not a Jamf operation", func(t *testing.T) {
		s := callscript.New(t)
		_, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpRetireDevices))
		assertErr(t, err, connectors.KindInvalid, "not supported by the jamf connector")
	})
	for _, email := range []string{`x"||id!=0`, `*@example.com`} {
		t.Run("a quote or wildcard in the email is not put in a filter: "+email, func(t *testing.T) {
			s := callscript.New(t)
			r := req(connectors.OpLockDevices)
			r.Subject.Email = email
			_, err := newConn(t, s.URL()).Do(ctxT(t), r)
			assertErr(t, err, connectors.KindInvalid, "refusing to build a Jamf filter")
		})
	}
}

// TestMacWithoutPINStillLocksThePhone: one failure does not stop the rest.
func TestMacWithoutPINStillLocksThePhone(t *testing.T) {
	s := callscript.New(t, tokenCall(), computersCall(mac), mobileCall(iphone), commandsCall("DEVICE_LOCK", "mgmt-mac,mgmt-ios"),
		callscript.Call{Method: "POST", Path: "/api/v2/mdm/commands", Bearer: fakeToken, Status: 201,
			Body: `{"clientData":[{"managementId":"mgmt-ios"}],"commandData":{"commandType":"DEVICE_LOCK"}}`, Resp: `[{"id":"c-3"}]`})
	c := newConn(t, s.URL(), func(c *Config) { c.LockPIN, c.LockMessage, c.LockPhone = secret.Secret{}, "", "" })
	res, err := c.Do(ctxT(t), req(connectors.OpLockDevices))
	assertErr(t, err, connectors.KindInvalid, "computer:17: a Mac needs lock_pin for DEVICE_LOCK")
	if res.Data["issued"] != "mobile:4" || res.Data["failed"] != "computer:17" {
		t.Fatalf("res = %+v", res)
	}
}

func TestNoDeviceIsNoneFound(t *testing.T) {
	s := callscript.New(t, tokenCall(), computersCall(), mobileCall())
	res, err := newConn(t, s.URL()).Do(ctxT(t), req(connectors.OpLockDevices))
	if err != nil || res.Outcome != connectors.OutcomeNoneFound {
		t.Fatalf("Do = %+v, %v", res, err)
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
	for _, s := range []string{fakeSecret, fakeToken, fakePIN} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error carries a secret: %q", err)
		}
	}
}

func TestFailureTable(t *testing.T) {
	for name, tc := range map[string]struct {
		call      callscript.Call
		token     bool
		kind      connectors.Kind
		retryable bool
		want      string
	}{
		"token: bad secret":       {token: true, call: callscript.Call{Status: 401, Resp: `{"error":"invalid_client"}`}, kind: connectors.KindAuth, want: "invalid_client"},
		"token: HTML login page":  {token: true, call: callscript.Call{Status: 200, RespHeader: map[string]string{"Content-Type": "text/html"}, Resp: `<html>Jamf Pro login</html>`}, kind: connectors.KindInvalid},
		"401 after a fresh token": {call: callscript.Call{Status: 401, Resp: `{"httpStatus":401,"errors":[{"code":"INVALID_TOKEN","description":"Unauthorized"}]}`}, kind: connectors.KindAuth, want: "token was refused"},
		"403":                     {call: callscript.Call{Status: 403, Resp: `{"httpStatus":403,"errors":[{"code":"INVALID_PRIVILEGE","description":"Forbidden"}]}`}, kind: connectors.KindForbidden, want: "INVALID_PRIVILEGE: Forbidden"},
		"404":                     {call: callscript.Call{Status: 404, Resp: `{"httpStatus":404,"errors":[]}`}, kind: connectors.KindNotFound},
		"429":                     {call: callscript.Call{Status: 429, RespHeader: map[string]string{"Retry-After": "3"}, Resp: `{}`}, kind: connectors.KindRateLimited, retryable: true, want: "retry after 3s"},
		"502":                     {call: callscript.Call{Status: 502, RespHeader: map[string]string{"Content-Type": "text/html"}, Resp: `<html>bad gateway</html>`}, kind: connectors.KindTransient, retryable: true, want: "HTML page"},
		"HTML on 200":             {call: callscript.Call{RespHeader: map[string]string{"Content-Type": "text/html"}, Resp: `<html>portal</html>`}, kind: connectors.KindInvalid, want: "not the API's JSON"},
		"malformed JSON":          {call: callscript.Call{Resp: `{"totalCount":1,"results":[`}, kind: connectors.KindInvalid, want: "not the API's JSON"},
		"400 bad filter":          {call: callscript.Call{Status: 400, Resp: `{"httpStatus":400,"errors":[{"code":"INVALID_FIELD","field":"filter","description":"Invalid field"}]}`}, kind: connectors.KindInvalid, want: "INVALID_FIELD (filter)"},
	} {
		t.Run(name, func(t *testing.T) {
			var calls []callscript.Call
			if tc.token {
				c := tokenCall()
				c.Status, c.Resp, c.RespHeader = tc.call.Status, tc.call.Resp, tc.call.RespHeader
				calls = []callscript.Call{c}
			} else {
				c := computersCall()
				c.Status, c.Resp, c.RespHeader = tc.call.Status, tc.call.Resp, tc.call.RespHeader
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
	ok := Config{URL: "https://example.jamfcloud.com", ClientID: "k", ClientSecret: secret.FromValue("x")}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	f := false
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"no url":        {func(c *Config) { c.URL = "" }, "url is required"},
		"http":          {func(c *Config) { c.URL = "http://example.jamfcloud.com" }, "url must use https"},
		"path":          {func(c *Config) { c.URL = "https://example.jamfcloud.com/api" }, "without a path"},
		"no client":     {func(c *Config) { c.ClientID = "" }, "client_id is required"},
		"no secret":     {func(c *Config) { c.ClientSecret = secret.Secret{} }, "client_secret is required"},
		"bad match_by":  {func(c *Config) { c.MatchBy = "upn" }, "match_by"},
		"nothing found": {func(c *Config) { c.Computers, c.MobileDevices = &f, &f }, "both false"},
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := New("j", Config{URL: "https://example.jamfcloud.com", ClientID: "k", ClientSecret: secret.FromValue("x"), LockPIN: secret.FromValue("12ab")}, testPolicy); err == nil || !strings.Contains(err.Error(), "lock_pin must be exactly six digits") {
		t.Fatalf("New with a bad PIN = %v", err)
	}
}

// The fake's credentials, which the scripted tests use too.
const (
	fakeSecret = jamftest.Secret
	fakeToken  = jamftest.Token
	fakePIN    = jamftest.PIN
)

// fakes maps a connector built by the conformance harness to its fake.
var fakes sync.Map

func TestConformance(t *testing.T) {
	for _, op := range Operations() {
		t.Run(string(op), func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				New: func(t *testing.T) connectors.Connector {
					f := jamftest.New(t)
					c, err := New("jamf", Config{URL: f.Srv.URL, ClientID: jamftest.ClientID, ClientSecret: secret.FromValue(fakeSecret), LockPIN: secret.FromValue(fakePIN)}, testPolicy)
					if err != nil {
						t.Fatal(err)
					}
					fakes.Store(c, f)
					return c
				},
				Present: dana,
				Missing: connectors.Subject{Email: "nobody@example.com"},
				Ops:     []connectors.Operation{op},
				InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
					f, _ := fakes.Load(c)
					f.(*jamftest.Fake).FailWith(kind)
				},
				Slow: func(t *testing.T, c connectors.Connector) {
					f, _ := fakes.Load(c)
					f.(*jamftest.Fake).Block()
				},
				Secrets: []string{fakeSecret, fakeToken, fakePIN},
			})
		})
	}
}
