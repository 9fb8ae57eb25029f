package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
)

// user is the part of a SCIM User (RFC 7643 section 4.1) the connector
// reads; raw keeps the whole resource for a PUT.
type user struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
	Active   *bool  `json:"active"`
	Emails   []struct {
		Value string `json:"value"`
	} `json:"emails"`
	// Groups is the read-only list of the User's groups (RFC 7643
	// section 4.1.2), used only where the provider cannot filter Groups.
	Groups []struct {
		Value   string `json:"value"`
		Display string `json:"display"`
	} `json:"groups"`
	Meta struct {
		Version string `json:"version"`
	} `json:"meta"`

	raw map[string]any
}

// isActive reads active; a User without it is active (RFC 7643 leaves
// its meaning to the provider; absent is taken as the default, true).
func (u *user) isActive() bool { return u.Active == nil || *u.Active }

// status is the account status as connectors reports it.
func (u *user) status() string {
	if u.isActive() {
		return connectors.StatusActive
	}
	return connectors.StatusDisabled
}

// group is the part of a SCIM Group (RFC 7643 section 4.2) the connector
// reads.
type group struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Members     []struct {
		Value string `json:"value"`
	} `json:"members"`
	Meta struct {
		Version string `json:"version"`
	} `json:"meta"`

	hasMembers bool // the answer carried members (excludedAttributes ignored)
}

func (g group) label() string {
	if g.DisplayName != "" {
		return g.DisplayName
	}
	return g.ID
}

// listResponse is urn:ietf:params:scim:api:messages:2.0:ListResponse.
type listResponse struct {
	TotalResults int               `json:"totalResults"`
	StartIndex   int               `json:"startIndex"`
	Resources    []json.RawMessage `json:"Resources"`
}

// quote writes a filter's string compValue: RFC 7644 section 3.4.2.2
// defines it as a JSON string (RFC 7159), so quotes, backslashes and
// control characters are escaped as JSON does.
// https://www.rfc-editor.org/rfc/rfc7644#section-3.4.2.2
func quote(v string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// matchValue returns the attribute the configured match filters on, the
// subject's value for it and the filter.
func (c *Connector) matchValue(s connectors.Subject) (attr, value string) {
	switch c.match {
	case MatchEmail:
		return "emails.value", strings.TrimSpace(s.Email)
	case MatchEmailAsUserName:
		return "userName", strings.TrimSpace(s.Email)
	default:
		return "userName", strings.TrimSpace(s.Username)
	}
}

// matches reports whether a returned User really carries value: userName
// and emails.value are caseExact=false in RFC 7643 section 4.1, so the
// comparison is case-insensitive.
func (c *Connector) matches(u *user, value string) bool {
	if c.match == MatchEmail {
		return slices.ContainsFunc(u.Emails, func(e struct {
			Value string `json:"value"`
		}) bool {
			return strings.EqualFold(strings.TrimSpace(e.Value), value)
		})
	}
	return strings.EqualFold(strings.TrimSpace(u.UserName), value)
}

// getUser reads /Users/{id}; nil without error when it is gone (404).
func (c *Connector) getUser(ctx context.Context, op, id string) (*user, error) {
	r, err := c.call(ctx, op, http.MethodGet, c.endpoint(nil, "/Users/", id), nil, "")
	if err != nil {
		return nil, err
	}
	if r.status == http.StatusNotFound {
		return nil, nil
	}
	if !r.ok() {
		return nil, c.httpError(op, r)
	}
	u, err := c.decodeUser(op, r.body, r)
	if err != nil {
		return nil, err
	}
	if u.Meta.Version == "" {
		u.Meta.Version = r.header.Get("ETag")
	}
	return u, nil
}

func (c *Connector) decodeUser(op string, body []byte, r *response) (*user, error) {
	var u user
	if err := c.decode(op, &response{status: r.status, header: r.header, body: body}, &u); err != nil {
		return nil, err
	}
	_ = json.Unmarshal(body, &u.raw)
	if strings.TrimSpace(u.ID) == "" {
		e := connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("the service provider returned a User without an id"))
		e.Status = r.status
		return nil, e
	}
	return &u, nil
}

// resolve finds the request's User: req.Account read directly when given
// (it is the id discovery found), else the subject found by the filter.
// It returns nil without error when there is none.
func (c *Connector) resolve(ctx context.Context, op string, req connectors.Request) (*user, error) {
	if id := strings.TrimSpace(req.Account); id != "" {
		return c.getUser(ctx, op, id)
	}
	return c.find(ctx, op, req.Subject)
}

// find looks the subject up with the configured filter, following pages.
// A filter that matches two Users is a permanent error: deactivating
// either could be the wrong person.
func (c *Connector) find(ctx context.Context, op string, s connectors.Subject) (*user, error) {
	attr, value := c.matchValue(s)
	if value == "" {
		what := "username"
		if c.match != MatchUserName {
			what = "email"
		}
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("the subject has no %s to match (match: %s)", what, c.match))
	}
	f, err := c.features(ctx, op)
	if err != nil {
		return nil, err
	}
	if !f.filter {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
			errors.New("the service provider's /ServiceProviderConfig says it does not support filtering, so a User cannot be found by "+attr))
	}
	filter := attr + " eq " + quote(value)
	var found []*user
	ignored := 0
	err = c.pages(ctx, op, "/Users", filter, nil, func(raw json.RawMessage, r *response) error {
		u, err := c.decodeUser(op, raw, r)
		if err != nil {
			return err
		}
		if !c.matches(u, value) {
			ignored++
			return nil
		}
		found = append(found, u)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ignored > 0 {
		c.log.WithFields(map[string]any{"op": op, "ignored": ignored}).Warn("scim: the service provider returned Users that do not match the filter; they were ignored")
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	ids := make([]string, len(found))
	for i, u := range found {
		ids[i] = u.ID
	}
	return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
		fmt.Errorf("%s matches %d Users (ids %s); refusing to guess which is the person", filter, len(found), strings.Join(ids, ", ")))
}

// pages lists path with filter (and extra query parameters), calling each
// for every resource, page after page (RFC 7644 section 3.4.2.4: startIndex
// is 1-based; a provider may return fewer than count, so the next page
// starts after what was received; paging ends when totalResults have been
// received or a page is empty).
func (c *Connector) pages(ctx context.Context, op, path, filter string, extra url.Values, each func(json.RawMessage, *response) error) error {
	f, err := c.features(ctx, op)
	if err != nil {
		return err
	}
	count := c.pageSize
	if f.maxResults > 0 && f.maxResults < count {
		count = f.maxResults
	}
	start := 1
	for page := 0; ; page++ {
		if page >= DefaultMaxPages {
			return connectors.NewError(connectors.KindTransient, c.name, op,
				fmt.Errorf("%s paging did not end after %d pages", path, page))
		}
		q := url.Values{"filter": {filter}, "startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(count)}}
		for k, v := range extra {
			q[k] = v
		}
		r, err := c.call(ctx, op, http.MethodGet, c.endpoint(q, path), nil, "")
		if err != nil {
			return err
		}
		if !r.ok() {
			return c.httpError(op, r)
		}
		var lr listResponse
		if err := c.decode(op, r, &lr); err != nil {
			return err
		}
		for _, raw := range lr.Resources {
			if err := each(raw, r); err != nil {
				return err
			}
		}
		start += len(lr.Resources)
		if len(lr.Resources) == 0 || start > lr.TotalResults {
			return nil
		}
	}
}

// groupsOf lists the Groups the User is a member of: Groups filtered by
// members.value (without the members themselves, which can be long;
// RFC 7644 section 3.4.2.5), or, where the provider cannot filter, the
// User's own read-only groups attribute.
func (c *Connector) groupsOf(ctx context.Context, op string, u *user) ([]group, error) {
	f, err := c.features(ctx, op)
	if err != nil {
		return nil, err
	}
	if !f.filter {
		out := make([]group, 0, len(u.Groups))
		for _, g := range u.Groups {
			out = append(out, group{ID: g.Value, DisplayName: g.Display})
		}
		return out, nil
	}
	var out []group
	err = c.pages(ctx, op, "/Groups", "members.value eq "+quote(u.ID), url.Values{"excludedAttributes": {"members"}},
		func(raw json.RawMessage, r *response) error {
			var g group
			if err := c.decode(op, &response{status: r.status, header: r.header, body: raw}, &g); err != nil {
				return err
			}
			var probe map[string]json.RawMessage
			if json.Unmarshal(raw, &probe) == nil {
				_, g.hasMembers = probe["members"]
			}
			// A provider that ignored both the filter and
			// excludedAttributes shows who the members are: keep only
			// the User's groups.
			if g.hasMembers && !slices.ContainsFunc(g.Members, func(m struct {
				Value string `json:"value"`
			}) bool {
				return m.Value == u.ID
			}) {
				return nil
			}
			if g.ID == "" {
				return connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("the service provider returned a Group without an id"))
			}
			out = append(out, g)
			return nil
		})
	return out, err
}

// getGroupVersion reads a Group's current version (meta.version, else the
// ETag header); found is false when the Group is gone.
func (c *Connector) getGroupVersion(ctx context.Context, op, id string) (version string, found bool, err error) {
	r, err := c.call(ctx, op, http.MethodGet, c.endpoint(url.Values{"excludedAttributes": {"members"}}, "/Groups/", id), nil, "")
	if err != nil {
		return "", false, err
	}
	if r.status == http.StatusNotFound {
		return "", false, nil
	}
	if !r.ok() {
		return "", false, c.httpError(op, r)
	}
	var g group
	if err := c.decode(op, r, &g); err != nil {
		return "", false, err
	}
	if g.Meta.Version != "" {
		return g.Meta.Version, true, nil
	}
	return r.header.Get("ETag"), true, nil
}
