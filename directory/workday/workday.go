// Package workday is the HR directory source for Workday: it reads a custom
// report published as a web service (Report-as-a-Service, RaaS) in JSON,
// maps each row to a directory.Employee by configuration (column names →
// Employee fields), and serves lookups from a cached snapshot (see
// hrsource.Cache).
//
// RaaS notes:
//
//   - A RaaS URL is https://HOST/ccx/service/customreport2/TENANT/OWNER/REPORT;
//     ?format=json makes Workday answer {"Report_Entry": [{column: value,
//     …}, …]}, the columns named by the report's field aliases
//     (https://schemas.apis.io/schemas/workday/workday-reportresponse/). The
//     whole report comes in one answer: RaaS does not paginate
//     (https://knowledgelib.io/business/erp-integration/workday-raas-integration/2026).
//   - The report's data source must include terminated workers ("All
//     Active and Terminated Workers"), or people HR has already terminated
//     — the ones being offboarded — are missing
//     (https://versionforge.com/kb/connectors/workday-raas-configuration).
//   - Integrations authenticate as an Integration System User with HTTP
//     basic, or with OAuth 2.0. Workday's "API Client for Integrations"
//     issues a non-expiring refresh token rather than supporting the client
//     credentials grant
//     (https://documentation.sailpoint.com/connectors/workday_accounts/help/integrating_workday_accounts/create_api_client_for_integration.html),
//     so oauth takes an optional refresh_token: with it the refresh-token
//     grant is used, without it client credentials (for gateways in front
//     of Workday that issue tokens that way).
package workday

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/oauth2"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/hrsource"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the directory type configuration uses for Workday.
const TypeName = "workday"

// Config is the directory.workday block.
type Config struct {
	// ReportURL is the report's RaaS URL (required), e.g.
	// https://wd2-impl-services1.workday.com/ccx/service/customreport2/acme/ISU_Kinetic/Kinetic_Workers.
	// It may carry the report's prompts as query parameters; format=json
	// is added unless present. The outbound URL policy checks it.
	ReportURL string `yaml:"report_url"`
	// Username and Password authenticate with HTTP basic (an Integration
	// System User). Set these or OAuth, not both.
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`
	// OAuth authenticates with an OAuth 2.0 bearer token.
	OAuth *OAuth `yaml:"oauth"`
	// Mapping maps report columns to Employee fields. There are no default
	// column names (a report names its own): fields.id, fields.email and
	// fields.status are required; map fields.private_email to the report's
	// personal email column (a Worker's home email address,
	// Email_Address with usage type HOME in Workday's data model) for
	// the device return instructions. Default values: type Employee →
	// employee, Contingent Worker → contractor; status Active, 1, true →
	// active, Terminated, Inactive, 0, false → inactive.
	hrsource.Mapping `yaml:",inline"`
}

// OAuth is the token endpoint and client.
type OAuth struct {
	// TokenURL is the token endpoint, e.g.
	// https://wd2-impl-services1.workday.com/ccx/oauth2/acme/token
	// (required). The outbound URL policy checks it.
	TokenURL string `yaml:"token_url"`
	// ClientID and ClientSecret identify the API client (required). They
	// are sent with HTTP basic, as RFC 6749 section 2.3.1 prefers.
	ClientID     string        `yaml:"client_id"`
	ClientSecret secret.Secret `yaml:"client_secret"`
	// RefreshToken, when set, is exchanged for access tokens (the
	// refresh_token grant); otherwise the client_credentials grant is used.
	RefreshToken secret.Secret `yaml:"refresh_token"`
	// Scopes are requested with client credentials.
	Scopes []string `yaml:"scopes"`
}

// DefaultMapping is the mapping applied under the configured one: value
// maps only (see Config.Mapping).
func DefaultMapping() hrsource.Mapping {
	return hrsource.Mapping{
		Values: map[string]map[string]string{
			"type": {
				"Employee": directory.TypeEmployee, "Regular": directory.TypeEmployee,
				"Contingent Worker": directory.TypeContractor, "Contractor": directory.TypeContractor,
				"Intern": directory.TypeIntern,
			},
			"status": {
				"Active": "active", "1": "active", "true": "active",
				"Terminated": "inactive", "Inactive": "inactive", "0": "inactive", "false": "inactive",
			},
		},
	}
}

// Validate reports every problem with the block, joined; each is a
// *hrsource.FieldError naming its key. Secrets are not resolved here.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, hrsource.Errorf(field, format, args...)) }
	if err := hrsource.ValidateURL("report_url", c.ReportURL, true); err != nil {
		errs = append(errs, &hrsource.FieldError{Field: "report_url", Err: err})
	}
	basic := c.Username != "" || c.Password.IsSet()
	switch {
	case basic && c.OAuth != nil:
		add("oauth", "set either username and password or oauth, not both")
	case !basic && c.OAuth == nil:
		add("username", "set username and password (HTTP basic) or an oauth block")
	case basic:
		if strings.TrimSpace(c.Username) == "" {
			add("username", "username is required with password")
		}
		if !c.Password.IsSet() {
			add("password", "password is required with username ({env: NAME} or {file: PATH})")
		}
	default:
		o := c.OAuth
		if err := hrsource.ValidateURL("token_url", o.TokenURL, false); err != nil {
			errs = append(errs, &hrsource.FieldError{Field: "oauth.token_url", Err: err})
		}
		if strings.TrimSpace(o.ClientID) == "" {
			add("oauth.client_id", "client_id is required")
		}
		if !o.ClientSecret.IsSet() {
			add("oauth.client_secret", "client_secret is required ({env: NAME} or {file: PATH})")
		}
	}
	if _, err := c.Mapping.WithDefaults(DefaultMapping()).Compile(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// BaseURLs returns the URLs the source calls, by key below the block
// (report_url, oauth.token_url), for the outbound URL policy. A URL whose
// form is wrong is left out (Validate reports it).
func (c Config) BaseURLs() map[string]string {
	out := map[string]string{}
	if hrsource.ValidateURL("report_url", c.ReportURL, true) == nil {
		out["report_url"] = strings.TrimSpace(c.ReportURL)
	}
	if c.OAuth != nil && hrsource.ValidateURL("token_url", c.OAuth.TokenURL, false) == nil {
		out["oauth.token_url"] = strings.TrimSpace(c.OAuth.TokenURL)
	}
	return out
}

// Options are the source's dependencies.
type Options struct {
	// HTTP is the client for every call, the token endpoint's included; it
	// must come from the outbound URL policy. Required.
	HTTP *http.Client
	// TTL is the snapshot's lifetime; default hrsource.DefaultTTL.
	TTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Log receives refresh results.
	Log *logrus.Entry
}

// Source is the Workday directory. It implements directory.Directory,
// directory.Lister and directory.Refresher through its cache.
type Source struct {
	*hrsource.Cache
	cfg     Config
	mapper  *hrsource.Mapper
	http    *hrsource.HTTP
	url     string
	tokens  *Tokens  // nil with basic auth
	secrets []string // the configured secrets, for redaction
	log     *logrus.Entry
}

// New builds the source from a validated block whose secrets are resolved.
// It fetches nothing until the first lookup or Refresh.
func New(cfg Config, o Options) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.HTTP == nil {
		return nil, errors.New("workday: an HTTP client from the outbound URL policy is required")
	}
	mp, err := cfg.Mapping.WithDefaults(DefaultMapping()).Compile()
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	u, err := ReportURL(cfg.ReportURL)
	if err != nil {
		return nil, errors.New("workday: report_url is not a valid URL")
	}
	s := &Source{cfg: cfg, mapper: mp, url: u, log: o.Log.WithField("directory", TypeName)}
	h := &hrsource.HTTP{Source: TypeName, Client: o.HTTP}
	if cfg.OAuth == nil {
		if cfg.Password.Value() == "" {
			return nil, errors.New("workday: password is not resolved")
		}
		s.secrets = []string{cfg.Password.Value(), cfg.Username + ":" + cfg.Password.Value()}
	} else {
		oa := cfg.OAuth
		if oa.ClientSecret.Value() == "" {
			return nil, errors.New("workday: oauth.client_secret is not resolved")
		}
		s.secrets = []string{oa.ClientSecret.Value(), oa.ClientID + ":" + oa.ClientSecret.Value(), oa.RefreshToken.Value()}
		// Token requests go through the policy client too.
		s.tokens = NewTokens(*oa, o.HTTP, o.Now)
	}
	h.Secrets = s.secrets
	s.http = h
	s.Cache = hrsource.NewCache(s.fetch, hrsource.Options{Source: TypeName, TTL: o.TTL, Now: o.Now, Log: o.Log})
	return s, nil
}

func (s *Source) fetch(ctx context.Context) ([]directory.Employee, error) {
	const op = "running the report"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, &directory.SourceError{Source: TypeName, Op: op, Err: errors.New("cannot build the request")}
	}
	req.Header.Set("Accept", "application/json")
	if s.tokens == nil {
		req.SetBasicAuth(s.cfg.Username, s.cfg.Password.Value())
	} else {
		tok, err := s.tokens.Token(ctx)
		if err != nil {
			return nil, s.tokenError(err)
		}
		// Only fetch touches Secrets, and fetches never overlap.
		s.http.Secrets = append(slices.Clone(s.secrets), tok.AccessToken)
		tok.SetAuthHeader(req)
	}
	body, err := s.http.Do(req, op)
	if err != nil {
		if se := (*directory.SourceError)(nil); s.tokens != nil && errors.As(err, &se) && se.Status == http.StatusUnauthorized {
			s.tokens.Invalidate() // a revoked access token: the next fetch gets a new one
		}
		return nil, err
	}
	rows, err := DecodeReport(body)
	if errors.Is(err, ErrNoReportEntry) {
		return nil, &directory.SourceError{Source: TypeName, Op: op, Err: err}
	}
	if err != nil {
		return nil, &directory.SourceError{Source: TypeName, Op: op, Err: fmt.Errorf("the answer is not the expected JSON: %s", s.http.Redact(err.Error()))}
	}
	recs := make([]hrsource.Record, len(rows))
	for i, row := range rows {
		if err := s.http.DecodeJSON(op, row, &recs[i]); err != nil {
			return nil, err
		}
	}
	emps, rep := s.mapper.Map(recs)
	hrsource.LogReport(s.log, rep)
	return emps, nil
}

// tokenError classifies a failure to get a token like any HTTP answer.
func (s *Source) tokenError(err error) error {
	const op = "getting an OAuth token"
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return s.http.StatusError(op, re.Response.StatusCode, re.Body)
	}
	var se *directory.SourceError
	if errors.As(err, &se) {
		return se
	}
	// A transport failure: x/oauth2 returns the client's error as it is.
	return s.http.TransportError(op, err)
}
