package scim_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/scim"
	"github.com/kineticsec/kinetic/connectors/scim/scimtest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

var (
	dana   = connectors.Subject{EmployeeID: "E100", Email: "dana.scully@example.com", Username: "dscully"}
	nobody = connectors.Subject{EmployeeID: "E999", Email: "nobody@example.com", Username: "nobody"}
)

// seeded is a provider holding dana (in eng, sales and all-staff) and fox
// (in eng).
type seeded struct {
	*scimtest.Provider
	dana, fox            string
	eng, sales, allStaff string
}

func seed(t *testing.T, o scimtest.Options) *seeded {
	p := scimtest.New(t, o)
	s := &seeded{Provider: p}
	s.dana = p.AddUser("dscully", true, "dana.scully@example.com")
	s.fox = p.AddUser("fmulder", true, "fox.mulder@example.com")
	s.eng = p.AddGroup("eng", s.dana, s.fox)
	s.sales = p.AddGroup("sales", s.dana)
	s.allStaff = p.AddGroup("all-staff", s.dana, s.fox)
	return s
}

func newConn(t *testing.T, base string, mod ...func(*scim.Config)) *scim.Connector {
	t.Helper()
	cfg := scim.Config{BaseURL: base, Token: secret.FromValue(scimtest.Token), KeepGroups: []string{"all-staff"}}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := scim.New("app-test", cfg, testPolicy)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func req(op connectors.Operation, s connectors.Subject) connectors.Request {
	return connectors.Request{Operation: op, Subject: s}
}

func wantRequests(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("requests:\n  got  %q\n  want %q", got, want)
	}
}

const (
	spc       = "GET /scim/v2/ServiceProviderConfig"
	findDana  = `GET /scim/v2/Users?count=100&filter=userName+eq+%22dscully%22&startIndex=1`
	danaPaged = "excludedAttributes=members&filter=members.value+eq+%22"
)

func groupsOf(id string) string {
	return "GET /scim/v2/Groups?count=100&" + danaPaged + id + "%22&startIndex=1"
}

func kindOf(t *testing.T, err error) connectors.Kind {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	return ce.Kind
}

// TestDepartureAgainstARealSCIMServer runs the whole departure against the
// in-process elimity-com/scim service provider: discovery, group removal,
// deactivation and verification, counting every request.
func TestDepartureAgainstARealSCIMServer(t *testing.T) {
	p := seed(t, scimtest.Options{})
	c := newConn(t, p.Base())

	lr, err := c.Lookup(ctx(t), dana)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if len(lr.Accounts) != 1 || lr.Accounts[0].ID != p.dana || lr.Accounts[0].Status != connectors.StatusActive ||
		!slices.Equal(lr.Accounts[0].Groups, []string{"eng", "sales"}) {
		t.Fatalf("Lookup = %+v", lr)
	}
	wantRequests(t, p.Requests(), spc, findDana, groupsOf(p.dana))

	res, err := c.Do(ctx(t), connectors.Request{Operation: connectors.OpRemoveGroupMemberships, Subject: dana, Account: p.dana})
	if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["removed_groups"] != p.eng+","+p.sales {
		t.Fatalf("remove_group_memberships = %+v, %v", res, err)
	}
	wantRequests(t, p.Requests(),
		"GET /scim/v2/Users/"+p.dana, groupsOf(p.dana),
		"PATCH /scim/v2/Groups/"+p.eng, "PATCH /scim/v2/Groups/"+p.sales,
		groupsOf(p.dana))
	if p.IsMember(p.eng, p.dana) || p.IsMember(p.sales, p.dana) || !p.IsMember(p.allStaff, p.dana) || !p.IsMember(p.eng, p.fox) {
		t.Fatal("memberships after removal are wrong: only dana's eng and sales should be gone")
	}
	if got := p.IfMatches(); slices.ContainsFunc(got, func(s string) bool { return s != "" }) {
		t.Fatalf("If-Match sent to a provider without ETag support: %q", got)
	}

	res, err = c.Do(ctx(t), connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana, Account: p.dana})
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("deactivate_user = %+v, %v", res, err)
	}
	wantRequests(t, p.Requests(), "GET /scim/v2/Users/"+p.dana, "PATCH /scim/v2/Users/"+p.dana, "GET /scim/v2/Users/"+p.dana)
	if active, _ := p.UserActive(p.dana); active {
		t.Fatal("dana is still active on the server")
	}
	if active, _ := p.UserActive(p.fox); !active {
		t.Fatal("fox was deactivated")
	}

	for _, op := range []connectors.Operation{connectors.OpDeactivateUser, connectors.OpRemoveGroupMemberships} {
		v, err := c.Verify(ctx(t), req(op, dana))
		if err != nil || !v.OK {
			t.Fatalf("Verify %s = %+v, %v", op, v, err)
		}
	}
	wantRequests(t, p.Requests(), findDana, findDana, groupsOf(p.dana))

	// Again: idempotent, nothing written.
	for _, op := range []connectors.Operation{connectors.OpDeactivateUser, connectors.OpRemoveGroupMemberships} {
		res, err := c.Do(ctx(t), req(op, dana))
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("second %s = %+v, %v", op, res, err)
		}
	}
	for _, r := range p.Requests() {
		if !strings.HasPrefix(r, "GET ") {
			t.Fatalf("a repeated operation wrote: %s", r)
		}
	}
}

func TestDeleteModeAgainstARealSCIMServer(t *testing.T) {
	p := seed(t, scimtest.Options{})
	c := newConn(t, p.Base(), func(c *scim.Config) { c.DeactivateMode = scim.ModeDelete })

	res, err := c.Do(ctx(t), req(connectors.OpDeactivateUser, dana))
	if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["deleted"] != "true" {
		t.Fatalf("delete = %+v, %v", res, err)
	}
	wantRequests(t, p.Requests(), spc, findDana, "DELETE /scim/v2/Users/"+p.dana, "GET /scim/v2/Users/"+p.dana)
	if _, exists := p.UserActive(p.dana); exists {
		t.Fatal("dana still exists")
	}

	t.Run("the account discovery found, gone now, is already done (GET 404)", func(t *testing.T) {
		res, err := c.Do(ctx(t), connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana, Account: p.dana})
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("= %+v, %v", res, err)
		}
		v, err := c.Verify(ctx(t), connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana, Account: p.dana})
		if err != nil || !v.OK {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
	})
	t.Run("the subject, gone now, is none found", func(t *testing.T) {
		res, err := c.Do(ctx(t), req(connectors.OpDeactivateUser, dana))
		if err != nil || res.Outcome != connectors.OutcomeNoneFound {
			t.Fatalf("= %+v, %v", res, err)
		}
	})
	t.Run("deleting the User left no membership behind", func(t *testing.T) {
		res, err := c.Do(ctx(t), req(connectors.OpRemoveGroupMemberships, dana))
		if err != nil || res.Outcome != connectors.OutcomeNoneFound {
			t.Fatalf("= %+v, %v", res, err)
		}
	})
}

func TestETagsAgainstARealSCIMServer(t *testing.T) {
	t.Run("If-Match carries the version read", func(t *testing.T) {
		p := seed(t, scimtest.Options{ETag: true})
		c := newConn(t, p.Base())
		if _, err := c.Do(ctx(t), req(connectors.OpDeactivateUser, dana)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do(ctx(t), req(connectors.OpRemoveGroupMemberships, dana)); err != nil {
			t.Fatal(err)
		}
		if got := p.IfMatches(); !slices.Equal(got, []string{`W/"1"`, `W/"1"`, `W/"1"`}) {
			t.Fatalf("If-Match values = %q", got)
		}
	})
	t.Run("412 on the User: read again, retry once", func(t *testing.T) {
		p := seed(t, scimtest.Options{ETag: true})
		c := newConn(t, p.Base())
		p.BumpUser(p.dana)
		res, err := c.Do(ctx(t), req(connectors.OpDeactivateUser, dana))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("= %+v, %v", res, err)
		}
		wantRequests(t, p.Requests(), spc, findDana,
			"PATCH /scim/v2/Users/"+p.dana, "GET /scim/v2/Users/"+p.dana,
			"PATCH /scim/v2/Users/"+p.dana, "GET /scim/v2/Users/"+p.dana)
		if got := p.IfMatches(); !slices.Equal(got, []string{`W/"1"`, `W/"2"`}) {
			t.Fatalf("If-Match values = %q", got)
		}
	})
	t.Run("412 on a Group: read its version again, retry once", func(t *testing.T) {
		p := seed(t, scimtest.Options{ETag: true})
		c := newConn(t, p.Base())
		p.BumpGroup(p.eng)
		res, err := c.Do(ctx(t), req(connectors.OpRemoveGroupMemberships, dana))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("= %+v, %v", res, err)
		}
		wantRequests(t, p.Requests(), spc, findDana, groupsOf(p.dana),
			"PATCH /scim/v2/Groups/"+p.eng, "GET /scim/v2/Groups/"+p.eng+"?excludedAttributes=members",
			"PATCH /scim/v2/Groups/"+p.eng, "PATCH /scim/v2/Groups/"+p.sales, groupsOf(p.dana))
		if p.IsMember(p.eng, p.dana) {
			t.Fatal("dana is still in eng")
		}
	})
}

func TestPutWhereThereIsNoPatch(t *testing.T) {
	p := seed(t, scimtest.Options{NoPatch: true})
	c := newConn(t, p.Base())
	res, err := c.Do(ctx(t), req(connectors.OpDeactivateUser, dana))
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("= %+v, %v", res, err)
	}
	wantRequests(t, p.Requests(), spc, findDana, "PUT /scim/v2/Users/"+p.dana, "GET /scim/v2/Users/"+p.dana)
	if active, _ := p.UserActive(p.dana); active {
		t.Fatal("still active")
	}
	name := p.UserAttr(p.dana, "userName")
	if name != "dscully" {
		t.Fatalf("the PUT lost userName: %v", name)
	}
}

func TestPagingAgainstARealSCIMServer(t *testing.T) {
	p := scimtest.New(t, scimtest.Options{MaxResults: 2})
	uid := p.AddUser("dscully", true, "dana.scully@example.com")
	var gids []string
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		gids = append(gids, p.AddGroup(n, uid))
	}
	c := newConn(t, p.Base())
	res, err := c.Do(ctx(t), req(connectors.OpRemoveGroupMemberships, dana))
	if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["removed_groups"] != strings.Join(gids, ",") {
		t.Fatalf("= %+v, %v", res, err)
	}
	got := p.Requests()
	pages := 0
	for _, r := range got {
		if strings.HasPrefix(r, "GET /scim/v2/Groups?") && strings.Contains(r, "count=2") {
			pages++
		}
	}
	if pages != 4 { // 3 pages (2+2+1), then the read-back's single empty page
		t.Fatalf("group listing pages = %d; requests %q", pages, got)
	}
	for _, g := range gids {
		if p.IsMember(g, uid) {
			t.Fatalf("still in %s", g)
		}
	}
}

func TestMatching(t *testing.T) {
	t.Run("quotes and backslashes in a userName are escaped as a JSON string", func(t *testing.T) {
		p := scimtest.New(t, scimtest.Options{})
		odd := `o"brien\x`
		id := p.AddUser(odd, true)
		p.AddUser(`o`, true)
		c := newConn(t, p.Base())
		lr, err := c.Lookup(ctx(t), connectors.Subject{Username: odd})
		if err != nil || len(lr.Accounts) != 1 || lr.Accounts[0].ID != id {
			t.Fatalf("Lookup = %+v, %v", lr, err)
		}
	})
	t.Run("by email", func(t *testing.T) {
		p := seed(t, scimtest.Options{})
		c := newConn(t, p.Base(), func(c *scim.Config) { c.Match = scim.MatchEmail })
		lr, err := c.Lookup(ctx(t), connectors.Subject{Email: "Dana.Scully@EXAMPLE.com"})
		if err != nil || len(lr.Accounts) != 1 || lr.Accounts[0].ID != p.dana {
			t.Fatalf("Lookup = %+v, %v", lr, err)
		}
	})
	t.Run("email as userName", func(t *testing.T) {
		p := scimtest.New(t, scimtest.Options{})
		id := p.AddUser("dana.scully@example.com", true)
		c := newConn(t, p.Base(), func(c *scim.Config) { c.Match = scim.MatchEmailAsUserName })
		lr, err := c.Lookup(ctx(t), dana)
		if err != nil || len(lr.Accounts) != 1 || lr.Accounts[0].ID != id {
			t.Fatalf("Lookup = %+v, %v", lr, err)
		}
	})
	t.Run("found twice is a permanent error and nothing is written", func(t *testing.T) {
		p := scimtest.New(t, scimtest.Options{})
		p.AddUser("dana1", true, "dana.scully@example.com")
		p.AddUser("dana2", true, "dana.scully@example.com")
		c := newConn(t, p.Base(), func(c *scim.Config) { c.Match = scim.MatchEmail })
		_, err := c.Do(ctx(t), req(connectors.OpDeactivateUser, dana))
		if kindOf(t, err) != connectors.KindInvalid || connectors.IsRetryable(err) || !strings.Contains(err.Error(), "matches 2 Users") {
			t.Fatalf("err = %v", err)
		}
		for _, r := range p.Requests() {
			if !strings.HasPrefix(r, "GET ") {
				t.Fatalf("wrote after an ambiguous match: %s", r)
			}
		}
	})
	t.Run("a subject without the matched identifier is invalid", func(t *testing.T) {
		p := scimtest.New(t, scimtest.Options{})
		c := newConn(t, p.Base())
		_, err := c.Lookup(ctx(t), connectors.Subject{Email: "x@example.com"})
		if kindOf(t, err) != connectors.KindInvalid {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestWrongTokenIsAuth(t *testing.T) {
	p := seed(t, scimtest.Options{})
	c, err := scim.New("app-test", scim.Config{BaseURL: p.Base(), Token: secret.FromValue("wrong-token-value")}, testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Lookup(ctx(t), dana)
	if kindOf(t, err) != connectors.KindAuth || strings.Contains(err.Error(), "wrong-token-value") {
		t.Fatalf("err = %v", err)
	}
}

func TestConformance(t *testing.T) {
	var provs sync.Map // *scim.Connector → *scimtest.Provider
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			p := seed(t, scimtest.Options{ETag: true})
			c := newConn(t, p.Base())
			provs.Store(c, p.Provider)
			return c
		},
		Present: dana,
		Missing: nobody,
		Ops:     []connectors.Operation{connectors.OpDeactivateUser, connectors.OpRemoveGroupMemberships},
		InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
			v, _ := provs.Load(c)
			p := v.(*scimtest.Provider)
			status := map[connectors.Kind]int{
				connectors.KindTransient: http.StatusServiceUnavailable, connectors.KindRateLimited: http.StatusTooManyRequests,
				connectors.KindAuth: http.StatusUnauthorized, connectors.KindForbidden: http.StatusForbidden,
				connectors.KindInvalid: http.StatusBadRequest, connectors.KindNotFound: http.StatusNotFound,
			}[kind]
			p.Fail(status)
		},
		Slow: func(t *testing.T, c connectors.Connector) {
			v, _ := provs.Load(c)
			p := v.(*scimtest.Provider)
			p.Stall()
		},
		Secrets: []string{scimtest.Token},
	})
}
