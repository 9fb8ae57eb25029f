package scim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/scim"
	"github.com/kineticsec/kinetic/connectors/scim/scimtest"
	"github.com/kineticsec/kinetic/internal/secret"
)

// A scripted service provider: each expected request is checked in order
// (method, path, exact query, bearer token, If-Match, JSON body) and
// answered as scripted; a request beyond the script, or a scripted one
// that never came, fails the test.

type call struct {
	method  string
	path    string            // decoded, below the server root
	query   map[string]string // exact; nil means none
	body    string            // expected JSON, compared as JSON; "" means none
	token   string            // expected bearer; "" means scimtest.Token; "-" for token requests
	ifMatch string
	form    map[string]string // token requests: form values that must be present

	status  int
	headers map[string]string
	resp    string
}

type script struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	calls []call
	next  int
}

func newScript(t *testing.T, calls ...call) *script {
	t.Helper()
	s := &script{t: t, calls: calls}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, c := range s.calls[s.next:] {
			t.Errorf("expected request never came: %s %s", c.method, c.path)
		}
	})
	return s
}

func (s *script) serve(w http.ResponseWriter, r *http.Request) {
	t := s.t
	raw, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	if s.next >= len(s.calls) {
		s.mu.Unlock()
		t.Errorf("unexpected request %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
		w.WriteHeader(http.StatusTeapot)
		return
	}
	c := s.calls[s.next]
	n := s.next + 1
	s.next++
	s.mu.Unlock()

	if r.Method != c.method || r.URL.Path != c.path {
		t.Errorf("request %d: got %s %s, want %s %s", n, r.Method, r.URL.Path, c.method, c.path)
	}
	if c.token == "-" {
		form, _ := url.ParseQuery(string(raw))
		for k, v := range c.form {
			if form.Get(k) != v {
				t.Errorf("request %d: form %s = %q, want %q", n, k, form.Get(k), v)
			}
		}
		if user, pass, ok := r.BasicAuth(); !ok || user != "client-1" || pass != oauthSecret {
			t.Errorf("request %d: token request without the client's HTTP Basic credentials", n)
		}
	} else {
		want := c.token
		if want == "" {
			want = scimtest.Token
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+want {
			t.Errorf("request %d: Authorization = %q, want the bearer %q", n, got, want)
		}
		q := map[string]string{}
		for k, v := range r.URL.Query() {
			q[k] = strings.Join(v, ",")
		}
		if (c.query == nil && len(q) > 0) || (c.query != nil && !reflect.DeepEqual(q, c.query)) {
			t.Errorf("request %d: query = %v, want %v", n, q, c.query)
		}
		if strings.Contains(r.URL.RawQuery, "+") {
			t.Errorf("request %d: query %q encodes spaces as '+'", n, r.URL.RawQuery)
		}
		if got := r.Header.Get("If-Match"); got != c.ifMatch {
			t.Errorf("request %d: If-Match = %q, want %q", n, got, c.ifMatch)
		}
		if c.body == "" && len(raw) > 0 {
			t.Errorf("request %d: unexpected body %s", n, raw)
		}
		if c.body != "" {
			if ct := r.Header.Get("Content-Type"); ct != "application/scim+json" {
				t.Errorf("request %d: Content-Type = %q", n, ct)
			}
			var got, want any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Errorf("request %d: body is not JSON: %s", n, raw)
			}
			_ = json.Unmarshal([]byte(c.body), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("request %d: body = %s, want %s", n, raw, c.body)
			}
		}
	}
	ct := "application/scim+json"
	for k, v := range c.headers {
		if strings.EqualFold(k, "Content-Type") {
			ct = v
			continue
		}
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", ct)
	status := c.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, c.resp)
}

const oauthSecret = "oauth-CLIENT-secret-9a8b"

func (s *script) conn(t *testing.T, mod ...func(*scim.Config)) *scim.Connector {
	t.Helper()
	return newConn(t, s.srv.URL+"/v2", append([]func(*scim.Config){func(c *scim.Config) { c.KeepGroups = nil }}, mod...)...)
}

// Canned requests and answers.
var (
	spcCall = func(etag bool) call {
		e := "false"
		if etag {
			e = "true"
		}
		return call{method: "GET", path: "/v2/ServiceProviderConfig",
			resp: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],"patch":{"supported":true},"filter":{"supported":true,"maxResults":200},"etag":{"supported":` + e + `}}`}
	}
	findCall = func(status int, resp string) call {
		return call{method: "GET", path: "/v2/Users",
			query:  map[string]string{"filter": `userName eq "dscully"`, "startIndex": "1", "count": "100"},
			status: status, resp: resp}
	}
	danaActive = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"startIndex":1,"itemsPerPage":1,"Resources":[{"id":"u-1","userName":"dscully","active":true,"meta":{"version":"W/\"a1\""}}]}`
	getDana    = func(status int, resp string) call {
		return call{method: "GET", path: "/v2/Users/u-1", status: status, resp: resp}
	}
	userInactive = `{"id":"u-1","userName":"dscully","active":false,"meta":{"version":"W/\"a2\""}}`
	userActive   = `{"id":"u-1","userName":"dscully","active":true,"meta":{"version":"W/\"a3\""}}`
	patchActive  = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`
	patchDana    = func(status int, resp string) call {
		return call{method: "PATCH", path: "/v2/Users/u-1", body: patchActive, status: status, resp: resp}
	}
	listGroups = func(resp string) call {
		return call{method: "GET", path: "/v2/Groups",
			query: map[string]string{"filter": `members.value eq "u-1"`, "excludedAttributes": "members", "startIndex": "1", "count": "100"},
			resp:  resp}
	}
	removeBody = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"u-1\"]"}]}`
	noGroups   = `{"totalResults":0,"startIndex":1,"Resources":[]}`
)

func scimError(status, scimType, detail string) string {
	b, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"}, "status": status, "scimType": scimType, "detail": detail})
	return string(b)
}

func TestScriptedDeactivation(t *testing.T) {
	s := newScript(t, spcCall(false), findCall(200, danaActive), patchDana(204, ""), getDana(200, userInactive))
	res, err := s.conn(t).Do(ctx(t), req(connectors.OpDeactivateUser, dana))
	if err != nil || res.Outcome != connectors.OutcomeDone || res.Account != "u-1" {
		t.Fatalf("= %+v, %v", res, err)
	}
}

// TestStatusTable is the table over the statuses a service provider
// answers, on the lookup and on the write.
func TestStatusTable(t *testing.T) {
	html := map[string]string{"Content-Type": "text/html; charset=utf-8"}
	cases := []struct {
		name     string
		calls    []call
		kind     connectors.Kind // "" for success
		outcome  connectors.Outcome
		retry    time.Duration
		contains string
	}{
		{name: "401 on the lookup is auth", calls: []call{spcCall(false), findCall(401, scimError("401", "", "Authorization failure"))},
			kind: connectors.KindAuth, contains: "Authorization failure"},
		{name: "403 on the lookup is forbidden", calls: []call{spcCall(false), findCall(403, scimError("403", "", "token lacks users:write"))},
			kind: connectors.KindForbidden, contains: "users:write"},
		{name: "404 on the ServiceProviderConfig assumes the defaults", calls: []call{{method: "GET", path: "/v2/ServiceProviderConfig", status: 404}, findCall(200, danaActive), patchDana(200, userInactive), getDana(200, userInactive)},
			outcome: connectors.OutcomeDone},
		{name: "429 with Retry-After is rate limited", calls: []call{spcCall(false), {method: "GET", path: "/v2/Users", query: map[string]string{"filter": `userName eq "dscully"`, "startIndex": "1", "count": "100"}, status: 429, headers: map[string]string{"Retry-After": "30"}}},
			kind: connectors.KindRateLimited, retry: 30 * time.Second},
		{name: "500 is transient", calls: []call{spcCall(false), findCall(500, scimError("500", "", "database down"))},
			kind: connectors.KindTransient, contains: "database down"},
		{name: "an HTML 502 from a proxy is transient and not quoted", calls: []call{spcCall(false), {method: "GET", path: "/v2/Users", query: map[string]string{"filter": `userName eq "dscully"`, "startIndex": "1", "count": "100"}, status: 502, headers: html, resp: "<html><body>upstream " + scimtest.Token + "</body></html>"}},
			kind: connectors.KindTransient, contains: "HTML page"},
		{name: "an HTML 200 (a sign-in page) is invalid", calls: []call{{method: "GET", path: "/v2/ServiceProviderConfig", headers: html, resp: "<html>sign in</html>"}},
			kind: connectors.KindInvalid, contains: "is base_url the SCIM endpoint"},
		{name: "malformed JSON is transient", calls: []call{spcCall(false), findCall(200, `{"totalResults":1,"Resources":[{"id":`)},
			kind: connectors.KindTransient, contains: "not the expected SCIM JSON"},
		{name: "a User without an id is invalid", calls: []call{spcCall(false), findCall(200, `{"totalResults":1,"Resources":[{"userName":"dscully"}]}`)},
			kind: connectors.KindInvalid, contains: "without an id"},
		{name: "409 on the PATCH is invalid", calls: []call{spcCall(false), findCall(200, danaActive), patchDana(409, scimError("409", "mutability", "active is readOnly here"))},
			kind: connectors.KindInvalid, contains: "scimType mutability"},
		{name: "404 on the PATCH: deleted meanwhile, already done", calls: []call{spcCall(false), findCall(200, danaActive), patchDana(404, scimError("404", "", "Resource u-1 not found"))},
			outcome: connectors.OutcomeAlreadyDone},
		{name: "503 on the PATCH is transient", calls: []call{spcCall(false), findCall(200, danaActive), {method: "PATCH", path: "/v2/Users/u-1", body: patchActive, status: 503, headers: map[string]string{"Retry-After": "5"}}},
			kind: connectors.KindTransient, retry: 5 * time.Second},
		{name: "a PATCH that did not take is caught on read-back", calls: []call{spcCall(false), findCall(200, danaActive), patchDana(200, userActive), getDana(200, userActive)},
			kind: connectors.KindTransient, contains: "still reports User u-1 active=true"},
		{name: "412 twice is transient", calls: []call{spcCall(true), findCall(200, danaActive),
			{method: "PATCH", path: "/v2/Users/u-1", body: patchActive, ifMatch: `W/"a1"`, status: 412, resp: scimError("412", "", "changed")},
			getDana(200, userActive),
			{method: "PATCH", path: "/v2/Users/u-1", body: patchActive, ifMatch: `W/"a3"`, status: 412, resp: scimError("412", "", "changed")}},
			kind: connectors.KindTransient, contains: "412 twice"},
		{name: "412 then inactive on re-read is already done", calls: []call{spcCall(true), findCall(200, danaActive),
			{method: "PATCH", path: "/v2/Users/u-1", body: patchActive, ifMatch: `W/"a1"`, status: 412},
			getDana(200, userInactive)},
			outcome: connectors.OutcomeAlreadyDone},
		{name: "a provider ignoring the filter does not make another person the target", calls: []call{spcCall(false),
			findCall(200, `{"totalResults":2,"startIndex":1,"Resources":[{"id":"u-9","userName":"fmulder","active":true},{"id":"u-8","userName":"wskinner","active":true}]}`)},
			outcome: connectors.OutcomeNoneFound},
		{name: "found twice is invalid", calls: []call{spcCall(false),
			findCall(200, `{"totalResults":2,"startIndex":1,"Resources":[{"id":"u-1","userName":"dscully"},{"id":"u-2","userName":"DScully"}]}`)},
			kind: connectors.KindInvalid, contains: "matches 2 Users"},
		{name: "filtering not supported is invalid", calls: []call{{method: "GET", path: "/v2/ServiceProviderConfig", resp: `{"patch":{"supported":true},"filter":{"supported":false}}`}},
			kind: connectors.KindInvalid, contains: "does not support filtering"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, tc.calls...)
			res, err := s.conn(t).Do(ctx(t), req(connectors.OpDeactivateUser, dana))
			if tc.kind == "" {
				if err != nil || res.Outcome != tc.outcome {
					t.Fatalf("= %+v, %v; want %s", res, err, tc.outcome)
				}
				return
			}
			if err == nil {
				t.Fatalf("= %+v, want a %s error", res, tc.kind)
			}
			if got := kindOf(t, err); got != tc.kind {
				t.Fatalf("kind = %s, want %s (%v)", got, tc.kind, err)
			}
			if connectors.IsRetryable(err) != tc.kind.Retryable() {
				t.Fatalf("IsRetryable = %t (%v)", connectors.IsRetryable(err), err)
			}
			if tc.retry != 0 && connectors.RetryAfterOf(err) != tc.retry {
				t.Fatalf("RetryAfter = %s, want %s", connectors.RetryAfterOf(err), tc.retry)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not say %q", err, tc.contains)
			}
			if strings.Contains(err.Error(), scimtest.Token) {
				t.Fatalf("error carries the token: %v", err)
			}
		})
	}
}

func TestScriptedGroupRemoval(t *testing.T) {
	groups := `{"totalResults":4,"startIndex":1,"Resources":[{"id":"g-1","displayName":"eng"},{"id":"g-2","displayName":"sales"},{"id":"g-3","displayName":"ops"},{"id":"g-4","displayName":"all-staff"}]}`
	patch := func(g string, status int, resp string) call {
		return call{method: "PATCH", path: "/v2/Groups/" + g, body: removeBody, status: status, resp: resp}
	}
	t.Run("one failure does not stop the rest; the removed are reported", func(t *testing.T) {
		s := newScript(t, spcCall(false), findCall(200, danaActive), listGroups(groups),
			patch("g-1", 204, ""),
			patch("g-2", 403, scimError("403", "", "group is owned by another app")),
			patch("g-3", 400, scimError("400", "noTarget", "no such member")),
			listGroups(`{"totalResults":1,"startIndex":1,"Resources":[{"id":"g-2","displayName":"sales"},{"id":"g-4","displayName":"all-staff"}]}`))
		c := s.conn(t, func(c *scim.Config) { c.KeepGroups = []string{"ALL-staff"} })
		res, err := c.Do(ctx(t), req(connectors.OpRemoveGroupMemberships, dana))
		if kindOf(t, err) != connectors.KindForbidden {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(err.Error(), "removed 1 of 3 groups; 1 failed: g-2 (sales): forbidden (status 403)") {
			t.Fatalf("err = %v", err)
		}
		if res.Data["removed_groups"] != "g-1" || !strings.Contains(res.Detail, "1 already gone (ops)") || !strings.Contains(res.Detail, "kept all-staff") {
			t.Fatalf("res = %+v", res)
		}
	})
	t.Run("a retryable failure makes the whole retryable", func(t *testing.T) {
		s := newScript(t, spcCall(false), findCall(200, danaActive),
			listGroups(`{"totalResults":2,"startIndex":1,"Resources":[{"id":"g-1","displayName":"eng"},{"id":"g-2","displayName":"sales"}]}`),
			patch("g-1", 403, scimError("403", "", "no")),
			call{method: "PATCH", path: "/v2/Groups/g-2", body: removeBody, status: 429, headers: map[string]string{"Retry-After": "12"}})
		_, err := s.conn(t).Do(ctx(t), req(connectors.OpRemoveGroupMemberships, dana))
		if kindOf(t, err) != connectors.KindRateLimited || connectors.RetryAfterOf(err) != 12*time.Second {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a Group that still lists the User on read-back fails", func(t *testing.T) {
		one := `{"totalResults":1,"startIndex":1,"Resources":[{"id":"g-1","displayName":"eng"}]}`
		s := newScript(t, spcCall(false), findCall(200, danaActive), listGroups(one), patch("g-1", 200, `{"id":"g-1"}`), listGroups(one))
		_, err := s.conn(t).Do(ctx(t), req(connectors.OpRemoveGroupMemberships, dana))
		if kindOf(t, err) != connectors.KindTransient || !strings.Contains(err.Error(), "still lists the User") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ETags: a Group listed without a version is read first", func(t *testing.T) {
		s := newScript(t, spcCall(true), findCall(200, danaActive),
			listGroups(`{"totalResults":1,"startIndex":1,"Resources":[{"id":"g-1","displayName":"eng"}]}`),
			call{method: "GET", path: "/v2/Groups/g-1", query: map[string]string{"excludedAttributes": "members"}, headers: map[string]string{"ETag": `W/"g7"`}, resp: `{"id":"g-1","displayName":"eng"}`},
			call{method: "PATCH", path: "/v2/Groups/g-1", body: removeBody, ifMatch: `W/"g7"`, status: 204},
			listGroups(noGroups))
		res, err := s.conn(t).Do(ctx(t), req(connectors.OpRemoveGroupMemberships, dana))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("= %+v, %v", res, err)
		}
	})
	t.Run("a provider that ignores excludedAttributes and the filter: only the User's groups", func(t *testing.T) {
		s := newScript(t, spcCall(false), findCall(200, danaActive),
			listGroups(`{"totalResults":2,"startIndex":1,"Resources":[{"id":"g-1","displayName":"eng","members":[{"value":"u-1"}]},{"id":"g-2","displayName":"sales","members":[{"value":"u-9"}]}]}`),
			patch("g-1", 204, ""),
			listGroups(`{"totalResults":2,"startIndex":1,"Resources":[{"id":"g-1","displayName":"eng","members":[]},{"id":"g-2","displayName":"sales","members":[{"value":"u-9"}]}]}`))
		res, err := s.conn(t).Do(ctx(t), req(connectors.OpRemoveGroupMemberships, dana))
		if err != nil || res.Data["removed_groups"] != "g-1" {
			t.Fatalf("= %+v, %v", res, err)
		}
	})
}

func TestOAuthClientCredentials(t *testing.T) {
	tokenCall := func(access string) call {
		return call{method: "POST", path: "/oauth/token", token: "-",
			form:    map[string]string{"grant_type": "client_credentials", "scope": "scim.write"},
			headers: map[string]string{"Content-Type": "application/json"},
			resp:    `{"access_token":"` + access + `","token_type":"Bearer","expires_in":3600}`}
	}
	oauth := func(s *script) func(*scim.Config) {
		return func(c *scim.Config) {
			c.Token = secret.Secret{}
			c.OAuth = &scim.OAuth{TokenURL: s.srv.URL + "/oauth/token", ClientID: "client-1", ClientSecret: secret.FromValue(oauthSecret), Scopes: []string{"scim.write"}}
		}
	}
	t.Run("the access token is fetched once and sent as the bearer", func(t *testing.T) {
		spc, find, patch, get := spcCall(false), findCall(200, danaActive), patchDana(204, ""), getDana(200, userInactive)
		for _, c := range []*call{&spc, &find, &patch, &get} {
			c.token = "access-1-abcdef"
		}
		s := newScript(t, tokenCall("access-1-abcdef"), spc, find, patch, get)
		if _, err := s.conn(t, oauth(s)).Do(ctx(t), req(connectors.OpDeactivateUser, dana)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a 401 fetches a new token and retries once", func(t *testing.T) {
		spc1 := spcCall(false)
		spc1.token, spc1.status, spc1.resp = "access-1-abcdef", 401, scimError("401", "", "token revoked")
		spc2 := spcCall(false)
		spc2.token = "access-2-abcdef"
		find := findCall(200, `{"totalResults":0,"startIndex":1,"Resources":[]}`)
		find.token = "access-2-abcdef"
		s := newScript(t, tokenCall("access-1-abcdef"), spc1, tokenCall("access-2-abcdef"), spc2, find)
		lr, err := s.conn(t, oauth(s)).Lookup(ctx(t), dana)
		if err != nil || len(lr.Accounts) != 0 {
			t.Fatalf("= %+v, %v", lr, err)
		}
	})
	t.Run("invalid_client is auth, and says nothing secret", func(t *testing.T) {
		s := newScript(t, call{method: "POST", path: "/oauth/token", token: "-", status: 401,
			headers: map[string]string{"Content-Type": "application/json"},
			resp:    `{"error":"invalid_client","error_description":"bad secret ` + oauthSecret + `"}`})
		_, err := s.conn(t, oauth(s)).Lookup(ctx(t), dana)
		if kindOf(t, err) != connectors.KindAuth || !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), oauthSecret) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a 503 from the token endpoint is transient", func(t *testing.T) {
		s := newScript(t, call{method: "POST", path: "/oauth/token", token: "-", status: 503, resp: "busy"})
		_, err := s.conn(t, oauth(s)).Lookup(ctx(t), dana)
		if kindOf(t, err) != connectors.KindTransient {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRefusedHostIsInvalid(t *testing.T) {
	s := newScript(t)
	c, err := scim.New("app-test", scim.Config{BaseURL: s.srv.URL + "/v2", Token: secret.FromValue(scimtest.Token)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup(ctx(t), dana)
	if kindOf(t, err) != connectors.KindInvalid {
		t.Fatalf("err = %v", err)
	}
}
