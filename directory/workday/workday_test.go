package workday

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

const (
	password     = "wd-PASS-3c9e77a1"
	clientSecret = "wd-CLIENT-SECRET-88f1"
	refreshToken = "wd-REFRESH-TOKEN-41aa"
	accessToken  = "wd-ACCESS-TOKEN-9d2c"
	reportPath   = "/ccx/service/customreport2/acme/ISU_Kinetic/Kinetic_Workers"
)

const entries = `{"Report_Entry": [
  {"Employee_ID": "21001", "Worker": "Logan McNeil", "Email_-_Work": "logan@example.com",
   "Worker_Type": "Employee", "Active_Status": "1", "Manager_ID": "",
   "Cost_Center": "CC-410", "Slack_ID": "U21001", "Country_ISO": "US", "Roles": "hr;people-ops", "Is_HR": "1"},
  {"Employee_ID": "21002", "Worker": "Maria Cardoza", "Email_-_Work": "maria@example.com",
   "Worker_Type": "Contingent Worker", "Active_Status": "0", "Manager_ID": "21001",
   "Roles": [{"Descriptor": "x", "value": "eng"}]}
]}`

var mapping = hrsource.Mapping{
	Fields: hrsource.Fields{
		ID: "Employee_ID", Email: "Email_-_Work", Name: "Worker", ChatUserID: "Slack_ID",
		Manager: "Manager_ID", Type: "Worker_Type", Status: "Active_Status", Country: "Country_ISO",
		RoleProfiles: "Roles", HRRole: "Is_HR",
	},
	Attributes: map[string]string{"cost_center": "Cost_Center"},
}

func reportCall(auth string, status int, reply string) hrtest.Call {
	return hrtest.Call{
		Method: http.MethodGet, Path: reportPath,
		Query:  url.Values{"format": {"json"}, "Effective_as_of": {"2030-01-01"}},
		Header: map[string]string{"Authorization": auth, "Accept": "application/json"},
		Status: status, Reply: reply,
	}
}

// tokenCall expects a token request with form and the client's
// credentials in the basic-auth header (never in the form).
func tokenCall(form url.Values, status int, reply string) hrtest.Call {
	form["client_secret"] = nil
	return hrtest.Call{
		Method: http.MethodPost, Path: "/ccx/oauth2/acme/token",
		Header: map[string]string{"Authorization": hrtest.BasicAuth("kinetic-client", clientSecret)},
		Form:   form, Status: status, Reply: reply,
	}
}

func newSource(t *testing.T, cfg Config, clock *hrtest.Clock) *Source {
	t.Helper()
	pol, err := outbound.NewURLPolicy([]string{"127.0.0.0/8"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{HTTP: pol.HTTPClient(5 * time.Second), TTL: time.Hour, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func basicConfig(srvURL string) Config {
	return Config{
		ReportURL: srvURL + reportPath + "?Effective_as_of=2030-01-01",
		Username:  "ISU_Kinetic@acme", Password: secret.FromValue(password),
		Mapping: mapping,
	}
}

func TestBasicAuthFetchAndMap(t *testing.T) {
	ctx := context.Background()
	srv := hrtest.NewServer(t, reportCall(hrtest.BasicAuth("ISU_Kinetic@acme", password), 200, entries))
	s := newSource(t, basicConfig(srv.URL), &hrtest.Clock{})
	logan, err := s.ByChatUserID(ctx, "U21001")
	if err != nil {
		t.Fatal(err)
	}
	want := directory.Employee{
		ID: "21001", Email: "logan@example.com", Name: "Logan McNeil", ChatUserID: "U21001",
		Type: "employee", Status: "active", Country: "US", RoleProfiles: []string{"hr", "people-ops"}, HRRole: true,
		Attributes: map[string]string{"cost_center": "CC-410"},
	}
	if !reflect.DeepEqual(*logan, want) {
		t.Errorf("Logan = %+v\nwant %+v", *logan, want)
	}
	maria, err := s.ByEmail(ctx, "Maria@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	if maria.Type != "contractor" || maria.Status != "inactive" || maria.Manager != "21001" ||
		!reflect.DeepEqual(maria.RoleProfiles, []string{"eng"}) {
		t.Errorf("Maria = %+v", *maria)
	}
}

func TestOAuthClientCredentials(t *testing.T) {
	ctx := context.Background()
	clock := &hrtest.Clock{}
	srv := hrtest.NewServer(t,
		tokenCall(url.Values{"grant_type": {"client_credentials"}, "scope": {"wd:reports"}}, 200,
			fmt.Sprintf(`{"access_token": %q, "token_type": "Bearer", "expires_in": 3600}`, accessToken)),
		reportCall("Bearer "+accessToken, 200, entries),
		// A Refresh reuses the cached token: only the report again.
		reportCall("Bearer "+accessToken, 200, entries),
	)
	cfg := basicConfig(srv.URL)
	cfg.Username, cfg.Password = "", secret.Secret{}
	cfg.OAuth = &OAuth{
		TokenURL: srv.URL + "/ccx/oauth2/acme/token", ClientID: "kinetic-client",
		ClientSecret: secret.FromValue(clientSecret), Scopes: []string{"wd:reports"},
	}
	s := newSource(t, cfg, clock)
	if _, err := s.ByID(ctx, "21001"); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
}

func refreshForm() url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
}

func TestOAuthRefreshTokenAndTokenErrors(t *testing.T) {
	ctx := context.Background()
	srv := hrtest.NewServer(t,
		tokenCall(refreshForm(), 401, fmt.Sprintf(`{"error": "invalid_client", "error_description": "bad secret %s for refresh %s"}`, clientSecret, refreshToken)),
		tokenCall(refreshForm(), 200, fmt.Sprintf(`{"access_token": %q, "token_type": "Bearer", "expires_in": 3600}`, accessToken)),
		reportCall("Bearer "+accessToken, 500, `{"error": "tenant unavailable", "echo": "`+accessToken+`"}`),
	)
	cfg := basicConfig(srv.URL)
	cfg.Username, cfg.Password = "", secret.Secret{}
	cfg.OAuth = &OAuth{
		TokenURL: srv.URL + "/ccx/oauth2/acme/token", ClientID: "kinetic-client",
		ClientSecret: secret.FromValue(clientSecret), RefreshToken: secret.FromValue(refreshToken),
	}
	s := newSource(t, cfg, &hrtest.Clock{})

	err := s.Refresh(ctx)
	var se *directory.SourceError
	if !errors.As(err, &se) || se.Status != 401 || directory.IsRetryable(err) || !strings.Contains(err.Error(), "OAuth token") {
		t.Fatalf("a refused token request is a non-retryable 401: %v", err)
	}
	err2 := s.Refresh(ctx)
	if !errors.As(err2, &se) || se.Status != 500 || !directory.IsRetryable(err2) {
		t.Fatalf("a 500 from the report is retryable: %v", err2)
	}
	for _, e := range []error{err, err2} {
		for _, sec := range []string{clientSecret, refreshToken, accessToken} {
			if strings.Contains(e.Error(), sec) {
				t.Errorf("a secret leaked: %v", e)
			}
		}
	}
}

func TestNotARaaSAnswer(t *testing.T) {
	srv := hrtest.NewServer(t, reportCall(hrtest.BasicAuth("ISU_Kinetic@acme", password), 200, `{"data": []}`))
	s := newSource(t, basicConfig(srv.URL), &hrtest.Clock{})
	err := s.Refresh(context.Background())
	var se *directory.SourceError
	if !errors.As(err, &se) || !errors.Is(err, ErrNoReportEntry) || directory.IsRetryable(err) {
		t.Errorf("Refresh = %v, want a non-retryable SourceError wrapping ErrNoReportEntry", err)
	}
}

func TestStaleThenError(t *testing.T) {
	ctx := context.Background()
	clock := &hrtest.Clock{}
	auth := hrtest.BasicAuth("ISU_Kinetic@acme", password)
	srv := hrtest.NewServer(t, reportCall(auth, 200, entries), reportCall(auth, 429, "slow down"))
	s := newSource(t, basicConfig(srv.URL), clock)
	if _, err := s.ByID(ctx, "21002"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(90 * time.Minute)
	if e, err := s.ByID(ctx, "21002"); err != nil || e.Name != "Maria Cardoza" {
		t.Fatalf("stale data is served: %+v, %v", e, err)
	}
	clock.Advance(31 * time.Minute)
	srv.Expect(reportCall(auth, 429, "slow down"))
	if _, err := s.ByID(ctx, "21002"); !directory.IsRetryable(err) {
		t.Fatalf("after 2×TTL the 429 is returned as retryable: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want []string
	}{
		{Config{}, []string{
			"report_url: report_url is required", "username: set username and password (HTTP basic) or an oauth block",
			"fields.id: the id field must be mapped", "fields.email:", "fields.status:",
		}},
		{Config{ReportURL: "https://wd.example.com/r", Username: "u", OAuth: &OAuth{}}, []string{"oauth: set either"}},
		{Config{ReportURL: "https://wd.example.com/r", OAuth: &OAuth{TokenURL: "wd.example.com/token"}}, []string{
			"oauth.token_url: token_url has no scheme", "oauth.client_id: client_id is required",
			"oauth.client_secret: client_secret is required",
		}},
		{Config{ReportURL: "https://wd.example.com/r", Password: secret.FromValue("p")}, []string{"username: username is required with password"}},
	} {
		err := tc.cfg.Validate()
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, w)
			}
		}
	}
	cfg := Config{ReportURL: "https://wd.example.com/r?x=1", OAuth: &OAuth{TokenURL: "https://wd.example.com/token"}}
	if got := cfg.BaseURLs(); len(got) != 2 || got["oauth.token_url"] == "" {
		t.Errorf("BaseURLs() = %v", got)
	}
}
