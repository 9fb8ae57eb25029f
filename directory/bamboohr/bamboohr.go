// Package bamboohr is the HR directory source for BambooHR: it reads every
// employee with a custom report (and, optionally, the company directory),
// maps each record to a directory.Employee by configuration, and serves
// lookups from a cached snapshot (see hrsource.Cache). It also owns
// BambooHR's HR event formats: the bamboohr_changed poller format
// (PollerFormat, poller.go) and the bamboohr webhook format
// (WebhookFormat, webhook.go: the signature check and the field-based
// webhook's parsing), both listed in internal/compose/table.
//
// API notes (https://documentation.bamboohr.com):
//
//   - Authentication is HTTP basic with the API key as the user name and
//     any password; "x" by convention.
//   - The custom report (POST /api/gateway.php/{company}/v1/reports/custom)
//     is the bulk read BambooHR recommends, and the only one that includes
//     inactive employees — the very people being offboarded: "The report
//     includes all employees regardless of status (both Active and
//     Inactive)" (https://documentation.bamboohr.com/reference/request-custom-report).
//   - The employee directory (GET .../v1/employees/directory) returns only
//     Active employees, only the fields the company publishes in it, may
//     silently hide people ("commonly contractors"), answers 403 when
//     directory sharing is off and 404 — not an empty list — when it is
//     empty (https://documentation.bamboohr.com/reference/get-employees-directory).
//     So it is read only when use_directory is set, to add directory-only
//     fields; the report decides who exists.
package bamboohr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/hrsource"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the directory type configuration uses for BambooHR.
const TypeName = "bamboohr"

// DefaultBaseURL is BambooHR's API host.
const DefaultBaseURL = "https://api.bamboohr.com"

// Config is the directory.bamboohr block.
type Config struct {
	// Company is the BambooHR subdomain (acme for acme.bamboohr.com);
	// required.
	Company string `yaml:"company"`
	// APIKey is the API key of a read-only service account; required.
	APIKey secret.Secret `yaml:"api_key"`
	// BaseURL is the API host; default https://api.bamboohr.com (tests
	// point it elsewhere). The outbound URL policy checks it.
	BaseURL string `yaml:"base_url"`
	// UseDirectory also reads the company directory and adds its fields to
	// the report's (the report's values win). Default false.
	UseDirectory bool `yaml:"use_directory"`
	// Mapping maps BambooHR fields to Employee fields; see DefaultMapping.
	// Field names are BambooHR field names or aliases (custom fields too,
	// e.g. customSlackUserID); each mapped name is requested in the custom
	// report.
	hrsource.Mapping `yaml:",inline"`
}

// DefaultMapping is the mapping applied under the configured one:
//
//	id: id                       (BambooHR's employee id)
//	email: workEmail
//	name: displayName|fullName1
//	manager: supervisorEId, with manager_key: employeeNumber
//	type: employmentHistoryStatus (Full-Time, Part-Time → employee;
//	      Contractor → contractor; Intern → intern)
//	status: status               (Active → active; Inactive → inactive)
//	department: department, location: location
//	private_email: homeEmail     (BambooHR's "Home Email" field, per its
//	      list of field names,
//	      https://documentation.bamboohr.com/docs/list-of-field-names)
//	attributes: employee_number ← employeeNumber, job_title ← jobTitle,
//	      division ← division, hire_date ← hireDate,
//	      termination_date ← terminationDate
//
// The manager is found by employee number: per BambooHR's field list as
// integrators document it, supervisorEId holds the supervisor's employee
// number and supervisorId their BambooHR id
// (https://docs.workato.com/en/connectors/bamboo-hr/updated-employee-trigger).
// If a tenant's data says otherwise, set manager_key: id (or map manager
// to supervisorId); references that match nobody are logged at each
// refresh. BambooHR's country is a country name, not the ISO code
// Employee.Country wants, so it is not mapped by default (map it with
// values: {country: {Germany: DE, …}}). No chat user id is mapped: name
// the custom field that holds it.
func DefaultMapping() hrsource.Mapping {
	return hrsource.Mapping{
		Fields: hrsource.Fields{
			ID: "id", Email: "workEmail", Name: "displayName|fullName1",
			Manager: "supervisorEId", Type: "employmentHistoryStatus", Status: "status",
			Department: "department", Location: "location", PrivateEmail: "homeEmail",
		},
		ManagerKey: "employeeNumber",
		Attributes: map[string]string{
			"employee_number": "employeeNumber", "job_title": "jobTitle", "division": "division",
			"hire_date": "hireDate", "termination_date": "terminationDate",
		},
		Values: map[string]map[string]string{
			"type": {
				"Full-Time": directory.TypeEmployee, "Part-Time": directory.TypeEmployee,
				"Contractor": directory.TypeContractor, "Intern": directory.TypeIntern,
			},
			"status": {"Active": "active", "Inactive": "inactive"},
		},
	}
}

// Validate reports every problem with the block, joined; each is a
// *hrsource.FieldError naming its key. Secrets are not resolved here.
func (c Config) Validate() error {
	var errs []error
	co := strings.TrimSpace(c.Company)
	switch {
	case co == "":
		errs = append(errs, hrsource.Errorf("company", "company is required (the subdomain of COMPANY.bamboohr.com)"))
	case strings.ContainsAny(co, "/?#%. ") || strings.Contains(co, ".."):
		errs = append(errs, hrsource.Errorf("company", "company %q must be the bare subdomain (acme for acme.bamboohr.com)", co))
	}
	if !c.APIKey.IsSet() {
		errs = append(errs, hrsource.Errorf("api_key", "api_key is required ({env: NAME} or {file: PATH})"))
	}
	if c.BaseURL != "" {
		if err := hrsource.ValidateURL("base_url", c.BaseURL, false); err != nil {
			errs = append(errs, &hrsource.FieldError{Field: "base_url", Err: err})
		}
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
	u := c.baseURL()
	if hrsource.ValidateURL("base_url", u, false) != nil {
		return nil
	}
	return map[string]string{"base_url": u}
}

func (c Config) baseURL() string {
	if strings.TrimSpace(c.BaseURL) == "" {
		return DefaultBaseURL
	}
	return strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
}

// Options are the source's dependencies.
type Options struct {
	// HTTP is the client for every call; it must come from the outbound
	// URL policy (outbound.URLPolicy.HTTPClient). Required.
	HTTP *http.Client
	// TTL is the snapshot's lifetime; default hrsource.DefaultTTL.
	TTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Log receives refresh results.
	Log *logrus.Entry
}

// Source is the BambooHR directory. It implements directory.Directory,
// directory.Lister and directory.Refresher through its cache.
type Source struct {
	*hrsource.Cache
	cfg    Config
	mapper *hrsource.Mapper
	http   *hrsource.HTTP
	base   string // .../api/gateway.php/{company}/v1
	log    *logrus.Entry

	mu     sync.Mutex
	warned string // the last missing-fields warning, to say it once
}

// New builds the source from a validated block whose secret is resolved.
// It fetches nothing until the first lookup or Refresh.
func New(cfg Config, o Options) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.HTTP == nil {
		return nil, errors.New("bamboohr: an HTTP client from the outbound URL policy is required")
	}
	if cfg.APIKey.Value() == "" {
		return nil, errors.New("bamboohr: api_key is not resolved")
	}
	mp, err := cfg.Mapping.WithDefaults(DefaultMapping()).Compile()
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = logrus.NewEntry(logrus.StandardLogger())
	}
	s := &Source{
		cfg: cfg, mapper: mp,
		http: &hrsource.HTTP{Source: TypeName, Client: o.HTTP, Secrets: []string{cfg.APIKey.Value(), cfg.APIKey.Value() + ":x"}},
		base: APIBase(cfg.baseURL(), cfg.Company),
		log:  o.Log.WithField("directory", TypeName),
	}
	s.Cache = hrsource.NewCache(s.fetch, hrsource.Options{Source: TypeName, TTL: o.TTL, Now: o.Now, Log: o.Log})
	return s, nil
}

// table is the JSON shape of both the directory and the custom report.
type table struct {
	Fields []struct {
		ID string `json:"id"`
	} `json:"fields"`
	Employees []hrsource.Record `json:"employees"`
}

func (s *Source) fetch(ctx context.Context) ([]directory.Employee, error) {
	var dir table
	if s.cfg.UseDirectory {
		var err error
		if dir, err = s.directory(ctx); err != nil {
			return nil, err
		}
	}
	recs, err := s.report(ctx, dir)
	if err != nil {
		return nil, err
	}
	if len(dir.Employees) > 0 {
		recs = merge(dir.Employees, recs)
	}
	emps, rep := s.mapper.Map(recs)
	hrsource.LogReport(s.log, rep)
	return emps, nil
}

// directory reads the company directory; an empty directory (404) is no
// records.
func (s *Source) directory(ctx context.Context) (table, error) {
	const op = "reading the employee directory"
	var t table
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/employees/directory", nil)
	if err != nil {
		return t, &directory.SourceError{Source: TypeName, Op: op, Err: errors.New("cannot build the request")}
	}
	s.auth(req)
	body, err := s.http.Do(req, op)
	var se *directory.SourceError
	if errors.As(err, &se) && se.Status == http.StatusNotFound {
		return t, nil
	}
	if errors.As(err, &se) && se.Status == http.StatusForbidden {
		se.Err = errors.New("directory sharing is disabled for this company or key; set use_directory: false")
		return t, se
	}
	if err != nil {
		return t, err
	}
	err = s.http.DecodeJSON(op, body, &t)
	return t, err
}

// report runs the custom report with every mapped field; dir is what the
// directory gave (fields it has are not missing).
func (s *Source) report(ctx context.Context, dir table) ([]hrsource.Record, error) {
	const op = "requesting the custom report"
	fields := s.mapper.SourceFields()
	body, _ := json.Marshal(map[string]any{"title": "Kinetic directory", "fields": fields})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/reports/custom?format=JSON", bytes.NewReader(body))
	if err != nil {
		return nil, &directory.SourceError{Source: TypeName, Op: op, Err: errors.New("cannot build the request")}
	}
	s.auth(req)
	// Exactly "application/json": BambooHR reads any other value, even
	// "application/json; charset=UTF-8", as XML and answers 400 Malformed
	// XML (https://documentation.bamboohr.com/reference/request-custom-report).
	req.Header.Set("Content-Type", "application/json")
	answer, err := s.http.Do(req, op)
	if err != nil {
		return nil, err
	}
	var t table
	if err := s.http.DecodeJSON(op, answer, &t); err != nil {
		return nil, err
	}
	s.checkFields(fields, t, dir)
	return t.Employees, nil
}

// checkFields warns (once per distinct result) about requested fields the
// report left out: BambooHR silently omits unknown fields and fields the
// key may not read, and still answers 200.
func (s *Source) checkFields(asked []string, tables ...table) {
	got := map[string]bool{}
	for _, t := range tables {
		for _, f := range t.Fields {
			got[strings.ToLower(f.ID)] = true
		}
		for i, e := range t.Employees {
			if i == 50 {
				break
			}
			for k := range e {
				got[strings.ToLower(k)] = true
			}
		}
	}
	var missing []string
	for _, f := range asked {
		if !got[strings.ToLower(f)] {
			missing = append(missing, f)
		}
	}
	msg := strings.Join(missing, ",")
	s.mu.Lock()
	defer s.mu.Unlock()
	if msg != "" && msg != s.warned {
		s.log.WithField("fields", missing).Warn("the custom report left out mapped fields: unknown to BambooHR or not readable with this API key")
	}
	s.warned = msg
}

func (s *Source) auth(req *http.Request) { Authorize(req, s.cfg.APIKey.Value()) }

// merge overlays report records on directory records by id: the report
// decides who exists (it includes inactive people), the directory only adds
// fields.
func merge(dir, report []hrsource.Record) []hrsource.Record {
	byID := map[string]hrsource.Record{}
	for _, r := range dir {
		if id := r.String("id"); id != "" {
			byID[id] = r
		}
	}
	out := make([]hrsource.Record, 0, len(report))
	for _, r := range report {
		d, ok := byID[r.String("id")]
		if !ok {
			out = append(out, r)
			continue
		}
		m := hrsource.Record{}
		for k, v := range d {
			m[k] = v
		}
		for k, v := range r {
			if v != nil {
				m[k] = v
			}
		}
		out = append(out, m)
	}
	return out
}
