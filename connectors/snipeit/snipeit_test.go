package snipeit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/internal/callscript"
	"github.com/kineticsec/kinetic/connectors/snipeit/snipeittest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

const tok = "snipe-token-7c1e"

var dana = connectors.Subject{EmployeeID: "E100", Email: "dana@example.com", Username: "dana"}

var labels = map[string]int{"return_requested": 3, "received": 4, "wiped": 6, "disposed": 9, "lost": 8}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newConn(t *testing.T, base string, mod ...func(*Config)) *Connector {
	t.Helper()
	cfg := Config{URL: base, APIToken: secret.FromValue(tok), StatusLabels: labels}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New("assets", cfg, testPolicy)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func stepReq(tag, state string, extra ...string) connectors.Request {
	p := map[string]string{"asset_tag": tag, "state": state, "case_ref": "C-42"}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i]] = extra[i+1]
	}
	return connectors.Request{Operation: connectors.OpRecordEquipmentStep, Subject: dana, Params: p}
}

// Scripted answers.
const (
	usersDana   = `{"total":1,"rows":[{"id":5,"username":"dana","email":"dana@example.com","employee_num":"E100","name":"Dana K"}]}`
	usersNone   = `{"total":0,"rows":[]}`
	assetDana   = `{"id":12,"asset_tag":"LT-1003","notes":"bought 2023","status_label":{"id":2,"name":"Deployed"},"assigned_to":{"id":5,"type":"user","username":"dana"}}`
	assetBack   = `{"id":12,"asset_tag":"LT-1003","notes":"bought 2023\nKinetic case C-42: received","status_label":{"id":4,"name":"Returned"},"assigned_to":null}`
	assetOther  = `{"id":12,"asset_tag":"LT-1003","notes":"","status_label":{"id":2,"name":"Deployed"},"assigned_to":{"id":77,"type":"user","username":"sam"}}`
	assetAtDesk = `{"id":12,"asset_tag":"LT-1003","notes":"","status_label":{"id":2,"name":"Deployed"},"assigned_to":{"id":3,"type":"location","name":"Front desk"}}`
)

func findDana() callscript.Call {
	return callscript.Call{Method: "GET", Path: "/api/v1/users", Query: map[string]string{"employee_num": "E100"}, Bearer: tok,
		Header: map[string]string{"Accept": "application/json"}, Resp: usersDana}
}

func byTag(resp string) callscript.Call {
	return callscript.Call{Method: "GET", Path: "/api/v1/hardware/bytag/LT-1003", Bearer: tok, Resp: resp}
}

// TestReceivedStep is one step of a recovery, request by request: find
// Dana by employee number, read the asset by tag, check it in with the
// "received" label and the case's note, append the note line, then read
// it back.
func TestReceivedStep(t *testing.T) {
	s := callscript.New(t,
		findDana(),
		byTag(assetDana),
		callscript.Call{Method: "POST", Path: "/api/v1/hardware/12/checkin", Bearer: tok,
			Header: map[string]string{"Content-Type": "application/json"},
			Body:   `{"status_id":4,"note":"Kinetic case C-42: received"}`,
			Resp:   `{"status":"success","messages":"Asset checked in successfully.","payload":{"asset":"LT-1003"}}`},
		callscript.Call{Method: "PATCH", Path: "/api/v1/hardware/12", Bearer: tok,
			Body: `{"notes":"bought 2023\nKinetic case C-42: received"}`,
			Resp: `{"status":"success","messages":"Asset updated successfully.","payload":` + assetBack + `}`},
		// Verify.
		findDana(),
		byTag(assetBack),
	)
	c := newConn(t, s.URL())
	res, err := c.Do(ctxT(t), stepReq("LT-1003", "received"))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if res.Outcome != connectors.OutcomeDone || res.Account != "LT-1003" || res.Data["checked_in_from"] != "5" || res.Data["previous_status"] != "Deployed" {
		t.Fatalf("result = %+v", res)
	}
	if s.Served() != 4 {
		t.Fatalf("Do made %d requests, want 4", s.Served())
	}
	ver, err := c.Verify(ctxT(t), stepReq("LT-1003", "received"))
	if err != nil || !ver.OK {
		t.Fatalf("Verify = %+v, %v", ver, err)
	}
}

func TestStepsWithoutCheckIn(t *testing.T) {
	t.Run("return requested sets the label and the note, no check-in", func(t *testing.T) {
		s := callscript.New(t, findDana(), byTag(assetDana),
			callscript.Call{Method: "PATCH", Path: "/api/v1/hardware/12", Bearer: tok,
				Body: `{"status_id":3,"notes":"bought 2023\nKinetic case C-42: return requested"}`,
				Resp: `{"status":"success","messages":"Asset updated successfully.","payload":{}}`})
		res, err := newConn(t, s.URL()).Do(ctxT(t), stepReq("LT-1003", "return_requested"))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("disposed records the certificate reference", func(t *testing.T) {
		s := callscript.New(t, findDana(), byTag(assetBack),
			callscript.Call{Method: "PATCH", Path: "/api/v1/hardware/12", Bearer: tok,
				Body: `{"status_id":9,"notes":"bought 2023\nKinetic case C-42: received\nKinetic case C-42: disposed (ref COD-2026-118)"}`,
				Resp: `{"status":"success","messages":"Asset updated successfully.","payload":{}}`})
		res, err := newConn(t, s.URL()).Do(ctxT(t), stepReq("LT-1003", "disposed", "reference", "COD-2026-118"))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("a state without a configured label only adds the note", func(t *testing.T) {
		s := callscript.New(t, findDana(), byTag(assetBack),
			callscript.Call{Method: "PATCH", Path: "/api/v1/hardware/12", Bearer: tok,
				Body: `{"notes":"bought 2023\nKinetic case C-42: received\nKinetic case C-42: preserved"}`,
				Resp: `{"status":"success","messages":"Asset updated successfully.","payload":{}}`})
		res, err := newConn(t, s.URL()).Do(ctxT(t), stepReq("LT-1003", "preserved"))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
}

func TestIdempotentAndNotBackwards(t *testing.T) {
	t.Run("notes rendered as inline Markdown HTML are read back", func(t *testing.T) {
		rendered := `{"id":12,"asset_tag":"LT-1003","notes":"Dana&#039;s &quot;old&quot; laptop<br />\nKinetic case C-42: return requested<br />\nKinetic case C-42: received","status_label":{"id":4,"name":"Returned"},"assigned_to":null}`
		s := callscript.New(t, findDana(), byTag(rendered), findDana(), byTag(rendered))
		c := newConn(t, s.URL())
		if res, err := c.Do(ctxT(t), stepReq("LT-1003", "received")); err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Do(received) = %+v, %v", res, err)
		}
		if res, err := c.Do(ctxT(t), stepReq("LT-1003", "return_requested")); err != nil || !strings.Contains(res.Detail, "superseded by the later step received") {
			t.Fatalf("Do(return_requested) = %+v, %v", res, err)
		}
	})
	t.Run("formatted notes are never rewritten from their rendering", func(t *testing.T) {
		formatted := `{"id":12,"asset_tag":"LT-1003","notes":"<strong>Do not reimage</strong>: <a href=\"https://wiki\">runbook</a>","status_label":{"id":2,"name":"Deployed"},"assigned_to":{"id":5,"type":"user"}}`
		after := `{"id":12,"asset_tag":"LT-1003","notes":"<strong>Do not reimage</strong>","status_label":{"id":4,"name":"Returned"},"assigned_to":null}`
		s := callscript.New(t, findDana(), byTag(formatted),
			callscript.Call{Method: "POST", Path: "/api/v1/hardware/12/checkin", Bearer: tok, Body: `{"status_id":4,"note":"Kinetic case C-42: received"}`,
				Resp: `{"status":"success","messages":"Asset checked in successfully."}`},
			findDana(), byTag(after))
		c := newConn(t, s.URL())
		res, err := c.Do(ctxT(t), stepReq("LT-1003", "received"))
		if err != nil || res.Outcome != connectors.OutcomeDone || !strings.Contains(res.Detail, "notes left alone") {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if ver, err := c.Verify(ctxT(t), stepReq("LT-1003", "received")); err != nil || !ver.OK {
			t.Fatalf("Verify = %+v, %v", ver, err)
		}
	})
	t.Run("an asset answered as a one-row listing is read the same", func(t *testing.T) {
		s := callscript.New(t, findDana(), byTag(`{"total":1,"rows":[`+assetBack+`]}`))
		res, err := newConn(t, s.URL()).Do(ctxT(t), stepReq("LT-1003", "received"))
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("a recorded step is already done, nothing written", func(t *testing.T) {
		s := callscript.New(t, findDana(), byTag(assetBack))
		res, err := newConn(t, s.URL()).Do(ctxT(t), stepReq("LT-1003", "received"))
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("an earlier step replayed after a later one changes nothing", func(t *testing.T) {
		wiped := `{"id":12,"asset_tag":"LT-1003","notes":"Kinetic case C-42: received\nKinetic case C-42: wiped","status_label":{"id":6,"name":"Wiped"},"assigned_to":null}`
		s := callscript.New(t, findDana(), byTag(wiped), findDana(), byTag(wiped))
		c := newConn(t, s.URL())
		res, err := c.Do(ctxT(t), stepReq("LT-1003", "received"))
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone || !strings.Contains(res.Detail, "superseded by the later step wiped") {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if ver, err := c.Verify(ctxT(t), stepReq("LT-1003", "received")); err != nil || !ver.OK {
			t.Fatalf("Verify = %+v, %v", ver, err)
		}
	})
}

// Bad input: a clear error and nothing changed (no write is scripted, so
// any write fails the test).
func TestRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		calls []callscript.Call
		req   connectors.Request
		kind  connectors.Kind
		want  string
	}{
		"a device assigned to someone else": {calls: []callscript.Call{findDana(), byTag(assetOther)}, req: stepReq("LT-1003", "received"),
			kind: connectors.KindInvalid, want: "checked out to another user (id 77), not to the departing person (user 5): nothing changed"},
		"a device checked out to a location": {calls: []callscript.Call{findDana(), byTag(assetAtDesk)}, req: stepReq("LT-1003", "received"),
			kind: connectors.KindInvalid, want: "checked out to a location (id 3)"},
		"disposed without its reference": {req: stepReq("LT-1003", "disposed"), kind: connectors.KindInvalid,
			want: "params.reference is required for disposed"},
		"an asset tag that is a path segment": {req: stepReq("..", "received"), kind: connectors.KindInvalid, want: "params.asset_tag is required"},
		"an unknown state":                    {req: stepReq("LT-1003", "shredded"), kind: connectors.KindInvalid, want: `params.state "shredded"`},
		"no case reference": {req: connectors.Request{Operation: connectors.OpRecordEquipmentStep, Subject: dana, Params: map[string]string{"asset_tag": "LT-1003", "state": "received"}},
			kind: connectors.KindInvalid, want: "params.case_ref is required"},
		"an asset tag Snipe-IT does not have": {calls: []callscript.Call{findDana(), byTag(`{"status":"error","messages":"Asset does not exist."}`)},
			req: stepReq("LT-1003", "received"), kind: connectors.KindNotFound, want: "asset tag LT-1003 is not in Snipe-IT; nothing changed"},
		"an asset tag that names two assets": {calls: []callscript.Call{findDana(), byTag(`{"total":2,"rows":[` + assetDana + `,` + assetOther + `]}`)},
			req: stepReq("LT-1003", "received"), kind: connectors.KindInvalid, want: "asset tag LT-1003 names 2 assets in Snipe-IT: ambiguous, nothing changed"},
		"the person found twice": {calls: []callscript.Call{{Method: "GET", Path: "/api/v1/users", Query: map[string]string{"employee_num": "E100"}, Bearer: tok,
			Resp: `{"total":2,"rows":[{"id":5,"employee_num":"E100"},{"id":9,"employee_num":"E100"}]}`}},
			req: stepReq("LT-1003", "received"), kind: connectors.KindInvalid, want: "2 Snipe-IT users match the subject's employee_num (ids 5 and 9): ambiguous"},
	} {
		t.Run(name, func(t *testing.T) {
			s := callscript.New(t, tc.calls...)
			_, err := newConn(t, s.URL()).Do(ctxT(t), tc.req)
			assertErr(t, err, tc.kind, tc.want)
		})
	}
}

func TestAssignedElsewhereVerifiesNotOK(t *testing.T) {
	s := callscript.New(t, findDana(), byTag(assetOther))
	ver, err := newConn(t, s.URL()).Verify(ctxT(t), stepReq("LT-1003", "received"))
	if err != nil || ver.OK || !strings.Contains(ver.Detail, "another user") {
		t.Fatalf("Verify = %+v, %v", ver, err)
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
	if strings.Contains(err.Error(), tok) {
		t.Fatalf("error carries the token: %q", err)
	}
}

// TestFailureTable: what each kind of answer to the first request becomes.
func TestFailureTable(t *testing.T) {
	for name, tc := range map[string]struct {
		call      callscript.Call
		kind      connectors.Kind
		retryable bool
		want      string
	}{
		"401":                             {call: callscript.Call{Status: 401, Resp: `{"status":"error","message":"Unauthorized."}`}, kind: connectors.KindAuth, want: "token is wrong"},
		"403":                             {call: callscript.Call{Status: 403, Resp: `{"status":"error","messages":"You do not have permission"}`}, kind: connectors.KindForbidden, want: "lacks the permission"},
		"404":                             {call: callscript.Call{Status: 404, Resp: `{"status":"error","messages":"404 not found"}`}, kind: connectors.KindNotFound},
		"429 with Retry-After":            {call: callscript.Call{Status: 429, RespHeader: map[string]string{"Retry-After": "60"}, Resp: `{"status":"error","messages":"Too Many Attempts."}`}, kind: connectors.KindRateLimited, retryable: true, want: "retry after 1m0s"},
		"500":                             {call: callscript.Call{Status: 500, Resp: `{"status":"error","messages":"Server Error"}`}, kind: connectors.KindTransient, retryable: true},
		"503":                             {call: callscript.Call{Status: 503, RespHeader: map[string]string{"Content-Type": "text/html"}, Resp: `<html>maintenance</html>`}, kind: connectors.KindTransient, retryable: true, want: "HTML page"},
		"HTML on 200 (login page)":        {call: callscript.Call{RespHeader: map[string]string{"Content-Type": "text/html; charset=UTF-8"}, Resp: `<!DOCTYPE html><html><form action="/login">`}, kind: connectors.KindInvalid, want: "HTML page"},
		"malformed JSON":                  {call: callscript.Call{Resp: `{"total":1,"rows":[`}, kind: connectors.KindInvalid, want: "not the API's JSON"},
		"200 carrying a permission error": {call: callscript.Call{Resp: `{"status":"error","messages":"You do not have permission to view users."}`}, kind: connectors.KindForbidden, want: "permission"},
		"200 carrying a validation error": {call: callscript.Call{Resp: `{"status":"error","messages":{"employee_num":["The employee num must be a string."]},"payload":null}`}, kind: connectors.KindInvalid, want: "employee_num: The employee num must be a string."},
		"200 carrying unauthenticated":    {call: callscript.Call{Resp: `{"status":"error","messages":"Unauthenticated."}`}, kind: connectors.KindAuth},
	} {
		t.Run(name, func(t *testing.T) {
			c := tc.call
			c.Method, c.Path, c.Query, c.Bearer = "GET", "/api/v1/users", map[string]string{"employee_num": "E100"}, tok
			s := callscript.New(t, c)
			_, err := newConn(t, s.URL()).Lookup(ctxT(t), dana)
			assertErr(t, err, tc.kind, tc.want)
			if connectors.IsRetryable(err) != tc.retryable {
				t.Fatalf("retryable = %t, want %t", connectors.IsRetryable(err), tc.retryable)
			}
		})
	}
}

func TestListAssets(t *testing.T) {
	s := callscript.New(t,
		callscript.Call{Method: "GET", Path: "/api/v1/users", Query: map[string]string{"employee_num": "E100"}, Bearer: tok, Resp: usersNone},
		callscript.Call{Method: "GET", Path: "/api/v1/users", Query: map[string]string{"search": "dana@example.com"}, Bearer: tok,
			Resp: `{"total":2,"rows":[{"id":51,"email":"dana@example.com.au"},{"id":5,"email":"Dana@Example.com"}]}`},
		callscript.Call{Method: "GET", Path: "/api/v1/users/5/assets", Bearer: tok,
			Resp: `{"total":1,"rows":[{"id":12,"name":"Dana&#039;s laptop","asset_tag":"LT-1003","serial":"C02XK","model":{"id":1,"name":"MacBook Pro 14"},"category":{"id":2,"name":"Laptops"},"status_label":{"id":2,"name":"Deployed"}}]}`},
		callscript.Call{Method: "GET", Path: "/api/v1/users/5/accessories", Bearer: tok,
			Resp: `{"total":1,"rows":[{"id":3,"name":"USB-C dock","model_number":"TB4","category":{"id":7,"name":"Docks"}}]}`},
		callscript.Call{Method: "GET", Path: "/api/v1/users/5/licenses", Bearer: tok,
			Resp: `{"total":1,"rows":[{"id":8,"name":"Adobe CC","category":{"id":9,"name":"Software"}}]}`},
	)
	got, err := newConn(t, s.URL()).ListAssets(ctxT(t), dana)
	if err != nil {
		t.Fatalf("ListAssets: %v", err)
	}
	want := []connectors.Asset{
		{ID: "12", Kind: "hardware", Tag: "LT-1003", Name: "Dana's laptop", Category: "Laptops", Model: "MacBook Pro 14", Serial: "C02XK", Status: "Deployed"},
		{ID: "3", Kind: "accessory", Name: "USB-C dock", Category: "Docks", Model: "TB4"},
		{ID: "8", Kind: "license", Name: "Adobe CC", Category: "Software"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("asset %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestPartialListingRefused(t *testing.T) {
	s := callscript.New(t, findDana(),
		callscript.Call{Method: "GET", Path: "/api/v1/users/5/assets", Bearer: tok, Resp: `{"total":3,"rows":[{"id":12,"asset_tag":"LT-1003"}]}`})
	_, err := newConn(t, s.URL()).Lookup(ctxT(t), dana)
	assertErr(t, err, connectors.KindInvalid, "refusing a partial list")
}

func TestMissingPersonIsNoneFound(t *testing.T) {
	s := callscript.New(t,
		callscript.Call{Method: "GET", Path: "/api/v1/users", Query: map[string]string{"employee_num": "E100"}, Bearer: tok, Resp: usersNone},
		callscript.Call{Method: "GET", Path: "/api/v1/users", Query: map[string]string{"search": "dana@example.com"}, Bearer: tok, Resp: usersNone})
	res, err := newConn(t, s.URL()).Do(ctxT(t), stepReq("LT-1003", "received"))
	if err != nil || res.Outcome != connectors.OutcomeNoneFound {
		t.Fatalf("Do = %+v, %v", res, err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{URL: "https://assets.example.com", APIToken: secret.FromValue("x"), StatusLabels: map[string]int{"received": 4}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"url missing":      {func(c *Config) { c.URL = "" }, "url is required"},
		"plain http":       {func(c *Config) { c.URL = "http://assets.example.com" }, "url must use https"},
		"a path":           {func(c *Config) { c.URL = "https://assets.example.com/api/v1" }, "without a path"},
		"no token":         {func(c *Config) { c.APIToken = secret.Secret{} }, "api_token is required"},
		"bad match_by":     {func(c *Config) { c.MatchBy = []string{"upn"} }, "match_by[0]"},
		"unknown state":    {func(c *Config) { c.StatusLabels = map[string]int{"shipped": 3} }, "status_labels.shipped: not an equipment state"},
		"bad label id":     {func(c *Config) { c.StatusLabels = map[string]int{"lost": 0} }, "status_labels.lost: must be a status label ID"},
		"negative timeout": {func(c *Config) { c.Timeout = -1 }, "timeout"},
	} {
		t.Run(name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

// fakes maps a connector built by the conformance harness to its fake.
var fakes sync.Map

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			f := snipeittest.New(t)
			f.SeedDana()
			cfg := Config{URL: f.Srv.URL, APIToken: secret.FromValue(snipeittest.Token), StatusLabels: labels}
			c, err := New("assets", cfg, testPolicy)
			if err != nil {
				t.Fatal(err)
			}
			fakes.Store(c, f)
			return c
		},
		Present: dana,
		Missing: connectors.Subject{EmployeeID: "E999", Email: "nobody@example.com"},
		Ops:     Operations(),
		Params: map[connectors.Operation]map[string]string{
			connectors.OpRecordEquipmentStep: {"asset_tag": "LT-1003", "state": "received", "case_ref": "C-42"},
		},
		InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
			f, _ := fakes.Load(c)
			f.(*snipeittest.Fake).FailWith(kind)
		},
		Slow: func(t *testing.T, c connectors.Connector) {
			f, _ := fakes.Load(c)
			f.(*snipeittest.Fake).Block()
		},
		Secrets: []string{tok},
	})
}
