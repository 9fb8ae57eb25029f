package salesforce

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/salesforce/sftest"
	"github.com/kineticsec/kinetic/internal/outbound"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

func writeKey(t *testing.T, key *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "sf.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---------------------------------------------------------------------------
// A scripted Salesforce: each expected exchange is checked in order
// (method, path, query, Authorization, body) and answered; an unexpected
// request fails the test, and so does an expected one that never came.

const (
	scriptToken  = "00D000000000001!SCRIPTED-ACCESS-TOKEN-SECRET"
	scriptToken2 = "00D000000000001!SCRIPTED-ACCESS-TOKEN-TWO"
	consumerKey  = "3MVG9scriptedConsumerKey"
	integration  = "kinetic@example.com"
)

type exch struct {
	method, path string
	query        url.Values                          // exact; nil means none
	auth         string                              // exact Authorization; "" means "Bearer "+scriptToken, "-" none
	json         string                              // exact JSON body expected
	form         func(t *testing.T, form url.Values) // a form body is expected and checked
	status       int                                 // default 200
	header       map[string]string
	body         string // reply body
}

type script struct {
	t   *testing.T
	srv *httptest.Server

	mu   sync.Mutex
	want []exch
	n    int
}

func newScript(t *testing.T, want ...exch) *script {
	t.Helper()
	s := &script{t: t, want: want}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, w := range s.want[s.n:] {
			t.Errorf("expected call never came: %s %s %s", w.method, w.path, w.query.Encode())
		}
	})
	return s
}

func (s *script) serve(w http.ResponseWriter, r *http.Request) {
	t := s.t
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	if s.n >= len(s.want) {
		s.mu.Unlock()
		t.Errorf("unexpected call after the script ended: %s %s", r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
		return
	}
	e := s.want[s.n]
	s.n++
	s.mu.Unlock()

	where := fmt.Sprintf("call %d %s %s", s.n, r.Method, r.URL.Path)
	if r.Method != e.method || r.URL.Path != e.path {
		t.Errorf("%s: want %s %s", where, e.method, e.path)
	}
	if got := r.URL.Query(); !(len(got) == 0 && len(e.query) == 0) && !maps.EqualFunc(got, e.query, slices.Equal) {
		t.Errorf("%s: query %v, want %v", where, got, e.query)
	}
	wantAuth := e.auth
	switch wantAuth {
	case "":
		wantAuth = "Bearer " + scriptToken
	case "-":
		wantAuth = ""
	}
	if got := r.Header.Get("Authorization"); got != wantAuth {
		t.Errorf("%s: Authorization %.20q…, want %.20q…", where, got, wantAuth)
	}
	switch {
	case e.form != nil:
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("%s: Content-Type %q", where, ct)
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("%s: form body: %v", where, err)
		}
		e.form(t, form)
	case e.json != "":
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", where, ct)
		}
		if string(body) != e.json {
			t.Errorf("%s: body\n got %s\nwant %s", where, body, e.json)
		}
	default:
		if len(body) != 0 {
			t.Errorf("%s: unexpected body %q", where, body)
		}
	}
	if a := r.Header.Get("Accept"); a != "application/json" {
		t.Errorf("%s: Accept %q", where, a)
	}
	for k, v := range e.header {
		w.Header().Set(k, v)
	}
	if e.body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	status := e.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	io.WriteString(w, strings.ReplaceAll(e.body, "{{base}}", s.srv.URL))
}

// tokenX is the JWT bearer exchange, checking the assertion.
func tokenX(t *testing.T, tok string) exch { return tokenXAt(t, tok, time.Now) }

// tokenXAt is tokenX checking the assertion's times against now.
func tokenXAt(t *testing.T, tok string, now func() time.Time) exch {
	key := rsaKey(t)
	return exch{method: "POST", path: "/services/oauth2/token", auth: "-",
		form: func(t *testing.T, form url.Values) {
			if form.Get("grant_type") != grantTypeJWT || len(form) != 2 {
				t.Errorf("token form %v", form)
			}
			if err := sftest.CheckAssertion(form.Get("assertion"), &key.PublicKey, consumerKey, integration, LoginProduction, now()); err != nil {
				t.Errorf("assertion: %v", err)
			}
		},
		body: fmt.Sprintf(`{"access_token":%q,"instance_url":"{{base}}","id":"https://login.salesforce.com/id/00D/005","token_type":"Bearer","scope":"api"}`, tok)}
}

func (s *script) conn(mut ...func(*Config)) *Connector {
	s.t.Helper()
	cfg := Config{InstanceURL: s.srv.URL, LoginURL: s.srv.URL, ClientID: consumerKey, Username: integration, PrivateKeyFile: writeKey(s.t, rsaKey(s.t))}
	for _, m := range mut {
		m(&cfg)
	}
	c, err := New("sf-test", cfg, testPolicy)
	if err != nil {
		s.t.Fatalf("New: %v", err)
	}
	return c
}

const api = "/services/data/v62.0"

func q(soql string) url.Values { return url.Values{"q": {soql}} }

func userQuery(conds string) url.Values {
	return q("SELECT " + userFields + " FROM User WHERE " + conds + " LIMIT 10")
}

const danaConds = "FederationIdentifier = 'dana@example.com' OR Email = 'dana@example.com' OR EmployeeNumber = 'E1001'"

func userRec(id string, active bool, manager string) string {
	mgr := "null"
	if manager != "" {
		mgr = `"` + manager + `"`
	}
	return fmt.Sprintf(`{"attributes":{"type":"User","url":"/services/data/v62.0/sobjects/User/%s"},"Id":%q,"Username":"dana@example.com.prod","Name":"Dana","Email":"dana@example.com","FederationIdentifier":"dana@example.com","EmployeeNumber":"E1001","IsActive":%t,"ManagerId":%s}`, id, id, active, mgr)
}

func page(recs ...string) string {
	return fmt.Sprintf(`{"totalSize":%d,"done":true,"records":[%s]}`, len(recs), strings.Join(recs, ","))
}

func countPage(n int) string { return fmt.Sprintf(`{"totalSize":%d,"done":true,"records":[]}`, n) }

var dana = connectors.Subject{Email: "dana@example.com", EmployeeID: "E1001", DisplayName: "Dana",
	Attributes: map[string]string{"federation_id": "dana@example.com"}}

func findDana(active bool, manager string) exch {
	return exch{method: "GET", path: api + "/query", query: userQuery(danaConds), body: page(userRec(sftest.DanaID, active, manager))}
}

func loginOf(frozen bool) exch {
	return exch{method: "GET", path: api + "/query", query: q("SELECT Id, IsFrozen FROM UserLogin WHERE UserId = '" + sftest.DanaID + "' LIMIT 2"),
		body: page(fmt.Sprintf(`{"attributes":{"type":"UserLogin"},"Id":%q,"IsFrozen":%t}`, sftest.DanaLoginID, frozen))}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantKind(t *testing.T, err error, kind connectors.Kind) *connectors.Error {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	if ce.Kind != kind {
		t.Fatalf("kind %q, want %q: %v", ce.Kind, kind, err)
	}
	return ce
}

func do(t *testing.T, c *Connector, op connectors.Operation, params ...string) (connectors.Result, error) {
	t.Helper()
	p := map[string]string{}
	for i := 0; i+1 < len(params); i += 2 {
		p[params[i]] = params[i+1]
	}
	return c.Do(ctxT(t), connectors.Request{Operation: op, Subject: dana, Params: p})
}

// ---------------------------------------------------------------------------
// Operations against the scripted org.

func TestDisableAccountFreezes(t *testing.T) {
	t.Run("an active user is frozen", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(true, ""), loginOf(false),
			exch{method: "PATCH", path: api + "/sobjects/UserLogin/" + sftest.DanaLoginID, json: `{"IsFrozen":true}`, status: 204})
		res, err := do(t, s.conn(), connectors.OpDisableAccount)
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Account != sftest.DanaID {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("a frozen user is already done, nothing written", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(true, ""), loginOf(true))
		res, err := do(t, s.conn(), connectors.OpDisableAccount)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("an inactive user is already done", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(false, ""))
		res, err := do(t, s.conn(), connectors.OpDisableAccount)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("verify reads IsFrozen back", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(true, ""), loginOf(true), findDana(true, ""), loginOf(false))
		c := s.conn()
		req := connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana}
		if v, err := c.Verify(ctxT(t), req); err != nil || !v.OK {
			t.Fatalf("Verify frozen = %+v, %v", v, err)
		}
		if v, err := c.Verify(ctxT(t), req); err != nil || v.OK {
			t.Fatalf("Verify unfrozen = %+v, %v", v, err)
		}
	})
}

func TestDeactivateUser(t *testing.T) {
	deactivate := exch{method: "PATCH", path: api + "/sobjects/User/" + sftest.DanaID, json: `{"IsActive":false}`, status: 204}
	t.Run("freezes first, then deactivates", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(true, ""), loginOf(false),
			exch{method: "PATCH", path: api + "/sobjects/UserLogin/" + sftest.DanaLoginID, json: `{"IsFrozen":true}`, status: 204},
			deactivate)
		res, err := do(t, s.conn(), connectors.OpDeactivateUser)
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["frozen"] != "true" {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("an already frozen user is deactivated without a second freeze", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(true, ""), loginOf(true), deactivate)
		res, err := do(t, s.conn(), connectors.OpDeactivateUser)
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["frozen"] != "false" {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("an inactive user is already done", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(false, ""))
		res, err := do(t, s.conn(), connectors.OpDeactivateUser)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("a refused deactivation is permanent and says the freeze stays", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(true, ""), loginOf(false),
			exch{method: "PATCH", path: api + "/sobjects/UserLogin/" + sftest.DanaLoginID, json: `{"IsFrozen":true}`, status: 204},
			exch{method: "PATCH", path: api + "/sobjects/User/" + sftest.DanaID, json: `{"IsActive":false}`, status: 400,
				body: `[{"message":"You cannot deactivate a user who is the default owner of cases","errorCode":"FIELD_INTEGRITY_EXCEPTION","fields":["IsActive"]}]`})
		_, err := do(t, s.conn(), connectors.OpDeactivateUser)
		ce := wantKind(t, err, connectors.KindInvalid)
		if connectors.IsRetryable(err) || ce.Status != 400 {
			t.Errorf("retryable=%t status=%d", connectors.IsRetryable(err), ce.Status)
		}
		for _, want := range []string{"refused to deactivate user " + sftest.DanaID, "FIELD_INTEGRITY_EXCEPTION", "default owner of cases", "stays frozen"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
	t.Run("a failed freeze stops before deactivating", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(true, ""), loginOf(false),
			exch{method: "PATCH", path: api + "/sobjects/UserLogin/" + sftest.DanaLoginID, json: `{"IsFrozen":true}`, status: 403,
				body: `[{"message":"insufficient access rights on object id","errorCode":"INSUFFICIENT_ACCESS_OR_READONLY"}]`})
		_, err := do(t, s.conn(), connectors.OpDeactivateUser)
		wantKind(t, err, connectors.KindForbidden)
		if !strings.Contains(err.Error(), "was not deactivated") {
			t.Errorf("error %q", err)
		}
	})
	t.Run("verify reads IsActive back", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(false, ""))
		v, err := s.conn().Verify(ctxT(t), connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana})
		if err != nil || !v.OK {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
	})
}

func TestRevokeSessions(t *testing.T) {
	sessQ := q("SELECT Id FROM AuthSession WHERE UsersId = '" + sftest.DanaID + "'")
	tokQ := q("SELECT Id, AppName, DeleteToken FROM OauthToken WHERE UserId = '" + sftest.DanaID + "'")
	revoke := func(tok string, status int, body string) exch {
		return exch{method: "POST", path: "/services/oauth2/revoke", auth: "-", status: status, body: body,
			form: func(t *testing.T, f url.Values) {
				if len(f) != 1 || f.Get("token") != tok {
					t.Errorf("revoke form %v", f)
				}
			}}
	}
	t.Run("sessions deleted in one collection call, tokens revoked by DeleteToken", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(true, ""),
			exch{method: "GET", path: api + "/query", query: sessQ, body: page(`{"Id":"0Ak000000000SES001"}`, `{"Id":"0Ak000000000SES002"}`)},
			exch{method: "DELETE", path: api + "/composite/sobjects", query: url.Values{"ids": {"0Ak000000000SES001,0Ak000000000SES002"}, "allOrNone": {"false"}},
				body: `[{"id":"0Ak000000000SES001","success":true,"errors":[]},{"id":"0Ak000000000SES002","success":false,"errors":[{"statusCode":"ENTITY_IS_DELETED","message":"entity is deleted","fields":[]}]}]`},
			exch{method: "GET", path: api + "/query", query: tokQ,
				body: page(`{"Id":"0CQ000000000TOK001","AppName":"Salesforce Mobile","DeleteToken":"DT-SECRET-1"}`, `{"Id":"0CQ000000000TOK002","AppName":"Outlook","DeleteToken":"DT-SECRET-2"}`)},
			revoke("DT-SECRET-1", 200, ""),
			revoke("DT-SECRET-2", 400, `{"error":"invalid_token","error_description":"invalid token"}`))
		res, err := do(t, s.conn(), connectors.OpRevokeSessions)
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["sessions"] != "2" || res.Data["oauth_tokens"] != "2" {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if strings.Contains(res.Detail, "DT-SECRET") {
			t.Errorf("detail leaks a DeleteToken: %s", res.Detail)
		}
	})
	t.Run("nothing to revoke is already done", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(true, ""),
			exch{method: "GET", path: api + "/query", query: sessQ, body: page()},
			exch{method: "GET", path: api + "/query", query: tokQ, body: page()})
		res, err := do(t, s.conn(), connectors.OpRevokeSessions)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("one failure does not stop the rest and no token leaks", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(true, ""),
			exch{method: "GET", path: api + "/query", query: sessQ, body: page(`{"Id":"0Ak000000000SES001"}`)},
			exch{method: "DELETE", path: api + "/composite/sobjects", query: url.Values{"ids": {"0Ak000000000SES001"}, "allOrNone": {"false"}},
				status: 503, header: map[string]string{"Content-Type": "text/html"}, body: "<html>down</html>"},
			exch{method: "GET", path: api + "/query", query: tokQ, body: page(`{"Id":"0CQ000000000TOK001","AppName":"Mobile","DeleteToken":"DT-SECRET-1"}`)},
			revoke("DT-SECRET-1", 500, `{"error":"server_error","error_description":"failed for token DT-SECRET-1"}`))
		_, err := do(t, s.conn(), connectors.OpRevokeSessions)
		wantKind(t, err, connectors.KindTransient)
		if strings.Contains(err.Error(), "DT-SECRET") {
			t.Errorf("error leaks a DeleteToken: %v", err)
		}
		if !strings.Contains(err.Error(), "0 sessions ended, 0 OAuth tokens revoked; 2 failed") {
			t.Errorf("error %q does not say what was done", err)
		}
	})
	t.Run("verify counts what is left", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(true, ""),
			exch{method: "GET", path: api + "/query", query: q("SELECT COUNT() FROM AuthSession WHERE UsersId = '" + sftest.DanaID + "'"), body: countPage(0)},
			exch{method: "GET", path: api + "/query", query: q("SELECT COUNT() FROM OauthToken WHERE UserId = '" + sftest.DanaID + "'"), body: countPage(1)})
		v, err := s.conn().Verify(ctxT(t), connectors.Request{Operation: connectors.OpRevokeSessions, Subject: dana})
		if err != nil || v.OK || v.Detail != "0 sessions, 1 OAuth tokens" {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
	})
}

func TestTransferOwnership(t *testing.T) {
	owned := func(obj string) url.Values {
		return q("SELECT Id FROM " + obj + " WHERE OwnerId = '" + sftest.DanaID + "' ORDER BY Id LIMIT 200")
	}
	mgr := exch{method: "GET", path: api + "/sobjects/User/" + sftest.MgrID, query: url.Values{"fields": {strings.ReplaceAll(userFields, " ", "")}},
		body: fmt.Sprintf(`{"Id":%q,"Username":"mgr@example.com","IsActive":true}`, sftest.MgrID)}
	t.Run("records go to the manager in one collection call per batch", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(false, sftest.MgrID), mgr,
			exch{method: "GET", path: api + "/query", query: owned("Account"), body: page(`{"Id":"001000000000ACC001"}`, `{"Id":"001000000000ACC002"}`)},
			exch{method: "PATCH", path: api + "/composite/sobjects",
				json: `{"allOrNone":false,"records":[{"OwnerId":"` + sftest.MgrID + `","attributes":{"type":"Account"},"id":"001000000000ACC001"},{"OwnerId":"` + sftest.MgrID + `","attributes":{"type":"Account"},"id":"001000000000ACC002"}]}`,
				body: `[{"id":"001000000000ACC001","success":true,"errors":[]},{"id":"001000000000ACC002","success":true,"errors":[]}]`},
			exch{method: "GET", path: api + "/query", query: owned("Account"), body: page()},
			exch{method: "GET", path: api + "/query", query: owned("Opportunity"), body: page()})
		res, err := do(t, s.conn(), connectors.OpTransferOwnership)
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["Account"] != "2" || res.Data["Opportunity"] != "0" || res.Data["to"] != sftest.MgrID {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("no manager and no to parameter is permanent", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(false, ""))
		_, err := do(t, s.conn(), connectors.OpTransferOwnership)
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), "no manager") {
			t.Errorf("error %q", err)
		}
	})
	t.Run("an inactive new owner is refused before anything moves", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(false, ""),
			exch{method: "GET", path: api + "/sobjects/User/005000000000OTHER1", query: url.Values{"fields": {strings.ReplaceAll(userFields, " ", "")}},
				body: `{"Id":"005000000000OTHER1","IsActive":false}`})
		_, err := do(t, s.conn(), connectors.OpTransferOwnership, "to", "005000000000OTHER1")
		wantKind(t, err, connectors.KindInvalid)
	})
	t.Run("more than max_transfer_records stops with what was moved", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(false, sftest.MgrID), mgr,
			exch{method: "GET", path: api + "/query", query: owned("Account"), body: page(`{"Id":"001000000000ACC001"}`, `{"Id":"001000000000ACC002"}`)},
			exch{method: "GET", path: api + "/query", query: owned("Opportunity"), body: page()})
		_, err := do(t, s.conn(func(c *Config) { c.MaxTransferRecords = 1 }), connectors.OpTransferOwnership)
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), "more than max_transfer_records (1)") || !strings.Contains(err.Error(), "0 Opportunity") {
			t.Errorf("error %q", err)
		}
	})
	t.Run("a failed record is reported, the other types still move", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), findDana(false, sftest.MgrID), mgr,
			exch{method: "GET", path: api + "/query", query: owned("Account"), body: page(`{"Id":"001000000000ACC001"}`)},
			exch{method: "PATCH", path: api + "/composite/sobjects",
				json: `{"allOrNone":false,"records":[{"OwnerId":"` + sftest.MgrID + `","attributes":{"type":"Account"},"id":"001000000000ACC001"}]}`,
				body: `[{"id":"001000000000ACC001","success":false,"errors":[{"statusCode":"FIELD_CUSTOM_VALIDATION_EXCEPTION","message":"Owner must be in Sales","fields":[]}]}]`},
			exch{method: "GET", path: api + "/query", query: owned("Opportunity"), body: page(`{"Id":"006000000000OPP001"}`)},
			exch{method: "PATCH", path: api + "/composite/sobjects",
				json: `{"allOrNone":false,"records":[{"OwnerId":"` + sftest.MgrID + `","attributes":{"type":"Opportunity"},"id":"006000000000OPP001"}]}`,
				body: `[{"id":"006000000000OPP001","success":true,"errors":[]}]`},
			exch{method: "GET", path: api + "/query", query: owned("Opportunity"), body: page()})
		_, err := do(t, s.conn(), connectors.OpTransferOwnership)
		wantKind(t, err, connectors.KindInvalid)
		for _, want := range []string{"0 Account, 1 Opportunity", "FIELD_CUSTOM_VALIDATION_EXCEPTION"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})
}

func TestLookup(t *testing.T) {
	t.Run("active, frozen and inactive users", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken),
			findDana(true, ""), loginOf(false),
			findDana(true, ""), loginOf(true),
			findDana(false, ""))
		c := s.conn()
		for _, want := range []string{connectors.StatusActive, connectors.StatusDisabled, connectors.StatusDeprovisioned} {
			res, err := c.Lookup(ctxT(t), dana)
			if err != nil || len(res.Accounts) != 1 || res.Accounts[0].Status != want || res.Accounts[0].ID != sftest.DanaID {
				t.Fatalf("Lookup = %+v, %v; want %s", res, err, want)
			}
		}
	})
	t.Run("no match is none found", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), exch{method: "GET", path: api + "/query", query: userQuery("Email = 'nobody@example.com'"), body: page()})
		res, err := s.conn().Lookup(ctxT(t), connectors.Subject{Email: "nobody@example.com"})
		if err != nil || len(res.Accounts) != 0 {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
	})
	t.Run("two users matching is a permanent error naming both", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), exch{method: "GET", path: api + "/query", query: userQuery(danaConds),
			body: page(userRec(sftest.DanaID, true, ""), userRec("005000000000DANA02", true, ""))})
		_, err := s.conn().Lookup(ctxT(t), dana)
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), "2 Salesforce users match") || !strings.Contains(err.Error(), "005000000000DANA02") {
			t.Errorf("error %q", err)
		}
	})
	t.Run("values are escaped in SOQL", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), exch{method: "GET", path: api + "/query",
			query: userQuery(`Email = 'o\'brien\\x@example.com' OR EmployeeNumber = 'E1\' OR Id != \'x'`), body: page()})
		c := s.conn(func(c *Config) { c.MatchOn = []string{MatchEmail, MatchEmployeeNumber} })
		res, err := c.Lookup(ctxT(t), connectors.Subject{Email: `o'brien\x@example.com`, EmployeeID: `E1' OR Id != 'x`})
		if err != nil || len(res.Accounts) != 0 {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
	})
	t.Run("an account id from discovery is read directly; 404 is gone", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), exch{method: "GET", path: api + "/sobjects/User/" + sftest.DanaID,
			query: url.Values{"fields": {strings.ReplaceAll(userFields, " ", "")}}, status: 404,
			body: `[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]`})
		res, err := s.conn().Do(ctxT(t), connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana, Account: sftest.DanaID})
		if err != nil || res.Outcome != connectors.OutcomeNoneFound {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})
	t.Run("the integration user itself is refused", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken), exch{method: "GET", path: api + "/query", query: userQuery("Email = 'kinetic@example.com'"),
			body: page(`{"Id":"005000000000KIN001","Username":"kinetic@example.com","IsActive":true}`)})
		_, err := s.conn().Do(ctxT(t), connectors.Request{Operation: connectors.OpDeactivateUser, Subject: connectors.Subject{Email: "kinetic@example.com"}})
		wantKind(t, err, connectors.KindInvalid)
	})
	t.Run("a subject without any matched identifier is invalid", func(t *testing.T) {
		s := newScript(t)
		_, err := s.conn().Lookup(ctxT(t), connectors.Subject{DisplayName: "No Ids"})
		wantKind(t, err, connectors.KindInvalid)
	})
	t.Run("query pages are followed on the instance only", func(t *testing.T) {
		s := newScript(t, tokenX(t, scriptToken),
			exch{method: "GET", path: api + "/query", query: q("SELECT Id FROM AuthSession WHERE UsersId = '" + sftest.DanaID + "'"),
				body: `{"totalSize":2,"done":false,"nextRecordsUrl":"/services/data/v62.0/query/01gD0000002HU6KIAW-1","records":[{"Id":"0Ak000000000SES001"}]}`},
			exch{method: "GET", path: api + "/query/01gD0000002HU6KIAW-1", body: page(`{"Id":"0Ak000000000SES002"}`)})
		c := s.conn()
		recs, total, err := query[idRow](ctxT(t), c, "test", "SELECT Id FROM AuthSession WHERE UsersId = '"+sftest.DanaID+"'")
		if err != nil || len(recs) != 2 || total != 2 {
			t.Fatalf("query = %v %d %v", recs, total, err)
		}
		if _, err := c.nextURL("https://evil.example.com/services/data/v62.0/query/x"); err == nil {
			t.Error("followed a nextRecordsUrl to another host")
		}
	})
}

// ---------------------------------------------------------------------------
// Errors and tokens.

func TestStatusTable(t *testing.T) {
	failing := func(status int, header map[string]string, body string) exch {
		return exch{method: "GET", path: api + "/query", query: userQuery(danaConds), status: status, header: header, body: body}
	}
	for _, tc := range []struct {
		name       string
		reply      exch
		kind       connectors.Kind
		retryAfter time.Duration
		text       string
	}{
		{"403 INSUFFICIENT_ACCESS is forbidden", failing(403, nil, `[{"errorCode":"INSUFFICIENT_ACCESS","message":"insufficient access rights on cross-reference id"}]`), connectors.KindForbidden, 0, "INSUFFICIENT_ACCESS"},
		{"403 REQUEST_LIMIT_EXCEEDED is rate limited", failing(403, nil, `[{"errorCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded."}]`), connectors.KindRateLimited, 0, "REQUEST_LIMIT_EXCEEDED"},
		{"404 is not found", failing(404, nil, `[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]`), connectors.KindNotFound, 0, "NOT_FOUND"},
		{"409 is invalid", failing(409, nil, `[{"errorCode":"CONFLICT","message":"conflict"}]`), connectors.KindInvalid, 0, "CONFLICT"},
		{"400 MALFORMED_QUERY is invalid", failing(400, nil, `[{"errorCode":"MALFORMED_QUERY","message":"unexpected token"}]`), connectors.KindInvalid, 0, "MALFORMED_QUERY"},
		{"429 with Retry-After", failing(429, map[string]string{"Retry-After": "7"}, `[]`), connectors.KindRateLimited, 7 * time.Second, "429"},
		{"500 is transient", failing(500, nil, `[{"errorCode":"UNKNOWN_EXCEPTION","message":"An unexpected error occurred"}]`), connectors.KindTransient, 0, "UNKNOWN_EXCEPTION"},
		{"503 with Retry-After", failing(503, map[string]string{"Retry-After": "30", "Content-Type": "text/html"}, `<html>Service Unavailable</html>`), connectors.KindTransient, 30 * time.Second, "Service Unavailable"},
		{"HTML on 200 is transient", failing(200, map[string]string{"Content-Type": "text/html"}, `<html>login</html>`), connectors.KindTransient, 0, "not the expected JSON"},
		{"300 is unexpected", failing(300, nil, `[]`), connectors.KindTransient, 0, "unexpected HTTP status 300"},
		{"an echoed token is redacted", failing(400, nil, `[{"errorCode":"INVALID_HEADER","message":"bad header Bearer `+scriptToken+` and `+scriptToken+`"}]`), connectors.KindInvalid, 0, "INVALID_HEADER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, tokenX(t, scriptToken), tc.reply)
			_, err := s.conn().Lookup(ctxT(t), dana)
			ce := wantKind(t, err, tc.kind)
			if ce.RetryAfter != tc.retryAfter {
				t.Errorf("RetryAfter %s, want %s", ce.RetryAfter, tc.retryAfter)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q lacks %q", err, tc.text)
			}
			if strings.Contains(err.Error(), "SCRIPTED-ACCESS") {
				t.Errorf("error leaks the access token: %q", err)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	invalidSession := exch{method: "GET", path: api + "/query", query: userQuery(danaConds), status: 401,
		body: `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]`}
	t.Run("401 INVALID_SESSION_ID refreshes the token once", func(t *testing.T) {
		second := findDana(false, "")
		second.auth = "Bearer " + scriptToken2
		s := newScript(t, tokenX(t, scriptToken), invalidSession, tokenX(t, scriptToken2), second)
		res, err := s.conn().Lookup(ctxT(t), dana)
		if err != nil || len(res.Accounts) != 1 {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
	})
	t.Run("a second 401 is an auth error", func(t *testing.T) {
		again := invalidSession
		again.auth = "Bearer " + scriptToken2
		s := newScript(t, tokenX(t, scriptToken), invalidSession, tokenX(t, scriptToken2), again)
		_, err := s.conn().Lookup(ctxT(t), dana)
		wantKind(t, err, connectors.KindAuth)
		if connectors.IsRetryable(err) {
			t.Error("auth errors must not be retryable")
		}
	})
	t.Run("the token is cached until token_ttl", func(t *testing.T) {
		now := time.Now()
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		second := findDana(false, "")
		second.auth = "Bearer " + scriptToken2
		s := newScript(t, tokenX(t, scriptToken), findDana(false, ""), findDana(false, ""), tokenXAt(t, scriptToken2, clock), second)
		c := s.conn()
		WithClock(clock)(c)
		for i := 0; i < 3; i++ {
			if i == 2 {
				mu.Lock()
				now = now.Add(DefaultTokenTTL + time.Second)
				mu.Unlock()
			}
			if _, err := c.Lookup(ctxT(t), dana); err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		name   string
		status int
		body   string
		kind   connectors.Kind
		text   string
	}{
		{"invalid_grant is auth", 400, `{"error":"invalid_grant","error_description":"user hasn't approved this consumer"}`, connectors.KindAuth, "user hasn't approved this consumer"},
		{"invalid_client_id is auth", 400, `{"error":"invalid_client_id","error_description":"client identifier invalid"}`, connectors.KindAuth, "invalid_client_id"},
		{"a 503 is transient", 503, `<html>maintenance</html>`, connectors.KindTransient, "token request"},
		{"no access_token is transient", 200, `{"token_type":"Bearer"}`, connectors.KindTransient, "no access_token"},
		{"another org's instance is invalid", 200, `{"access_token":"00D000000000001!X","instance_url":"https://other.my.salesforce.com","token_type":"Bearer"}`, connectors.KindInvalid, "other.my.salesforce.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := tokenX(t, scriptToken)
			x.status, x.body = tc.status, tc.body
			s := newScript(t, x)
			_, err := s.conn().Lookup(ctxT(t), dana)
			wantKind(t, err, tc.kind)
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q lacks %q", err, tc.text)
			}
			if strings.Contains(err.Error(), "eyJ") {
				t.Errorf("error carries a JWT: %q", err)
			}
		})
	}
	t.Run("sandbox login derives the test audience", func(t *testing.T) {
		for login, want := range map[string]string{
			"":                            LoginProduction,
			"https://test.salesforce.com": LoginSandbox,
			"https://acme--uat.sandbox.my.salesforce.com": LoginSandbox,
			"https://acme.my.salesforce.com":              LoginProduction,
		} {
			if got := (Config{LoginURL: login}).audience(); got != want {
				t.Errorf("audience(%q) = %q, want %q", login, got, want)
			}
		}
		if got := (Config{Audience: "https://acme.my.site.com/customers/"}).audience(); got != "https://acme.my.site.com/customers" {
			t.Errorf("explicit audience = %q", got)
		}
	})
}

// ---------------------------------------------------------------------------
// Conformance and cost against the stateful fake.

var fakes sync.Map // *Connector → *sftest.Fake

func fakeOf(t *testing.T, c connectors.Connector) *sftest.Fake {
	f, ok := fakes.Load(c)
	if !ok {
		t.Fatal("no fake for this connector")
	}
	return f.(*sftest.Fake)
}

func fakeConn(t *testing.T, f *sftest.Fake, keyPath string) *Connector {
	t.Helper()
	c, err := New("salesforce-test", Config{InstanceURL: f.Server.URL, LoginURL: f.Server.URL, ClientID: f.ClientID, Username: f.Username, PrivateKeyFile: keyPath}, testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	fakes.Store(c, f)
	return c
}

func TestConformance(t *testing.T) {
	key := rsaKey(t)
	keyPath := writeKey(t, key)
	pemText, _ := os.ReadFile(keyPath)
	pemLine := strings.Split(string(pemText), "\n")[2]
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			f := sftest.New(t, &key.PublicKey)
			f.SeedDana()
			return fakeConn(t, f, keyPath)
		},
		Present: dana,
		Missing: connectors.Subject{Email: "nobody@example.com", EmployeeID: "E404"},
		Ops:     []connectors.Operation{connectors.OpDisableAccount, connectors.OpDeactivateUser, connectors.OpRevokeSessions, connectors.OpTransferOwnership},
		InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
			f := fakeOf(t, c)
			switch kind {
			case connectors.KindAuth:
				// The session is refused and the token endpoint then
				// refuses the grant: the app's approval was revoked.
				f.Inject(401)
				f.InjectToken(400)
			case connectors.KindRateLimited:
				f.Inject(4031)
			default:
				f.Inject(map[connectors.Kind]int{connectors.KindTransient: 503, connectors.KindForbidden: 403,
					connectors.KindInvalid: 400, connectors.KindNotFound: 404}[kind])
			}
		},
		Slow:    func(t *testing.T, c connectors.Connector) { fakeOf(t, c).SetSlow() },
		Secrets: []string{"FAKE-ACCESS-S3CR3T", "DELETE-TOKEN-SECRET", pemLine},
	})
}

// TestRequestsPerDeparture counts the HTTP requests one departure costs
// with the policy's Salesforce actions plus a freeze and a session
// revocation: lookup, disable_account, revoke_sessions, deactivate_user,
// transfer_ownership (three Accounts and one Opportunity), each verified.
func TestRequestsPerDeparture(t *testing.T) {
	key := rsaKey(t)
	keyPath := writeKey(t, key)
	for _, withAccount := range []bool{true, false} {
		name := "with the account id from discovery"
		if !withAccount {
			name = "by subject only"
		}
		t.Run(name, func(t *testing.T) {
			f := sftest.New(t, &key.PublicKey)
			f.SeedDana()
			c := fakeConn(t, f, keyPath)
			res, err := c.Lookup(ctxT(t), dana)
			if err != nil || len(res.Accounts) != 1 {
				t.Fatalf("Lookup = %+v, %v", res, err)
			}
			account := ""
			if withAccount {
				account = res.Accounts[0].ID
			}
			perOp := map[string]int{"lookup (with the token)": len(f.Requests())}
			for _, op := range []connectors.Operation{connectors.OpDisableAccount, connectors.OpRevokeSessions, connectors.OpDeactivateUser, connectors.OpTransferOwnership} {
				req := connectors.Request{Operation: op, Subject: dana, Account: account}
				f.ResetLog()
				if res, err := c.Do(ctxT(t), req); err != nil || res.Outcome != connectors.OutcomeDone {
					t.Fatalf("%s: %+v, %v", op, res, err)
				}
				perOp[string(op)] = len(f.Requests())
				f.ResetLog()
				if ver, err := c.Verify(ctxT(t), req); err != nil || !ver.OK {
					t.Fatalf("Verify %s = %+v, %v", op, ver, err)
				}
				perOp["verify "+string(op)] = len(f.Requests())
			}
			total := 0
			for _, n := range perOp {
				total += n
			}
			t.Logf("requests per departure (%s): total %d: %v", name, total, perOp)
			// Every call reads the user first, by a GET of the id from
			// discovery or by the SOQL match: one request either way.
			if total != 32 {
				t.Errorf("total requests %d, want 32", total)
			}
			u := f.User(sftest.DanaID)
			if u.IsActive || !u.Frozen || len(u.Sessions) != 0 || len(u.Tokens) != 0 || f.Owned("Account", sftest.DanaID) != 0 || f.Owned("Opportunity", sftest.DanaID) != 0 || f.Owned("Account", sftest.MgrID) != 4 {
				t.Errorf("final state %+v", u)
			}
		})
	}
}

func TestRefusedDeactivationKeepsFreeze(t *testing.T) {
	key := rsaKey(t)
	f := sftest.New(t, &key.PublicKey)
	f.SeedDana()
	f.RefuseDeactivation("FIELD_INTEGRITY_EXCEPTION")
	c := fakeConn(t, f, writeKey(t, key))
	_, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana})
	wantKind(t, err, connectors.KindInvalid)
	if u := f.User(sftest.DanaID); !u.Frozen || !u.IsActive {
		t.Fatalf("state after refusal %+v, want frozen and still active", u)
	}
	// A retry after the refusal freezes nothing twice (the fake flags it).
	_, err = c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana})
	wantKind(t, err, connectors.KindInvalid)
	if v, err := c.Verify(ctxT(t), connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana}); err != nil || !v.OK {
		t.Fatalf("freeze verify after refusal = %+v, %v", v, err)
	}
}

// TestOutboundPolicy checks that the connector's requests go through the
// outbound URL policy: with no policy, a loopback instance is refused
// before any request, as a permanent error.
func TestOutboundPolicy(t *testing.T) {
	s := newScript(t)
	cfg := Config{InstanceURL: s.srv.URL, LoginURL: s.srv.URL, ClientID: consumerKey, Username: integration, PrivateKeyFile: writeKey(t, rsaKey(t))}
	c, err := New("sf-refused", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup(ctxT(t), dana)
	wantKind(t, err, connectors.KindInvalid)
	if !errors.Is(err, outbound.ErrURLRefused) {
		t.Errorf("error %v does not wrap outbound.ErrURLRefused", err)
	}
}
