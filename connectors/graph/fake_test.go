package graph_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/graph"
	"github.com/kineticsec/kinetic/internal/secret"
)

// fakeGraph is a small stateful Microsoft Graph (and token endpoint) on
// httptest: users and groups live in maps and the endpoints the connector
// calls change them, including inside JSON batches. It echoes the bearer
// token and client secret into its error messages, so redaction is tested
// on every failure path.
type fakeGraph struct {
	t    *testing.T
	srv  *httptest.Server
	stop chan struct{}

	mu       sync.Mutex
	sites    map[string]*fakeSite // by "host:/path" and by id
	cases    map[string]*fakeCase
	permSeq  int
	users    map[string]*fakeUser // by id
	groups   map[string]*fakeGroup
	order    []string // group ids in creation order
	tokens   map[string]bool
	tokenSeq int
	pageSize int

	failStatus int  // the next Graph answer's status (0: none)
	failToken  bool // the next token request is refused (invalid_client)
	slow       bool

	graphRequests, tokenRequests int
}

type fakeUser struct {
	id, upn, mail, employeeID string
	enabled, synced           bool
	validFrom                 time.Time
	licenses                  []map[string]any
	autoReply                 map[string]any
	rules                     []map[string]any
	ruleSeq                   int
	manager                   string           // object ID, "" for none
	drive                     []map[string]any // OneDrive root permissions; nil: no OneDrive
}

type fakeGroup struct {
	id, name         string
	dynamic, synced  bool
	unified, mailDL  bool
	members          map[string]bool
	owners           map[string]bool
	membershipRuleOn bool
	roleAssignable   bool
}

const fakeSecret = "conf-secret-Xy7!q"

func fakeToken(n int) string { return fmt.Sprintf("tok-%d-Zq9", n) }

func newFakeGraph(t *testing.T) *fakeGraph {
	f := &fakeGraph{
		t: t, stop: make(chan struct{}),
		users: map[string]*fakeUser{}, sites: map[string]*fakeSite{}, cases: map[string]*fakeCase{}, groups: map[string]*fakeGroup{}, tokens: map[string]bool{},
		pageSize: 100,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.stop) }) // runs first: releases stalled handlers
	return f
}

func (f *fakeGraph) addUser(u *fakeUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u.autoReply == nil {
		u.autoReply = map[string]any{"status": "disabled", "externalAudience": "all", "internalReplyMessage": "", "externalReplyMessage": ""}
	}
	f.users[u.id] = u
}

func (f *fakeGraph) addGroup(g *fakeGroup, memberIDs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g.members = map[string]bool{}
	for _, m := range memberIDs {
		g.members[m] = true
	}
	f.groups[g.id] = g
	f.order = append(f.order, g.id)
}

// inject makes the next Graph answer fail with status; 401 also makes the
// next token request fail, as when credentials are revoked.
func (f *fakeGraph) inject(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failStatus = status
	f.failToken = status == http.StatusUnauthorized
}

func (f *fakeGraph) counts() (graphReqs, tokenReqs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.graphRequests, f.tokenRequests
}

type answer struct {
	status int
	header map[string]string
	body   any
}

func gerr(status int, code, msg string) answer {
	return answer{status: status, body: map[string]any{"error": map[string]any{"code": code, "message": msg}}}
}

func (f *fakeGraph) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	slow := f.slow
	f.mu.Unlock()
	if slow {
		select {
		case <-r.Context().Done():
		case <-f.stop:
		}
		return
	}
	var a answer
	if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
		a = f.token(r, body)
	} else {
		a = f.graph(r, body)
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	if a.body != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	if a.body != nil {
		json.NewEncoder(w).Encode(a.body)
	}
}

func (f *fakeGraph) token(r *http.Request, body []byte) answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenRequests++
	form, _ := url.ParseQuery(string(body))
	if f.failToken || form.Get("client_secret") != fakeSecret {
		f.failToken = false
		return answer{status: http.StatusUnauthorized, body: map[string]any{
			"error":             "invalid_client",
			"error_description": "AADSTS7000215: Invalid client secret provided: " + form.Get("client_secret") + "\r\nTrace ID: x",
		}}
	}
	f.tokenSeq++
	tok := fakeToken(f.tokenSeq)
	f.tokens[tok] = true
	return answer{status: http.StatusOK, body: map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": tok}}
}

func (f *fakeGraph) graph(r *http.Request, body []byte) answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.graphRequests++
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	echo := fmt.Sprintf(" (token %s, secret %s)", tok, fakeSecret)
	if fail := f.failStatus; fail != 0 {
		f.failStatus = 0
		a := gerr(fail, "Injected", "injected failure"+echo)
		switch fail {
		case http.StatusTooManyRequests:
			a.header = map[string]string{"Retry-After": "2"}
		case http.StatusServiceUnavailable:
			a.header = map[string]string{"Retry-After": "1"}
		}
		return a
	}
	if !f.tokens[tok] {
		return gerr(http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure"+echo)
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1.0")
	return f.route(r.Method, path, r.URL.Query(), body)
}

var filterTerm = regexp.MustCompile(`(\w+) eq '((?:[^']|'')*)'`)

// route answers one Graph request (also each request inside a batch).
// Called with f.mu held.
func (f *fakeGraph) route(method, path string, q url.Values, body []byte) answer {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case method == "POST" && path == "/$batch":
		return f.batch(body)
	case method == "GET" && path == "/users":
		var found []any
		for _, u := range f.sortedUsers() {
			for _, m := range filterTerm.FindAllStringSubmatch(q.Get("$filter"), -1) {
				v := strings.ReplaceAll(m[2], "''", "'")
				if (m[1] == "userPrincipalName" && strings.EqualFold(u.upn, v)) || (m[1] == "mail" && strings.EqualFold(u.mail, v)) ||
					(m[1] == "employeeId" && u.employeeID == v) {
					found = append(found, f.userJSON(u))
					break
				}
			}
		}
		return answer{status: 200, body: map[string]any{"value": found}}
	case len(seg) >= 2 && seg[0] == "users":
		u := f.user(seg[1])
		if u == nil {
			return gerr(404, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", seg[1]))
		}
		return f.userRoute(method, u, seg[2:], q, body)
	case len(seg) == 5 && seg[0] == "groups" && seg[2] == "members" && seg[4] == "$ref" && method == "DELETE":
		g := f.groups[seg[1]]
		switch {
		case g == nil || !g.members[seg[3]]:
			return gerr(404, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", seg[3]))
		case g.dynamic:
			return gerr(400, "Request_BadRequest", "Insufficient privileges to complete the write operation: group membership is managed by a rule.")
		case g.synced:
			return gerr(400, "Request_BadRequest", "Unable to update the specified properties for on-premises mastered Directory Sync objects or objects currently undergoing migration.")
		}
		delete(g.members, seg[3])
		return answer{status: 204}
	}
	if a, ok := f.routeM365(method, path, q, body); ok {
		return a
	}
	return gerr(400, "BadRequest", "Resource not found for the segment "+path)
}

func (f *fakeGraph) userRoute(method string, u *fakeUser, rest []string, q url.Values, body []byte) answer {
	sub := strings.Join(rest, "/")
	switch {
	case sub == "" && method == "GET":
		return answer{status: 200, body: f.userJSON(u)}
	case sub == "" && method == "PATCH":
		var p map[string]any
		if err := json.Unmarshal(body, &p); err != nil {
			return gerr(400, "BadRequest", "malformed body")
		}
		if v, ok := p["accountEnabled"].(bool); ok {
			u.enabled = v
		}
		return answer{status: 204}
	case sub == "revokeSignInSessions" && method == "POST":
		u.validFrom = time.Now().UTC()
		return answer{status: 200, body: map[string]any{"value": true}}
	case sub == "memberOf/microsoft.graph.group" && method == "GET":
		var all []any
		for _, id := range f.order {
			if g := f.groups[id]; g.members[u.id] {
				all = append(all, groupJSON(g))
			}
		}
		skip, _ := strconv.Atoi(q.Get("$skiptoken"))
		end := min(skip+f.pageSize, len(all))
		res := map[string]any{"value": all[skip:end]}
		if end < len(all) {
			res["@odata.nextLink"] = fmt.Sprintf("%s/v1.0/users/%s/memberOf/microsoft.graph.group?$select=%s&$skiptoken=%d",
				f.srv.URL, u.id, url.QueryEscape(q.Get("$select")), end)
		}
		return answer{status: 200, body: res}
	case sub == "assignLicense" && method == "POST":
		var p struct {
			RemoveLicenses []string `json:"removeLicenses"`
		}
		json.Unmarshal(body, &p)
		for _, sku := range p.RemoveLicenses {
			n := 0
			for _, l := range u.licenses {
				if l["skuId"] == sku && l["assignedByGroup"] == nil {
					continue
				}
				u.licenses[n] = l
				n++
			}
			if n == len(u.licenses) {
				return gerr(400, "Request_BadRequest", "License "+sku+" is not assigned directly to the user.")
			}
			u.licenses = u.licenses[:n]
		}
		return answer{status: 200, body: f.userJSON(u)}
	case sub == "mailboxSettings/automaticRepliesSetting" && method == "GET":
		return answer{status: 200, body: u.autoReply}
	case sub == "mailboxSettings" && method == "PATCH":
		var p struct {
			Setting map[string]any `json:"automaticRepliesSetting"`
		}
		json.Unmarshal(body, &p)
		for k, v := range p.Setting {
			if s, ok := v.(string); ok && strings.HasSuffix(k, "ReplyMessage") {
				v = "<html><body>" + s + "</body></html>" // as Exchange stores it
			}
			u.autoReply[k] = v
		}
		return answer{status: 200, body: map[string]any{"automaticRepliesSetting": u.autoReply}}
	case sub == "mailFolders/inbox/messageRules" && method == "GET":
		return answer{status: 200, body: map[string]any{"value": u.rules}}
	case sub == "mailFolders/inbox/messageRules" && method == "POST":
		var rule map[string]any
		json.Unmarshal(body, &rule)
		u.ruleSeq++
		rule["id"] = fmt.Sprintf("rule-%d", u.ruleSeq)
		u.rules = append(u.rules, rule)
		return answer{status: 201, body: rule}
	case strings.HasPrefix(sub, "mailFolders/inbox/messageRules/"):
		id := strings.TrimPrefix(sub, "mailFolders/inbox/messageRules/")
		for i, rule := range u.rules {
			if rule["id"] != id {
				continue
			}
			switch method {
			case "DELETE":
				u.rules = append(u.rules[:i], u.rules[i+1:]...)
				return answer{status: 204}
			case "PATCH":
				var p map[string]any
				json.Unmarshal(body, &p)
				for k, v := range p {
					rule[k] = v
				}
				return answer{status: 200, body: rule}
			}
		}
		return gerr(404, "ErrorItemNotFound", "The specified object was not found in the store.")
	}
	if a, ok := f.userRouteM365(method, u, sub, q, body); ok {
		return a
	}
	return gerr(400, "BadRequest", "unsupported request "+method+" "+sub)
}

func (f *fakeGraph) batch(body []byte) answer {
	var in struct {
		Requests []struct {
			ID     string          `json:"id"`
			Method string          `json:"method"`
			URL    string          `json:"url"`
			Body   json.RawMessage `json:"body"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.Requests) > 20 {
		return gerr(400, "BadRequest", "invalid batch")
	}
	var out []any
	for _, r := range in.Requests {
		u, _ := url.Parse(r.URL)
		a := f.route(r.Method, u.Path, u.Query(), r.Body)
		var b any
		if a.body != nil {
			b = a.body
		}
		out = append(out, map[string]any{"id": r.ID, "status": a.status, "headers": a.header, "body": b})
	}
	return answer{status: 200, body: map[string]any{"responses": out}}
}

func (f *fakeGraph) user(idOrUPN string) *fakeUser {
	if u := f.users[idOrUPN]; u != nil {
		return u
	}
	for _, u := range f.users {
		if strings.EqualFold(u.upn, idOrUPN) {
			return u
		}
	}
	return nil
}

func (f *fakeGraph) sortedUsers() []*fakeUser {
	var us []*fakeUser
	for _, u := range f.users {
		us = append(us, u)
	}
	sort.Slice(us, func(i, j int) bool { return us[i].id < us[j].id })
	return us
}

func (f *fakeGraph) userJSON(u *fakeUser) map[string]any {
	var synced any
	if u.synced {
		synced = true
	}
	lic := u.licenses
	if lic == nil {
		lic = []map[string]any{}
	}
	return map[string]any{
		"id": u.id, "userPrincipalName": u.upn, "mail": u.mail, "displayName": u.upn, "employeeId": u.employeeID,
		"accountEnabled": u.enabled, "onPremisesSyncEnabled": synced,
		"signInSessionsValidFromDateTime": u.validFrom.UTC().Format(time.RFC3339),
		"licenseAssignmentStates":         lic,
	}
}

func groupJSON(g *fakeGroup) map[string]any {
	types := []string{}
	var rule any
	if g.dynamic {
		types = append(types, "DynamicMembership")
		rule = `user.department -eq "Sales"`
	}
	if g.unified {
		types = append(types, "Unified")
	}
	var synced any
	if g.synced {
		synced = true
	}
	return map[string]any{"id": g.id, "displayName": g.name, "groupTypes": types, "membershipRule": rule,
		"onPremisesSyncEnabled": synced, "mailEnabled": g.unified || g.mailDL, "securityEnabled": !g.mailDL, "isAssignableToRole": g.roleAssignable}
}

// seedDana gives the fake the present subject: an active, licensed user in
// five assigned groups, one kept group and one dynamic group.
func seedDana(f *fakeGraph) {
	f.addUser(&fakeUser{
		id: "9f1c2d3e-dana", upn: "dana.scully@example.com", mail: "dana.scully@example.com", employeeID: "E100",
		enabled: true, validFrom: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		licenses: []map[string]any{
			{"skuId": "sku-e5", "assignedByGroup": nil, "state": "Active"},
			{"skuId": "sku-ems", "assignedByGroup": "g-lic", "state": "Active"},
		},
	})
	f.addUser(&fakeUser{id: "other-user", upn: "fox@example.com", mail: "fox@example.com", enabled: true})
	f.addUser(&fakeUser{id: "mgr-walter", upn: "walter.skinner@example.com", mail: "walter.skinner@example.com", enabled: true})
	f.mu.Lock()
	dana := f.users["9f1c2d3e-dana"]
	dana.manager = "mgr-walter"
	// The manager can already read the OneDrive; grant_drive_access asks for write.
	dana.drive = []map[string]any{
		{"id": "perm-owner", "roles": []string{"owner"}, "grantedToV2": map[string]any{"user": map[string]any{"id": "9f1c2d3e-dana", "email": "dana.scully@example.com"}}},
		userPerm("perm-mgr-read", "mgr-walter", "walter.skinner@example.com", "read"),
	}
	f.cases["case-departures"] = &fakeCase{id: "case-departures", name: "Departures", status: "active"}
	f.mu.Unlock()
	for i, name := range []string{"sales-team", "crm-admin", "vpn-users", "project-x", "finance-read"} {
		f.addGroup(&fakeGroup{id: fmt.Sprintf("g-%d", i+1), name: name, unified: i == 3}, "9f1c2d3e-dana", "other-user")
	}
	f.addGroup(&fakeGroup{id: "g-staff", name: "all-staff"}, "9f1c2d3e-dana")
	f.addGroup(&fakeGroup{id: "g-dyn", name: "sales-dynamic", dynamic: true}, "9f1c2d3e-dana")
	// project-x (g-4, a Microsoft 365 group) is behind a team site Dana
	// co-owns; the legal site is classic, with a file shared to Dana directly.
	f.mu.Lock()
	f.groups["g-4"].owners = map[string]bool{"9f1c2d3e-dana": true, "other-user": true}
	f.mu.Unlock()
	f.addSite(&fakeSite{id: "contoso.sharepoint.com,s-px,w-px", webURL: "https://contoso.sharepoint.com/sites/projectx", groupID: "g-4"}, "contoso.sharepoint.com:/sites/projectx")
	f.addSite(&fakeSite{id: "contoso.sharepoint.com,s-lg,w-lg", webURL: "https://contoso.sharepoint.com/sites/legal", perms: []map[string]any{
		userPerm("perm-dana-legal", "9f1c2d3e-dana", "dana.scully@example.com", "write"),
		{"id": "perm-members", "roles": []string{"write"}, "grantedToV2": map[string]any{"siteGroup": map[string]any{"id": "5", "displayName": "Legal Members"}}},
	}}, "contoso.sharepoint.com:/sites/legal")
}

// siteParams names the two seeded sites.
var siteParams = map[string]string{"sites": "https://contoso.sharepoint.com/sites/projectx, https://contoso.sharepoint.com/sites/legal/"}

var (
	present = connectors.Subject{EmployeeID: "E100", Email: "Dana.Scully@EXAMPLE.com", DisplayName: "Dana Scully"}
	missing = connectors.Subject{EmployeeID: "E999", Email: "nobody@example.com", Username: "nobody"}
)

func newFakeConn(t *testing.T, f *fakeGraph, mod ...func(*graph.Config)) *graph.Connector {
	t.Helper()
	cfg := graph.Config{
		TenantID: "tenant-1", ClientID: "app-1", ClientSecret: secret.FromValue(fakeSecret),
		AuthorityURL: f.srv.URL, GraphURL: f.srv.URL + "/v1.0",
		KeepGroups:       []string{"all-staff"},
		EDiscoveryCaseID: "case-departures",
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := graph.New("m365-test", cfg, testPolicy(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	var fakes sync.Map // *graph.Connector → *fakeGraph
	fakeOf := func(t *testing.T, c connectors.Connector) *fakeGraph {
		f, ok := fakes.Load(c)
		if !ok {
			t.Fatalf("no fake Graph for %v", c)
		}
		return f.(*fakeGraph)
	}
	secrets := []string{fakeSecret}
	for i := 1; i <= 20; i++ {
		secrets = append(secrets, fakeToken(i))
	}
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			f := newFakeGraph(t)
			f.pageSize = 2 // exercise @odata.nextLink
			seedDana(f)
			c := newFakeConn(t, f)
			fakes.Store(connectors.Connector(c), f)
			return c
		},
		Present: present,
		Missing: missing,
		// delete_mailbox is left out: once the user is deleted, a subject
		// (without the object ID the engine passes) cannot be told from one
		// that never existed, so the second call answers none_found, not
		// already_done. TestDeleteMailbox covers it, with the object ID.
		Ops: slices.DeleteFunc(graph.Config{EDiscoveryCaseID: "case-departures"}.Operations(),
			func(op connectors.Operation) bool { return op == connectors.OpDeleteMailbox }),
		Params: map[connectors.Operation]map[string]string{
			connectors.OpRemoveSiteAccess:       siteParams,
			connectors.OpRemoveGroupMemberships: {"keep": "sales-team"},
			connectors.OpSetAutoReply:           {"auto_reply": "Dana has left. Please write to sales@example.com."},
			connectors.OpSetForwarding:          {"forward_to": "manager@example.com"},
		},
		InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
			status := map[connectors.Kind]int{
				connectors.KindTransient:   http.StatusServiceUnavailable,
				connectors.KindRateLimited: http.StatusTooManyRequests,
				connectors.KindAuth:        http.StatusUnauthorized,
				connectors.KindForbidden:   http.StatusForbidden,
				connectors.KindInvalid:     http.StatusBadRequest,
				connectors.KindNotFound:    http.StatusNotFound,
			}[kind]
			if status == 0 {
				t.Fatalf("cannot inject %s", kind)
			}
			fakeOf(t, c).inject(status)
		},
		Slow: func(t *testing.T, c connectors.Connector) {
			f := fakeOf(t, c)
			f.mu.Lock()
			f.slow = true
			f.mu.Unlock()
		},
		Secrets: secrets,
	})
}

// TestRequestsPerDeparture counts the HTTP requests one departure costs: a
// Lookup, then disable_account, revoke_sessions and remove_group_memberships
// for a user in five groups, each followed by its Verify.
func TestRequestsPerDeparture(t *testing.T) {
	for _, tc := range []struct {
		name      string
		batch     bool
		wantGraph int
	}{
		{"batched", true, 11},
		{"one DELETE per group", false, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeGraph(t)
			seedDana(f)
			batch := tc.batch
			c := newFakeConn(t, f, func(c *graph.Config) { c.Batch = &batch; c.KeepGroups = nil })
			// Only the five assigned groups are removable.
			f.mu.Lock()
			delete(f.groups["g-staff"].members, "9f1c2d3e-dana")
			delete(f.groups["g-dyn"].members, "9f1c2d3e-dana")
			f.mu.Unlock()

			ctx := ctxT(t)
			lr, err := c.Lookup(ctx, present)
			if err != nil || len(lr.Accounts) != 1 || len(lr.Accounts[0].Groups) != 5 {
				t.Fatalf("Lookup = %+v, %v", lr, err)
			}
			id := lr.Accounts[0].ID
			for _, op := range []connectors.Operation{connectors.OpDisableAccount, connectors.OpRevokeSessions, connectors.OpRemoveGroupMemberships} {
				r := connectors.Request{Operation: op, Subject: present, Account: id}
				res, err := c.Do(ctx, r)
				if err != nil || res.Outcome != connectors.OutcomeDone {
					t.Fatalf("%s = %+v, %v", op, res, err)
				}
				v, err := c.Verify(ctx, r)
				if err != nil || !v.OK {
					t.Fatalf("verify %s = %+v, %v", op, v, err)
				}
			}
			g, tok := f.counts()
			t.Logf("one departure (lookup + disable + revoke + 5 groups, each verified): %d Graph requests + %d token request = %d HTTP requests", g, tok, g+tok)
			if g != tc.wantGraph || tok != 1 {
				t.Errorf("requests = %d Graph + %d token, want %d + 1", g, tok, tc.wantGraph)
			}
		})
	}
}

// TestFakeRejectsRemovalFromDynamicGroup checks the connector never tries:
// the fake would answer 400 for a dynamic or synced group.
func TestFakeRejectsRemovalFromDynamicGroup(t *testing.T) {
	f := newFakeGraph(t)
	seedDana(f)
	f.addGroup(&fakeGroup{id: "g-sync", name: "hq-doors", synced: true}, "9f1c2d3e-dana")
	c := newFakeConn(t, f)
	res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpRemoveGroupMemberships, Subject: present})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if !strings.Contains(res.Detail, "sales-dynamic (dynamic membership rule)") || !strings.Contains(res.Detail, "hq-doors (synced from on-premises AD") {
		t.Fatalf("Detail %q does not report the skipped groups", res.Detail)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.groups["g-dyn"].members["9f1c2d3e-dana"] || !f.groups["g-staff"].members["9f1c2d3e-dana"] || f.groups["g-1"].members["9f1c2d3e-dana"] {
		t.Fatal("wrong memberships changed")
	}
}
