// Package scim is the HR directory source for any SCIM 2.0 service
// provider (RFC 7643 schema, RFC 7644 protocol): it pages through /Users,
// maps each User to a directory.Employee by configuration (core and
// enterprise-extension attributes), and serves lookups from a cached
// snapshot (see hrsource.Cache).
//
// Protocol notes (RFC 7644 section 3.4.2.4, https://www.rfc-editor.org/rfc/rfc7644#section-3.4.2.4):
// startIndex is 1-based, and a provider "MAY return fewer results" than
// count asks for, so the next page starts after the resources actually
// received, not count later; paging ends when every one of totalResults
// has been received or a page comes back empty. A page whose startIndex is
// not the one asked for means the provider ignores paging; that is an error
// rather than a silently repeated or truncated directory.
//
// Schema notes (RFC 7643, https://www.rfc-editor.org/rfc/rfc7643): the
// enterprise extension's manager.value is "the id of the SCIM resource
// representing the User's manager" (section 4.3) — the SCIM id, not an
// employee number — so the default mapping resolves managers through
// manager_key: id. Attribute names are case-insensitive (section 2.1).
package scim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/hrsource"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the directory type configuration uses for SCIM.
const TypeName = "scim"

// EnterpriseUser is the enterprise User extension's schema URN.
const EnterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// DefaultPageSize is the count asked for per page.
const DefaultPageSize = 100

// maxUsers bounds one fetch, against a provider whose paging never ends.
const maxUsers = 1_000_000

// Config is the directory.scim block.
type Config struct {
	// BaseURL is the SCIM service root, /Users is appended (required), e.g.
	// https://hr.example.com/scim/v2. The outbound URL policy checks it.
	BaseURL string `yaml:"base_url"`
	// Token is the bearer token (required).
	Token secret.Secret `yaml:"token"`
	// Filter is an optional SCIM filter sent with every page, e.g.
	// `userType eq "Employee"`.
	Filter string `yaml:"filter"`
	// PageSize is the count asked for per page; default 100.
	PageSize int `yaml:"page_size"`
	// Mapping maps SCIM attributes to Employee fields; see DefaultMapping.
	hrsource.Mapping `yaml:",inline"`
}

// DefaultMapping is the mapping applied under the configured one ("E:"
// stands for the enterprise extension's URN and ':'):
//
//	id: E:employeeNumber
//	email: emails[primary].value
//	name: displayName|name.formatted
//	username: userName
//	manager: E:manager.value, with manager_key: id (the SCIM id)
//	type: userType (Employee → employee, Contractor → contractor,
//	      Intern → intern; empty → employee)
//	status: active (true → active, false → inactive)
//	department: E:department
//	location: addresses[primary].locality
//	country: addresses[primary].country (ISO 3166-1 alpha-2 in SCIM)
//	time_zone: timezone (IANA in SCIM)
//	private_email: emails[type eq "home"].value (RFC 7643 section 4.1.2's
//	      canonical "home" type; none when the person has no home address)
//	attributes: title ← title, cost_center ← E:costCenter,
//	      division ← E:division, organization ← E:organization
//
// No chat user id is mapped: name the (extension) attribute that holds it.
func DefaultMapping() hrsource.Mapping {
	e := EnterpriseUser + ":"
	return hrsource.Mapping{
		Fields: hrsource.Fields{
			ID: e + "employeeNumber", Email: "emails[primary].value", Name: "displayName|name.formatted",
			Username: "userName", Manager: e + "manager.value", Type: "userType", Status: "active",
			Department: e + "department", Location: "addresses[primary].locality",
			Country: "addresses[primary].country", TimeZone: "timezone",
			PrivateEmail: `emails[type eq "home"].value`,
		},
		ManagerKey: "id",
		Attributes: map[string]string{
			"title": "title", "cost_center": e + "costCenter", "division": e + "division", "organization": e + "organization",
		},
		Values: map[string]map[string]string{
			"type": {
				"Employee": directory.TypeEmployee, "Contractor": directory.TypeContractor, "Intern": directory.TypeIntern,
			},
			"status": {"true": "active", "false": "inactive"},
		},
	}
}

// Validate reports every problem with the block, joined; each is a
// *hrsource.FieldError naming its key. Secrets are not resolved here.
func (c Config) Validate() error {
	var errs []error
	if err := hrsource.ValidateURL("base_url", c.BaseURL, false); err != nil {
		errs = append(errs, &hrsource.FieldError{Field: "base_url", Err: err})
	}
	if !c.Token.IsSet() {
		errs = append(errs, hrsource.Errorf("token", "token is required ({env: NAME} or {file: PATH})"))
	}
	if c.PageSize < 0 || c.PageSize > 1000 {
		errs = append(errs, hrsource.Errorf("page_size", "page_size must be between 1 and 1000 (0 means %d)", DefaultPageSize))
	}
	if _, err := c.Mapping.WithDefaults(DefaultMapping()).Compile(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// BaseURLs returns the URLs the source calls, by key below the block, for
// the outbound URL policy. A URL whose form is wrong is left out (Validate
// reports it).
func (c Config) BaseURLs() map[string]string {
	if hrsource.ValidateURL("base_url", c.BaseURL, false) != nil {
		return nil
	}
	return map[string]string{"base_url": strings.TrimSpace(c.BaseURL)}
}

// Options are the source's dependencies.
type Options struct {
	// HTTP is the client for every call; it must come from the outbound
	// URL policy. Required.
	HTTP *http.Client
	// TTL is the snapshot's lifetime; default hrsource.DefaultTTL.
	TTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Log receives refresh results.
	Log *logrus.Entry
}

// Source is the SCIM directory. It implements directory.Directory,
// directory.Lister and directory.Refresher through its cache.
type Source struct {
	*hrsource.Cache
	cfg    Config
	mapper *hrsource.Mapper
	http   *hrsource.HTTP
	users  string // BaseURL + /Users
	size   int
	log    *logrus.Entry
}

// New builds the source from a validated block whose secret is resolved.
// It fetches nothing until the first lookup or Refresh.
func New(cfg Config, o Options) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.HTTP == nil {
		return nil, errors.New("scim: an HTTP client from the outbound URL policy is required")
	}
	if cfg.Token.Value() == "" {
		return nil, errors.New("scim: token is not resolved")
	}
	mp, err := cfg.Mapping.WithDefaults(DefaultMapping()).Compile()
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	size := cfg.PageSize
	if size == 0 {
		size = DefaultPageSize
	}
	s := &Source{
		cfg: cfg, mapper: mp, size: size,
		http:  &hrsource.HTTP{Source: TypeName, Client: o.HTTP, Secrets: []string{cfg.Token.Value()}},
		users: strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/") + "/Users",
		log:   o.Log.WithField("directory", TypeName),
	}
	s.Cache = hrsource.NewCache(s.fetch, hrsource.Options{Source: TypeName, TTL: o.TTL, Now: o.Now, Log: o.Log})
	return s, nil
}

// listResponse is urn:ietf:params:scim:api:messages:2.0:ListResponse.
type listResponse struct {
	TotalResults int               `json:"totalResults"`
	StartIndex   int               `json:"startIndex"`
	ItemsPerPage int               `json:"itemsPerPage"`
	Resources    []hrsource.Record `json:"Resources"`
}

func (s *Source) fetch(ctx context.Context) ([]directory.Employee, error) {
	var all []hrsource.Record
	for start := 1; ; {
		op := fmt.Sprintf("listing users from %d", start)
		q := url.Values{"startIndex": {strconv.Itoa(start)}, "count": {strconv.Itoa(s.size)}}
		if f := strings.TrimSpace(s.cfg.Filter); f != "" {
			q.Set("filter", f)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.users+"?"+q.Encode(), nil)
		if err != nil {
			return nil, &directory.SourceError{Source: TypeName, Op: op, Err: errors.New("cannot build the request")}
		}
		req.Header.Set("Authorization", "Bearer "+s.cfg.Token.Value())
		req.Header.Set("Accept", "application/scim+json, application/json")
		body, err := s.http.Do(req, op)
		if err != nil {
			return nil, err
		}
		var page listResponse
		if err := s.http.DecodeJSON(op, body, &page); err != nil {
			return nil, err
		}
		if page.StartIndex != 0 && page.StartIndex != start {
			return nil, &directory.SourceError{Source: TypeName, Op: op, Err: fmt.Errorf("the provider answered with startIndex %d: it does not page (raise page_size, or use a filter)", page.StartIndex)}
		}
		all = append(all, page.Resources...)
		if len(page.Resources) == 0 || len(all) >= page.TotalResults {
			break
		}
		if len(all) > maxUsers {
			return nil, &directory.SourceError{Source: TypeName, Op: op, Err: fmt.Errorf("more than %d users: refusing to go on", maxUsers)}
		}
		start += len(page.Resources)
	}
	emps, rep := s.mapper.Map(all)
	hrsource.LogReport(s.log, rep)
	return emps, nil
}
