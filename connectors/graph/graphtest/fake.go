// Package graphtest is a small stateful Microsoft Graph (and token
// endpoint) for tests: the graph connector's own tests and end-to-end
// tests of a departure.
package graphtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fake is a small stateful Microsoft Graph (and token endpoint) on
// httptest: users, groups, SharePoint sites, OneDrive permissions and
// eDiscovery cases live in maps and the endpoints the connector calls
// change them, including inside JSON batches. It echoes the bearer token
// and client secret into its error messages, so redaction is tested on
// every failure path. A request it does not serve fails the test.
type Fake struct {
	t testing.TB
	// Server serves Graph under /v1.0 and the token endpoint under
	// /{tenant}/oauth2/v2.0/token: point both the authority and the Graph
	// URL (Server.URL + "/v1.0") at it.
	Server *httptest.Server
	stop   chan struct{}

	mu       sync.Mutex
	sites    map[string]*fakeSite // by "host:/path" and by id
	cases    map[string]*fakeCase
	permSeq  int
	users    map[string]*fakeUser // by id
	groups   map[string]*fakeGroup
	order    []string // group ids in creation order
	tokens   map[string]bool
	tokenSeq int
	// PageSize is the page size of lists (default 100); set it before the
	// first request.
	PageSize int

	failStatus int  // the next Graph answer's status (0: none)
	failToken  bool // the next token request is refused (invalid_client)
	slow       bool

	graphRequests, tokenRequests int
	counts                       map[string]int // "METHOD /path" → HTTP requests
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

// Secret is the client secret the token endpoint accepts.
const Secret = "conf-secret-Xy7!q"

// Token is the n-th access token the fake issues (from 1).
func Token(n int) string { return fmt.Sprintf("tok-%d-Zq9", n) }

// New starts a fake Graph; it stops when the test ends.
func New(t testing.TB) *Fake {
	f := &Fake{
		t: t, stop: make(chan struct{}),
		users: map[string]*fakeUser{}, sites: map[string]*fakeSite{}, cases: map[string]*fakeCase{}, groups: map[string]*fakeGroup{}, tokens: map[string]bool{},
		PageSize: 100, counts: map[string]int{},
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Server.Close)
	t.Cleanup(func() { close(f.stop) }) // runs first: releases stalled handlers
	return f
}

func (f *Fake) addUser(u *fakeUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u.autoReply == nil {
		u.autoReply = map[string]any{"status": "disabled", "externalAudience": "all", "internalReplyMessage": "", "externalReplyMessage": ""}
	}
	f.users[u.id] = u
}

func (f *Fake) addGroup(g *fakeGroup, memberIDs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g.members = map[string]bool{}
	for _, m := range memberIDs {
		g.members[m] = true
	}
	f.groups[g.id] = g
	f.order = append(f.order, g.id)
}

// Inject makes the next Graph answer fail with status; 401 also makes the
// next token request fail, as when credentials are revoked.
func (f *Fake) Inject(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failStatus = status
	f.failToken = status == http.StatusUnauthorized
}

// Totals is the number of Graph requests (a JSON batch counts once) and
// token requests received.
func (f *Fake) Totals() (graphReqs, tokenReqs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.graphRequests, f.tokenRequests
}

// Counts is the number of HTTP requests received per "METHOD /path"
// (a JSON batch is one "POST /v1.0/$batch").
func (f *Fake) Counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.counts)
}

// SetSlow holds every request until its client gives up or the test ends.
func (f *Fake) SetSlow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slow = true
}

// GroupSpec describes a group to add.
type GroupSpec struct {
	ID, Name string
	Dynamic  bool // a membership rule manages its members
	Synced   bool // synced from on-premises AD
	Unified  bool // a Microsoft 365 group
}

// AddGroup adds a group with these member object IDs.
func (f *Fake) AddGroup(g GroupSpec, memberIDs ...string) {
	f.addGroup(&fakeGroup{id: g.ID, name: g.Name, dynamic: g.Dynamic, synced: g.Synced, unified: g.Unified}, memberIDs...)
}

// IsMember reports whether group gid has member uid.
func (f *Fake) IsMember(gid, uid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[gid]
	return g != nil && g.members[uid]
}

// IsOwner reports whether group gid has owner uid.
func (f *Fake) IsOwner(gid, uid string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[gid]
	return g != nil && g.owners[uid]
}

// RemoveMember takes uid out of group gid behind the connector's back.
func (f *Fake) RemoveMember(gid, uid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.groups[gid].members, uid)
}

// DriveRoles returns the roles each user (by object ID) holds on the root
// of user id's OneDrive.
func (f *Fake) DriveRoles(id string) map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return rolesOf(f.users[id].drive)
}

// SiteRoles returns the roles each user (by object ID) holds directly on
// the root of the document library of the site with this web URL.
func (f *Fake) SiteRoles(webURL string) map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sites {
		if s.webURL == webURL {
			return rolesOf(s.perms)
		}
	}
	return nil
}

func rolesOf(perms []map[string]any) map[string][]string {
	out := map[string][]string{}
	for _, p := range perms {
		g, _ := p["grantedToV2"].(map[string]any)
		u, _ := g["user"].(map[string]any)
		id, _ := u["id"].(string)
		if id == "" {
			continue
		}
		switch r := p["roles"].(type) {
		case []string:
			out[id] = append(out[id], r...)
		case []any:
			for _, x := range r {
				out[id] = append(out[id], fmt.Sprint(x))
			}
		}
	}
	return out
}

type answer struct {
	status int
	header map[string]string
	body   any
}

func gerr(status int, code, msg string) answer {
	return answer{status: status, body: map[string]any{"error": map[string]any{"code": code, "message": msg}}}
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.counts[r.Method+" "+r.URL.Path]++
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

func (f *Fake) token(r *http.Request, body []byte) answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenRequests++
	form, _ := url.ParseQuery(string(body))
	if f.failToken || form.Get("client_secret") != Secret {
		f.failToken = false
		return answer{status: http.StatusUnauthorized, body: map[string]any{
			"error":             "invalid_client",
			"error_description": "AADSTS7000215: Invalid client secret provided: " + form.Get("client_secret") + "\r\nTrace ID: x",
		}}
	}
	f.tokenSeq++
	tok := Token(f.tokenSeq)
	f.tokens[tok] = true
	return answer{status: http.StatusOK, body: map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": tok}}
}

func (f *Fake) graph(r *http.Request, body []byte) answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.graphRequests++
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	echo := fmt.Sprintf(" (token %s, secret %s)", tok, Secret)
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
func (f *Fake) route(method, path string, q url.Values, body []byte) answer {
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
	f.t.Errorf("fake Graph: unexpected request %s %s", method, path)
	return gerr(400, "BadRequest", "Resource not found for the segment "+path)
}

func (f *Fake) userRoute(method string, u *fakeUser, rest []string, q url.Values, body []byte) answer {
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
		end := min(skip+f.PageSize, len(all))
		res := map[string]any{"value": all[skip:end]}
		if end < len(all) {
			res["@odata.nextLink"] = fmt.Sprintf("%s/v1.0/users/%s/memberOf/microsoft.graph.group?$select=%s&$skiptoken=%d",
				f.Server.URL, u.id, url.QueryEscape(q.Get("$select")), end)
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

func (f *Fake) batch(body []byte) answer {
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

func (f *Fake) user(idOrUPN string) *fakeUser {
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

func (f *Fake) sortedUsers() []*fakeUser {
	var us []*fakeUser
	for _, u := range f.users {
		us = append(us, u)
	}
	sort.Slice(us, func(i, j int) bool { return us[i].id < us[j].id })
	return us
}

func (f *Fake) userJSON(u *fakeUser) map[string]any {
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

// The seeded people's object IDs.
const (
	DanaID    = "9f1c2d3e-dana"
	ManagerID = "mgr-walter"
)

// SeedDana gives the fake dana.scully@example.com (employeeId E100): an
// active, licensed user in five assigned groups (g-1 … g-5: sales-team,
// crm-admin, vpn-users, project-x (a Microsoft 365 group she co-owns,
// behind the site /sites/projectx), finance-read), one kept group
// (all-staff) and one dynamic group; her manager walter.skinner (who can
// read her OneDrive); a classic site /sites/legal with a file shared to
// her directly; and the eDiscovery case "case-departures".
func (f *Fake) SeedDana() {
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
