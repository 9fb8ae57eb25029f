package bamboohr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/hrsource"
	"github.com/kineticsec/kinetic/directory/internal/hrtest"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

const apiKey = "bhr-KEY-5e1f0c9a7d"

var (
	basePath   = "/api/gateway.php/acme/v1"
	authHeader = map[string]string{"Authorization": hrtest.BasicAuth(apiKey, "x"), "Accept": "application/json"}
	// The fields the configuration below asks for, sorted.
	reportBody = `{"title": "Kinetic directory", "fields": [
		"customCostCenter", "customSlackID", "department", "displayName", "division",
		"employeeNumber", "employmentHistoryStatus", "fullName1", "hireDate", "homeEmail", "id",
		"jobTitle", "location", "status", "supervisorEId", "terminationDate", "workEmail"]}`
)

// report answers a custom report: Ada (manager, employee #100), Bob
// (contractor under Ada by employee number), Cy (an intern who already
// left: only the report has him) and a record without an id.
const report = `{
  "title": "Kinetic directory",
  "fields": [{"id": "workEmail"}, {"id": "status"}],
  "employees": [
    {"id": "7", "employeeNumber": "100", "displayName": "Ada Lovelace", "workEmail": "Ada@Example.com",
     "employmentHistoryStatus": "Full-Time", "status": "Active", "department": "Engineering",
     "location": "London", "supervisorEId": null, "customSlackID": "U07", "customCostCenter": "4100",
     "jobTitle": "CTO", "terminationDate": "0000-00-00", "homeEmail": "ada.l@home.example"},
    {"id": 8, "employeeNumber": "101", "displayName": "Bob Builder", "workEmail": "bob@example.com",
     "employmentHistoryStatus": "contractor", "status": "Active", "department": "Engineering",
     "supervisorEId": "100", "customSlackID": "U08"},
    {"id": "9", "employeeNumber": "102", "fullName1": "Cy Young", "workEmail": "cy@example.com",
     "employmentHistoryStatus": "Intern", "status": "Inactive", "supervisorEId": "100",
     "terminationDate": "2029-12-31"},
    {"workEmail": "ghost@example.com", "status": "Active"}
  ]
}`

func config(srvURL string) Config {
	return Config{
		Company: "acme", APIKey: secret.FromValue(apiKey), BaseURL: srvURL,
		Mapping: hrsource.Mapping{
			Fields:     hrsource.Fields{ChatUserID: "customSlackID"},
			Attributes: map[string]string{"cost_center": "customCostCenter"},
		},
	}
}

func policyClient(t *testing.T) *http.Client {
	t.Helper()
	pol, err := outbound.NewURLPolicy([]string{"127.0.0.0/8"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pol.HTTPClient(5 * time.Second)
}

func newSource(t *testing.T, cfg Config, clock *hrtest.Clock) *Source {
	t.Helper()
	s, err := New(cfg, Options{HTTP: policyClient(t), TTL: 10 * time.Minute, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reportCall(status int, reply string) hrtest.Call {
	return hrtest.Call{
		Method: http.MethodPost, Path: basePath + "/reports/custom",
		Query: url.Values{"format": {"JSON"}},
		Header: map[string]string{
			"Authorization": authHeader["Authorization"], "Accept": "application/json",
			"Content-Type": "application/json",
		},
		JSONBody: reportBody, Status: status, Reply: reply,
	}
}

// withField adds a field to the report call's expected field list.
func withField(c hrtest.Call, field string) hrtest.Call {
	c.JSONBody = strings.Replace(c.JSONBody, `"workEmail"]`, `"workEmail", "`+field+`"]`, 1)
	return c
}

func TestFetchAndMap(t *testing.T) {
	ctx := context.Background()
	srv := hrtest.NewServer(t,
		hrtest.Call{
			Method: http.MethodGet, Path: basePath + "/employees/directory", Header: authHeader,
			// Directory-only field; the report's values win where both have one.
			Reply: `{"fields": [{"id": "displayName"}], "employees": [
				{"id": "7", "displayName": "Ada (directory)", "location": "Remote", "workPhone": "555-0100"}]}`,
		},
		withField(reportCall(200, report), "workPhone"),
	)
	cfg := config(srv.URL)
	cfg.UseDirectory = true
	cfg.Attributes["work_phone"] = "workPhone"
	s := newSource(t, cfg, &hrtest.Clock{})

	ada, err := s.ByID(ctx, "7")
	if err != nil {
		t.Fatal(err)
	}
	want := directory.Employee{
		ID: "7", Email: "Ada@Example.com", Name: "Ada Lovelace", ChatUserID: "U07",
		Type: "employee", Status: "active", Department: "Engineering", Location: "London",
		PrivateEmail: "ada.l@home.example", // homeEmail, mapped by default
		Attributes: map[string]string{
			"cost_center": "4100", "employee_number": "100", "job_title": "CTO",
			"termination_date": "0000-00-00", "work_phone": "555-0100",
		},
	}
	if !reflect.DeepEqual(*ada, want) {
		t.Errorf("Ada = %+v\nwant %+v", *ada, want)
	}

	t.Run("a numeric id, a lower-case type and a manager by employee number", func(t *testing.T) {
		bob, err := s.ByEmail(ctx, "BOB@example.COM")
		if err != nil {
			t.Fatal(err)
		}
		if bob.ID != "8" || bob.Type != "contractor" || bob.Manager != "7" || bob.ChatUserID != "U08" {
			t.Errorf("Bob = %+v, want id 8, contractor, manager 7 (employee number 100)", *bob)
		}
	})
	t.Run("an inactive employee is there, with the fallback name", func(t *testing.T) {
		cy, err := s.ByID(ctx, "9")
		if err != nil {
			t.Fatal(err)
		}
		if cy.Status != "inactive" || cy.Active() || cy.Type != "intern" || cy.Name != "Cy Young" || cy.Manager != "7" {
			t.Errorf("Cy = %+v", *cy)
		}
	})
	t.Run("lookup by chat user id", func(t *testing.T) {
		e, err := s.ByChatUserID(ctx, "U08")
		if err != nil || e.ID != "8" {
			t.Fatalf("ByChatUserID(U08) = %+v, %v", e, err)
		}
		if _, err := s.ByChatUserID(ctx, "U99"); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("unknown chat id: %v, want ErrNotFound", err)
		}
	})
	t.Run("records without an id are skipped; All lists the rest", func(t *testing.T) {
		all := s.All()
		var ids []string
		for _, e := range all {
			ids = append(ids, e.ID)
		}
		if strings.Join(ids, ",") != "7,8,9" {
			t.Errorf("All() ids = %v, want 7,8,9", ids)
		}
	})
}

func TestEmptyDirectoryIs404(t *testing.T) {
	srv := hrtest.NewServer(t,
		hrtest.Call{Method: http.MethodGet, Path: basePath + "/employees/directory", Header: authHeader, Status: 404},
		reportCall(200, report),
	)
	cfg := config(srv.URL)
	cfg.UseDirectory = true
	s := newSource(t, cfg, &hrtest.Clock{})
	if err := s.Refresh(context.Background()); err != nil {
		t.Fatalf("a 404 directory means an empty one: %v", err)
	}
	if n := len(s.All()); n != 3 {
		t.Errorf("%d employees, want 3", n)
	}
}

func TestTTLRefetchIsSingleFlight(t *testing.T) {
	ctx := context.Background()
	clock := &hrtest.Clock{}
	srv := hrtest.NewServer(t, reportCall(200, report))
	s := newSource(t, config(srv.URL), clock)
	if _, err := s.ByID(ctx, "7"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9 * time.Minute)
	if _, err := s.ByID(ctx, "8"); err != nil {
		t.Fatal(err) // still fresh: no call (the script has none)
	}

	clock.Advance(time.Minute) // the TTL has passed
	arrived, hold := make(chan struct{}), make(chan struct{})
	c := reportCall(200, strings.Replace(report, "Ada Lovelace", "Ada King", 1))
	c.Arrived, c.Hold = arrived, hold
	srv.Expect(c)
	var wg, started sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			e, err := s.ByID(ctx, "7")
			if err == nil && e.Name != "Ada King" {
				err = fmt.Errorf("got %q, want the refreshed name", e.Name)
			}
			errs <- err
		}()
	}
	started.Wait()
	hrtest.Wait(t, arrived, "the refetch")
	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := srv.Served(); n != 2 {
		t.Errorf("%d requests, want 2 (one fetch, one refetch)", n)
	}
}

func TestFailedRefreshServesStaleThenFails(t *testing.T) {
	ctx := context.Background()
	clock := &hrtest.Clock{}
	srv := hrtest.NewServer(t, reportCall(200, report), reportCall(503, `{"error": "maintenance"}`))
	s := newSource(t, config(srv.URL), clock)
	if _, err := s.ByID(ctx, "7"); err != nil {
		t.Fatal(err)
	}

	clock.Advance(11 * time.Minute)
	e, err := s.ByID(ctx, "7")
	if err != nil || e.Name != "Ada Lovelace" {
		t.Fatalf("a failed refresh within 2×TTL serves the stale snapshot: %+v, %v", e, err)
	}
	clock.Advance(30 * time.Second)
	if _, err := s.ByID(ctx, "8"); err != nil {
		t.Fatalf("within the retry back-off no new fetch is made and stale data is served: %v", err)
	}

	clock.Advance(9 * time.Minute) // 20m30s: older than 2×TTL
	srv.Expect(reportCall(500, `oops`))
	_, err = s.ByID(ctx, "7")
	var se *directory.SourceError
	if !errors.As(err, &se) || se.Status != 500 || !directory.IsRetryable(err) {
		t.Fatalf("after 2×TTL the failure is returned, retryable: %v", err)
	}
	if !strings.Contains(err.Error(), "older than twice the TTL") {
		t.Errorf("error does not say the snapshot is too old: %v", err)
	}

	clock.Advance(2 * time.Minute)
	srv.Expect(reportCall(200, report))
	if _, err := s.ByID(ctx, "7"); err != nil {
		t.Errorf("a later successful refresh serves again: %v", err)
	}
}

func TestStatusesAreClassifiedAndSecretsStayOut(t *testing.T) {
	echo := fmt.Sprintf(`{"error": "bad key %s", "auth": "%s"}`, apiKey, base64.StdEncoding.EncodeToString([]byte(apiKey+":x")))
	for _, tc := range []struct {
		status int
		retry  bool
		says   string
	}{
		{401, false, "refused the credentials"},
		{403, false, "lack permission"},
		{404, false, "check the URL"},
		{400, false, "Bad Request"},
		{408, true, "Request Timeout"},
		{429, true, "Too Many Requests"},
		{500, true, "Internal Server Error"},
		{502, true, "Bad Gateway"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := hrtest.NewServer(t, reportCall(tc.status, echo))
			s := newSource(t, config(srv.URL), &hrtest.Clock{})
			_, err := s.ByID(context.Background(), "7")
			var se *directory.SourceError
			if !errors.As(err, &se) || se.Status != tc.status || se.Source != TypeName {
				t.Fatalf("error %v, want a SourceError with status %d", err, tc.status)
			}
			if directory.IsRetryable(err) != tc.retry {
				t.Errorf("retryable = %v, want %v (%v)", !tc.retry, tc.retry, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.says) {
				t.Errorf("%q does not say %q", msg, tc.says)
			}
			if strings.Contains(msg, apiKey) || strings.Contains(msg, base64.StdEncoding.EncodeToString([]byte(apiKey+":x"))) {
				t.Errorf("the API key leaked: %s", msg)
			}
		})
	}
}

func TestEmptyReportIsAFailure(t *testing.T) {
	srv := hrtest.NewServer(t, reportCall(200, `{"fields": [], "employees": []}`))
	s := newSource(t, config(srv.URL), &hrtest.Clock{})
	err := s.Refresh(context.Background())
	if err == nil || directory.IsRetryable(err) {
		t.Fatalf("an empty directory must be a non-retryable failure: %v", err)
	}
}

func TestValidate(t *testing.T) {
	err := Config{Company: "acme.bamboohr.com", BaseURL: "ftp://x", Mapping: hrsource.Mapping{
		Fields: hrsource.Fields{Email: "emails[type = work]"},
		Values: map[string]map[string]string{"kind": {"a": "b"}},
	}}.Validate()
	for _, want := range []string{
		"company: company \"acme.bamboohr.com\" must be the bare subdomain",
		"api_key: api_key is required",
		"base_url: base_url must use http or https",
		"fields.email:",
		"values.kind: unknown field \"kind\"",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to contain %q", err, want)
		}
	}
	var fe *hrsource.FieldError
	if !errors.As(err, &fe) {
		t.Errorf("errors are not FieldErrors: %v", err)
	}
	if err := (Config{Company: "acme", APIKey: secret.FromValue("k")}).Validate(); err != nil {
		t.Errorf("a minimal block is valid: %v", err)
	}
	if got := (Config{Company: "acme"}).BaseURLs(); got["base_url"] != DefaultBaseURL {
		t.Errorf("BaseURLs() = %v, want the default", got)
	}
}
