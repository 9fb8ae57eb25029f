// Package scimtest is a real SCIM 2.0 service provider in process for
// tests: the scim connector's own tests and end-to-end tests of a
// departure.
package scimtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	elimity "github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	filter "github.com/scim2/filter-parser/v2"
)

// A real SCIM 2.0 service provider in process: github.com/elimity-com/scim
// parses every request, validates bodies and PATCH paths against the
// RFC 7643 User and Group schemas and filters against them, and answers
// in RFC 7644's shapes; the ResourceHandlers below store Users and Groups
// in memory, keep a version per resource and honour If-Match (the
// library leaves versioning to its handlers). A thin wrapper in front of
// it checks the bearer token, logs every request, and can announce ETag
// support in /ServiceProviderConfig (the library always says
// etag.supported=false; service_provider_config.go getRaw).

// Token is the bearer token the provider accepts.
const Token = "scim-bearer-TOKEN-5e6f7a"

// Provider is the service provider: Base() is its SCIM root. A request
// outside the SCIM endpoints (Users, Groups, ServiceProviderConfig,
// Schemas, ResourceTypes under /scim/v2) fails the test.
type Provider struct {
	t testing.TB
	// Server serves the provider; Base() is Server.URL + "/scim/v2".
	Server *httptest.Server
	users  *memStore
	grps   *memStore

	etag bool // announce etag support and enforce If-Match

	mu       sync.Mutex
	log      []string       // "METHOD /path?query", as received
	counts   map[string]int // "METHOD /path" → requests, seeding excluded
	ifMatch  []string       // If-Match of every PATCH/PUT, "" when absent
	failNext []int          // statuses to answer the next requests with
	retryAt  string         // Retry-After sent with a scripted 429
	stall    bool           // hold every request until its client gives up
}

// Options tune the provider.
type Options struct {
	// ETag announces etag support in /ServiceProviderConfig and enforces
	// If-Match on PATCH and PUT.
	ETag bool
	// NoPatch announces patch.supported=false.
	NoPatch bool
	// MaxResults is filter.maxResults (default 100).
	MaxResults int
}

// seedHeader marks the provider's own seeding requests.
const seedHeader = "X-Scimtest-Seed"

// scimPath is every path the provider serves.
var scimPath = regexp.MustCompile(`^/scim/v2/((Users|Groups)(/[^/]+)?|ServiceProviderConfig|Schemas(/[^/]+)?|ResourceTypes(/[^/]+)?)$`)

// New starts a provider; it stops when the test ends.
func New(t testing.TB, o Options) *Provider {
	t.Helper()
	p := &Provider{t: t, etag: o.ETag, counts: map[string]int{}}
	p.users = &memStore{kind: "User", p: p, prefix: "u"}
	p.grps = &memStore{kind: "Group", p: p, prefix: "g"}
	p.users.groups = p.grps
	if o.MaxResults == 0 {
		o.MaxResults = 100
	}
	server, err := elimity.NewServer(&elimity.ServerArgs{
		ServiceProviderConfig: &elimity.ServiceProviderConfig{
			SupportFiltering: true, SupportPatch: !o.NoPatch, MaxResults: o.MaxResults,
			AuthenticationSchemes: []elimity.AuthenticationScheme{{
				Type: elimity.AuthenticationTypeOauthBearerToken, Name: "OAuth Bearer Token",
				Description: "Authentication scheme using the OAuth Bearer Token Standard", Primary: true,
			}},
		},
		ResourceTypes: []elimity.ResourceType{
			{
				ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
				Description: optional.NewString("User Account"),
				Schema:      schema.CoreUserSchema(),
				SchemaExtensions: []elimity.SchemaExtension{
					{Schema: schema.ExtensionEnterpriseUser()},
				},
				Handler: p.users,
			},
			{
				ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
				Description: optional.NewString("Group"),
				Schema:      schema.CoreGroupSchema(),
				Handler:     p.grps,
			},
		},
	})
	if err != nil {
		t.Fatalf("elimity NewServer: %v", err)
	}
	lib := http.StripPrefix("/scim", server) // the library serves /v2/…
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		if r.Header.Get(seedHeader) == "" {
			p.log = append(p.log, r.Method+" "+r.URL.Path+queryOf(r))
			p.counts[r.Method+" "+r.URL.Path]++
		}
		if r.Method == http.MethodPatch || r.Method == http.MethodPut {
			p.ifMatch = append(p.ifMatch, r.Header.Get("If-Match"))
		}
		stall := p.stall
		var fail int
		if len(p.failNext) > 0 {
			fail, p.failNext = p.failNext[0], p.failNext[1:]
		}
		retryAt := p.retryAt
		p.mu.Unlock()
		if stall {
			<-r.Context().Done()
			return
		}
		if !scimPath.MatchString(r.URL.Path) {
			t.Errorf("SCIM provider: unexpected request %s %s", r.Method, r.URL)
			scimErr(w, http.StatusNotFound, "", "no such endpoint")
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+Token {
			scimErr(w, http.StatusUnauthorized, "", "Authorization failure: the bearer token is missing or invalid.")
			return
		}
		if fail != 0 {
			if fail == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", retryAt)
			}
			scimErr(w, fail, "", "scripted failure (echoing the header: "+r.Header.Get("Authorization")+")")
			return
		}
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/ServiceProviderConfig") && p.etag {
			rec := httptest.NewRecorder()
			lib.ServeHTTP(rec, r)
			var spc map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &spc); err != nil {
				t.Errorf("library ServiceProviderConfig: %v", err)
			}
			spc["etag"] = map[string]bool{"supported": true}
			w.Header().Set("Content-Type", "application/scim+json")
			_ = json.NewEncoder(w).Encode(spc)
			return
		}
		lib.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Server.Close)
	return p
}

func queryOf(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.Query().Encode()
}

func scimErr(w http.ResponseWriter, status int, scimType, detail string) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  fmt.Sprint(status), "scimType": scimType, "detail": detail,
	})
}

// Base is the SCIM service root.
func (p *Provider) Base() string { return p.Server.URL + "/scim/v2" }

// Requests returns and clears the request log ("METHOD /path?query").
func (p *Provider) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.log
	p.log = nil
	return out
}

// Counts is the number of requests received per "METHOD /path" (seeding
// through AddUser and AddGroup excluded); Requests does not clear it.
func (p *Provider) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts)
}

// IfMatches returns the If-Match header of every PATCH and PUT, "" where
// absent.
func (p *Provider) IfMatches() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ifMatch)
}

// Fail answers the next requests with these statuses (a SCIM error
// body; a 429 carries Retry-After: 7).
func (p *Provider) Fail(statuses ...int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retryAt = "7"
	p.failNext = append(p.failNext, statuses...)
}

// Stall holds every request until its client gives up.
func (p *Provider) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall = true
}

// BumpUser makes the next PATCH or PUT of user id see a newer version
// (another client's change), so its If-Match fails once.
func (p *Provider) BumpUser(id string) { p.users.bumpNext(id) }

// BumpGroup is BumpUser for group id.
func (p *Provider) BumpGroup(id string) { p.grps.bumpNext(id) }

// UserAttr returns attribute attr of user uid (nil when absent).
func (p *Provider) UserAttr(uid, attr string) any {
	p.users.mu.Lock()
	defer p.users.mu.Unlock()
	if it := p.users.items[uid]; it != nil {
		return it.attrs[attr]
	}
	return nil
}

// post creates a resource through the library (so seeds pass its schema
// validation too) and returns its id.
func (p *Provider) post(path string, body map[string]any) string {
	p.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, p.Base()+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+Token)
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set(seedHeader, "1")
	resp, err := p.Server.Client().Do(req)
	if err != nil {
		p.t.Fatalf("seed POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		p.t.Fatalf("seed POST %s: status %d: %v", path, resp.StatusCode, out)
	}
	// Seeding is not the connector's traffic: neither logged nor counted.
	return out["id"].(string)
}

// AddUser creates a user (through the library, so it passes schema
// validation) and returns its id.
func (p *Provider) AddUser(userName string, active bool, emails ...string) string {
	body := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName, "active": active,
	}
	var es []any
	for i, e := range emails {
		es = append(es, map[string]any{"value": e, "type": "work", "primary": i == 0})
	}
	if es != nil {
		body["emails"] = es
	}
	return p.post("/Users", body)
}

// AddGroup creates a group with these member ids and returns its id.
func (p *Provider) AddGroup(name string, members ...string) string {
	var ms []any
	for _, m := range members {
		ms = append(ms, map[string]any{"value": m})
	}
	body := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name}
	if ms != nil {
		body["members"] = ms
	}
	return p.post("/Groups", body)
}

// IsMember reports whether group gid lists uid.
func (p *Provider) IsMember(gid, uid string) bool {
	p.grps.mu.Lock()
	defer p.grps.mu.Unlock()
	it := p.grps.items[gid]
	return it != nil && slices.Contains(memberIDs(it.attrs), uid)
}

// UserActive reports whether user uid exists and is active (an absent
// active attribute counts as active).
func (p *Provider) UserActive(uid string) (active, exists bool) {
	p.users.mu.Lock()
	defer p.users.mu.Unlock()
	it := p.users.items[uid]
	if it == nil {
		return false, false
	}
	a, ok := it.attrs["active"].(bool)
	return !ok || a, true
}

// memStore is an in-memory elimity.ResourceHandler.
type memStore struct {
	kind   string
	prefix string
	p      *Provider
	groups *memStore // for Users: deleting a User removes its memberships

	mu    sync.Mutex
	items map[string]*item
	order []string
	seq   int
	// bump makes the next PATCH or PUT on that id see a newer version
	// (another client's change), so its If-Match fails once.
	bump map[string]bool
}

func (s *memStore) bumpNext(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bump == nil {
		s.bump = map[string]bool{}
	}
	s.bump[id] = true
}

type item struct {
	attrs   elimity.ResourceAttributes
	version int
}

func (s *memStore) resource(id string, it *item) elimity.Resource {
	attrs := elimity.ResourceAttributes{}
	for k, v := range it.attrs {
		attrs[k] = v
	}
	return elimity.Resource{ID: id, Attributes: attrs, Meta: elimity.Meta{Version: fmt.Sprintf(`W/"%d"`, it.version)}}
}

func (s *memStore) Create(r *http.Request, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items == nil {
		s.items = map[string]*item{}
	}
	if s.kind == "User" {
		for _, it := range s.items {
			if strings.EqualFold(fmt.Sprint(it.attrs["userName"]), fmt.Sprint(attrs["userName"])) {
				return elimity.Resource{}, scimerrors.ScimErrorUniqueness
			}
		}
	}
	s.seq++
	id := fmt.Sprintf("%s%d", s.prefix, s.seq)
	s.items[id] = &item{attrs: attrs, version: 1}
	s.order = append(s.order, id)
	return s.resource(id, s.items[id]), nil
}

func (s *memStore) Get(r *http.Request, id string) (elimity.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.items[id]
	if it == nil {
		return elimity.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return s.resource(id, it), nil
}

func (s *memStore) GetAll(r *http.Request, params elimity.ListRequestParams) (elimity.Page, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var match []elimity.Resource
	for _, id := range s.order {
		it := s.items[id]
		if it == nil {
			continue
		}
		if params.FilterValidator != nil {
			probe := map[string]any{"id": id}
			for k, v := range it.attrs {
				probe[k] = v
			}
			if !passes(params.FilterValidator.GetFilter(), probe) {
				continue
			}
		}
		match = append(match, s.resource(id, it))
	}
	page := elimity.Page{TotalResults: len(match), Resources: []elimity.Resource{}}
	start := params.StartIndex - 1
	if start < len(match) {
		end := min(start+params.Count, len(match))
		page.Resources = match[start:end]
	}
	return page, nil
}

// precondition checks If-Match against the current version (RFC 7644
// section 3.14) when the provider announces ETags.
func (s *memStore) precondition(r *http.Request, id string, it *item) error {
	if s.bump[id] {
		delete(s.bump, id)
		it.version++
	}
	if !s.p.etag {
		return nil
	}
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != fmt.Sprintf(`W/"%d"`, it.version) {
		return scimerrors.ScimError{Status: http.StatusPreconditionFailed, Detail: "Failed to update. Resource has changed on the server."}
	}
	return nil
}

func (s *memStore) Replace(r *http.Request, id string, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.items[id]
	if it == nil {
		return elimity.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	if err := s.precondition(r, id, it); err != nil {
		return elimity.Resource{}, err
	}
	it.attrs = attrs
	it.version++
	return s.resource(id, it), nil
}

func (s *memStore) Delete(r *http.Request, id string) error {
	s.mu.Lock()
	it := s.items[id]
	if it == nil {
		s.mu.Unlock()
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	delete(s.items, id)
	s.mu.Unlock()
	if s.groups != nil {
		s.groups.mu.Lock()
		for _, g := range s.groups.items {
			g.attrs["members"] = without(g.attrs["members"], id)
		}
		s.groups.mu.Unlock()
	}
	return nil
}

func (s *memStore) Patch(r *http.Request, id string, ops []elimity.PatchOperation) (elimity.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.items[id]
	if it == nil {
		return elimity.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	if err := s.precondition(r, id, it); err != nil {
		return elimity.Resource{}, err
	}
	for _, op := range ops {
		if op.Path == nil {
			if m, ok := op.Value.(map[string]any); ok && op.Op != elimity.PatchOperationRemove {
				for k, v := range m {
					it.attrs[k] = v
				}
				continue
			}
			return elimity.Resource{}, scimerrors.ScimErrorInvalidPath
		}
		name := op.Path.AttributePath.AttributeName
		switch {
		case op.Op == elimity.PatchOperationRemove && op.Path.ValueExpression != nil:
			// members[value eq "id"]
			e, ok := op.Path.ValueExpression.(*filter.AttributeExpression)
			if !ok || e.Operator != filter.EQ || !strings.EqualFold(e.AttributePath.AttributeName, "value") {
				return elimity.Resource{}, scimerrors.ScimErrorInvalidFilter
			}
			v := fmt.Sprint(e.CompareValue)
			if !slices.Contains(memberIDs(it.attrs), v) {
				return elimity.Resource{}, scimerrors.ScimErrorNoTarget
			}
			it.attrs[name] = without(it.attrs[name], v)
		case op.Op == elimity.PatchOperationRemove:
			delete(it.attrs, name)
		default:
			it.attrs[name] = op.Value
		}
	}
	it.version++
	return s.resource(id, it), nil
}

func memberIDs(attrs elimity.ResourceAttributes) []string {
	var out []string
	ms, _ := attrs["members"].([]any)
	for _, m := range ms {
		if mm, ok := m.(map[string]any); ok {
			out = append(out, fmt.Sprint(mm["value"]))
		}
	}
	return out
}

func without(members any, id string) any {
	ms, _ := members.([]any)
	out := []any{}
	for _, m := range ms {
		if mm, ok := m.(map[string]any); ok && fmt.Sprint(mm["value"]) == id {
			continue
		}
		out = append(out, m)
	}
	return out
}

// passes evaluates a filter the library has parsed and validated against
// the schema. The library's own Validator.PassesFilter cannot evaluate a
// sub-attribute of a multi-valued attribute (members.value,
// emails.value), so the handler evaluates eq, and, or and not itself;
// string comparison is case-insensitive (userName and emails.value are
// caseExact=false in RFC 7643 section 4.1).
func passes(e filter.Expression, res map[string]any) bool {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		if e.Operator != filter.EQ {
			return false
		}
		want := fmt.Sprint(e.CompareValue)
		if raw, ok := e.CompareValue.(string); ok {
			// The parser keeps a string's JSON escapes (\" and \\) as
			// written; RFC 7644 section 3.4.2.2 makes compValue a JSON
			// string, so decode it.
			if err := json.Unmarshal([]byte(`"`+raw+`"`), &want); err != nil {
				return false
			}
		}
		for _, v := range values(res, e.AttributePath.AttributeName, e.AttributePath.SubAttributeName()) {
			if strings.EqualFold(fmt.Sprint(v), want) {
				return true
			}
		}
		return false
	case *filter.LogicalExpression:
		if e.Operator == filter.AND {
			return passes(e.Left, res) && passes(e.Right, res)
		}
		return passes(e.Left, res) || passes(e.Right, res)
	case *filter.NotExpression:
		return !passes(e.Expression, res)
	}
	return false
}

// values returns the values at attr[.sub], flattening a multi-valued
// attribute; attribute names are case-insensitive (RFC 7643 section 2.1).
func values(res map[string]any, attr, sub string) []any {
	var v any
	for k, x := range res {
		if strings.EqualFold(k, attr) {
			v = x
		}
	}
	var items []any
	if list, ok := v.([]any); ok {
		items = list
	} else if v != nil {
		items = []any{v}
	}
	if sub == "" {
		return items
	}
	var out []any
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			for k, x := range m {
				if strings.EqualFold(k, sub) {
					out = append(out, x)
				}
			}
		}
	}
	return out
}
