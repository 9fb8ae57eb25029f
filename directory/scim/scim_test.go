package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/hrsource"
	"github.com/kineticsec/kinetic/directory/internal/hrtest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

const token = "scim-TOKEN-0b7c1e2d9f"

const filter = `userType ne "Service"`

func user(scimID, empNo, email, userType string, active bool, managerSCIMID string, extra string) string {
	mgr := ""
	if managerSCIMID != "" {
		mgr = fmt.Sprintf(`, "manager": {"value": %q, "displayName": "someone"}`, managerSCIMID)
	}
	return fmt.Sprintf(`{
	  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", %q],
	  "id": %q, "userName": %q, "displayName": "User %s", "userType": %q, "active": %t,
	  "title": "Engineer",
	  "emails": [{"value": "home-%s", "type": "home"}, {"value": %q, "type": "work", "primary": true}],
	  "addresses": [{"type": "work", "locality": "Berlin", "country": "DE", "primary": true}],
	  "timezone": "Europe/Berlin",
	  %q: {"employeeNumber": %q, "department": "R&D", "costCenter": "4130"%s}%s
	}`, EnterpriseUser, scimID, strings.Split(email, "@")[0], empNo, userType, active,
		email, email, EnterpriseUser, empNo, mgr, extra)
}

func page(total, start int, users ...string) string {
	return fmt.Sprintf(`{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
	  "totalResults": %d, "startIndex": %d, "itemsPerPage": %d, "Resources": [%s]}`,
		total, start, len(users), strings.Join(users, ","))
}

func pageCall(start, count int, status int, reply string) hrtest.Call {
	return hrtest.Call{
		Method: http.MethodGet, Path: "/scim/v2/Users",
		Query: url.Values{
			"startIndex": {fmt.Sprint(start)}, "count": {fmt.Sprint(count)}, "filter": {filter},
		},
		Header: map[string]string{"Authorization": "Bearer " + token, "Accept": "application/scim+json, application/json"},
		Status: status, Reply: reply,
	}
}

func newSource(t *testing.T, srvURL string, pageSize int, clock *hrtest.Clock) *Source {
	t.Helper()
	pol, err := outbound.NewURLPolicy([]string{"127.0.0.0/8"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		BaseURL: srvURL + "/scim/v2/", Token: secret.FromValue(token), Filter: filter, PageSize: pageSize,
		Mapping: hrsource.Mapping{
			Fields:     hrsource.Fields{ChatUserID: EnterpriseUser + ":slackId|urn:example:chat:User:slack.id"},
			Attributes: map[string]string{"title": "-", "badge": "urn:example:badge:1.0:User:badgeNumber"},
		},
	}
	s, err := New(cfg, Options{HTTP: pol.HTTPClient(5 * time.Second), TTL: 15 * time.Minute, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPagingAndMapping(t *testing.T) {
	ctx := context.Background()
	// Three pages of a size-2 listing; the provider returns fewer than
	// asked on the second page, so the third starts at 4, not 5.
	srv := hrtest.NewServer(t,
		pageCall(1, 2, 200, page(5, 1,
			user("s-ceo", "E100", "ceo@example.com", "Employee", true, "", `, "urn:example:chat:User": {"slack": {"id": "U100"}}`),
			user("s-dev", "E200", "dev@example.com", "Contractor", true, "s-ceo", `, "urn:example:badge:1.0:User": {"badgeNumber": "B-17"}`),
		)),
		pageCall(3, 2, 200, page(5, 3,
			user("s-int", "E300", "intern@example.com", "intern", false, "s-dev", ""),
		)),
		pageCall(4, 2, 200, page(5, 4,
			user("s-x", "E400", "x@example.com", "", true, "s-gone", ""),
			// A service account without an employee number: skipped.
			`{"id": "s-svc", "userName": "svc", "active": true}`,
		)),
	)
	s := newSource(t, srv.URL, 2, &hrtest.Clock{})

	dev, err := s.ByID(ctx, "E200")
	if err != nil {
		t.Fatal(err)
	}
	want := directory.Employee{
		ID: "E200", Email: "dev@example.com", Name: "User E200", Username: "dev", Manager: "E100",
		Type: "contractor", Status: "active", Department: "R&D", Location: "Berlin", Country: "DE",
		TimeZone:     "Europe/Berlin",
		Attributes:   map[string]string{"cost_center": "4130", "badge": "B-17"},
		PrivateEmail: "home-dev@example.com", // emails[type eq "home"], mapped by default
	}
	if !reflect.DeepEqual(*dev, want) {
		t.Errorf("E200 = %+v\nwant %+v", *dev, want)
	}
	t.Run("manager.value is the manager's SCIM id, resolved to their employee number", func(t *testing.T) {
		in, err := s.ByEmail(ctx, "INTERN@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if in.Manager != "E200" || in.Status != "inactive" || in.Type != "intern" {
			t.Errorf("intern = %+v", *in)
		}
		x, _ := s.ByID(ctx, "E400")
		if x == nil || x.Manager != "" || x.Type != "employee" {
			t.Errorf("an unknown manager is dropped and an empty type defaults: %+v", x)
		}
	})
	t.Run("lookup by a chat id in a custom extension", func(t *testing.T) {
		ceo, err := s.ByChatUserID(ctx, "U100")
		if err != nil || ceo.ID != "E100" {
			t.Fatalf("ByChatUserID = %+v, %v", ceo, err)
		}
	})
	if n := len(s.All()); n != 4 {
		t.Errorf("%d employees, want 4", n)
	}
}

func TestProviderIgnoringStartIndexIsAnError(t *testing.T) {
	srv := hrtest.NewServer(t,
		pageCall(1, 1, 200, page(2, 1, user("a", "E1", "a@example.com", "Employee", true, "", ""))),
		pageCall(2, 1, 200, page(2, 1, user("a", "E1", "a@example.com", "Employee", true, "", ""))),
	)
	s := newSource(t, srv.URL, 1, &hrtest.Clock{})
	err := s.Refresh(context.Background())
	var se *directory.SourceError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "does not page") || directory.IsRetryable(err) {
		t.Errorf("Refresh = %v, want a non-retryable SourceError saying the provider does not page", err)
	}
}

func TestTTLRefetchIsSingleFlight(t *testing.T) {
	ctx := context.Background()
	clock := &hrtest.Clock{}
	one := page(1, 1, user("a", "E1", "a@example.com", "Employee", true, "", ""))
	srv := hrtest.NewServer(t, pageCall(1, 100, 200, one))
	s := newSource(t, srv.URL, 0, clock)
	if _, err := s.ByID(ctx, "E1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(15 * time.Minute)
	c := pageCall(1, 100, 200, strings.Replace(one, "User E1", "Renamed", 1))
	c.Arrived, c.Hold = make(chan struct{}), make(chan struct{})
	srv.Expect(c)
	results := make(chan string, 20)
	for range 20 {
		go func() {
			e, err := s.ByID(ctx, "E1")
			if err != nil {
				results <- err.Error()
				return
			}
			results <- e.Name
		}()
	}
	hrtest.Wait(t, c.Arrived, "the refetch")
	close(c.Hold)
	for range 20 {
		if got := <-results; got != "Renamed" {
			t.Errorf("lookup got %q, want the refetched name", got)
		}
	}
	if n := srv.Served(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestStaleThenError(t *testing.T) {
	ctx := context.Background()
	clock := &hrtest.Clock{}
	one := page(1, 1, user("a", "E1", "a@example.com", "Employee", true, "", ""))
	srv := hrtest.NewServer(t, pageCall(1, 100, 200, one), pageCall(1, 100, 502, "bad gateway"))
	s := newSource(t, srv.URL, 0, clock)
	if _, err := s.ByID(ctx, "E1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(16 * time.Minute)
	if _, err := s.ByID(ctx, "E1"); err != nil {
		t.Fatalf("stale data is served after a failed refresh: %v", err)
	}
	clock.Advance(15 * time.Minute) // 31m > 2×TTL
	srv.Expect(pageCall(1, 100, 401, `{"detail": "invalid token `+token+`"}`))
	_, err := s.ByID(ctx, "E1")
	var se *directory.SourceError
	if !errors.As(err, &se) || se.Status != 401 || directory.IsRetryable(err) {
		t.Fatalf("after 2×TTL a 401 is returned, not retryable: %v", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("the token leaked: %v", err)
	}
}

func TestStatuses(t *testing.T) {
	for status, retry := range map[int]bool{401: false, 403: false, 404: false, 429: true, 500: true, 503: true} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := hrtest.NewServer(t, pageCall(1, 100, status, `{"detail": "Bearer `+token+`"}`))
			s := newSource(t, srv.URL, 0, &hrtest.Clock{})
			_, err := s.ByEmail(context.Background(), "a@example.com")
			var se *directory.SourceError
			if !errors.As(err, &se) || se.Status != status || directory.IsRetryable(err) != retry {
				t.Fatalf("error %v: want status %d, retryable %v", err, status, retry)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("the token leaked: %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	err := Config{BaseURL: "https://user:pw@scim.example.com", PageSize: -1}.Validate()
	for _, want := range []string{
		"base_url: base_url must not carry user info", "token: token is required", "page_size: page_size must be between",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
	if strings.Contains(fmt.Sprint(err), "pw@") {
		t.Errorf("the URL's password is repeated: %v", err)
	}
}
