package bamboohr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/directory/hrpath"
)

// PollerFormat describes the bamboohr_changed poller format (an HR event
// source): BambooHR's "changed employees since" list, then each changed
// employee's fields, mapped as the BambooHR webhook maps them.
// internal/compose/table lists it.
func PollerFormat() hrconfig.PollerFormat {
	return hrconfig.PollerFormat{
		Format:   hrconfig.FormatBambooHRChanged,
		Validate: validatePoller,
		URLs: func(p *hrconfig.Poller) map[string]string {
			if p.BaseURL != "" && hrconfig.CheckURL(p.BaseURL, false) == nil {
				return map[string]string{"base_url": p.BaseURL}
			}
			return nil
		},
		New: func(name string, p *hrconfig.Poller, deps hrconfig.PollDeps) hrconfig.PollSource {
			return &changedSource{cfg: p, client: deps.HTTP, now: deps.Now, maxPast: deps.MaxPast}
		},
	}
}

var companyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

func validatePoller(path string, p *hrconfig.Poller, add func(field, format string, args ...any)) {
	if p.Company == "" {
		add(path+".company", "company is required (the BambooHR company domain: acme for acme.bamboohr.com)")
	} else if !companyRE.MatchString(p.Company) {
		add(path+".company", "%q is not a BambooHR company domain (letters, digits and '-')", p.Company)
	}
	if !p.APIKey.IsSet() {
		add(path+".api_key", "api_key is required ({env: NAME} or {file: PATH})")
	}
	if p.BaseURL != "" {
		if err := hrconfig.CheckURL(p.BaseURL, false); err != nil {
			add(path+".base_url", "%v", err)
		}
	}
	hrconfig.NotFor(path, hrconfig.FormatBambooHRChanged, map[string]bool{"url": p.URL != "", "username": p.Username != "", "password": p.Password.IsSet(),
		"oauth": p.OAuth != nil, "kind": p.Kind != "", "kinds": len(p.Kinds) > 0}, add)
	hrconfig.ValidateBambooHRFields(path+".fields", p.Fields, add)
}

// FieldDefaults are the BambooHR field names tried, in order ('|'), for
// each part of an event when the configuration does not name one: the API
// alias, then the English name field-based webhooks post by default. The
// employee id is BambooHR's own employee id unless fields.employee_id
// names a field (e.g. employeeNumber): the same default as the directory
// source.
var FieldDefaults = hrconfig.Fields{
	Email:    "workEmail|Work Email",
	Date:     "terminationDate|Termination Date",
	Status:   "status|Status",
	HireDate: "hireDate|Hire Date",
}

// IDField is the fields.employee_id value that means BambooHR's own
// employee id (the record id), as does an empty one.
const IDField = "id"

// FieldNames returns the names tried for one part: the configured one, or
// def's.
func FieldNames(configured, def string) []string {
	if configured != "" {
		return []string{configured}
	}
	if def == "" {
		return nil
	}
	return strings.Split(def, "|")
}

// RequestedFields are the fields the poller requests for each employee
// with renames f: the first (API) name of each part read.
func RequestedFields(f hrconfig.Fields) []string {
	var out []string
	for _, n := range [][]string{FieldNames(f.EmployeeID, ""), FieldNames(f.Email, FieldDefaults.Email),
		FieldNames(f.Date, FieldDefaults.Date), FieldNames(f.Status, FieldDefaults.Status), FieldNames(f.HireDate, FieldDefaults.HireDate),
		FieldNames(f.Reason, ""), FieldNames(f.Involuntary, "")} {
		if len(n) > 0 && n[0] != IDField && !slices.Contains(out, n[0]) {
			out = append(out, n[0])
		}
	}
	return out
}

// cursorOverlap is how far before the request time the cursor moves when
// BambooHR does not say how recent its answer is: a little overlap costs
// duplicates, which the engine ignores.
const cursorOverlap = time.Minute

// changedSource lists the employees changed since the cursor
// (GET /api/gateway.php/{company}/v1/employees/changed/?since=…) and reads
// each one's fields (GET …/v1/employees/{id}/?fields=…). The cursor is
// kept in memory and moves only when a whole round succeeded: a restarted
// process starts max_past back and the engine ignores what it had already
// recorded.
type changedSource struct {
	cfg     *hrconfig.Poller
	client  *http.Client
	now     func() time.Time
	maxPast time.Duration
	since   time.Time
}

// Since is the cursor (zero before the first poll).
func (s *changedSource) Since() time.Time { return s.since }

func (s *changedSource) Poll(ctx context.Context, sink hrconfig.Sink) error {
	now := s.now()
	if s.since.IsZero() {
		maxPast := s.maxPast
		if maxPast <= 0 {
			maxPast = 30 * 24 * time.Hour
		}
		s.since = now.Add(-maxPast).UTC().Truncate(time.Second)
	}
	api := APIBase(s.cfg.EffectiveBaseURL(), s.cfg.Company)
	auth := func(req *http.Request) error {
		Authorize(req, s.cfg.APIKey.Value())
		return nil
	}
	body, err := hrconfig.Get(ctx, s.client, "bamboohr changed employees", ChangedURL(api, s.since), auth)
	if err != nil {
		return err
	}
	latest, changes, err := DecodeChanged(body)
	if err != nil {
		return fmt.Errorf("bamboohr changed employees: %w", err)
	}
	var f hrconfig.Fields
	if s.cfg.Fields != nil {
		f = *s.cfg.Fields
	}
	fields := RequestedFields(f)
	var errs []error
	for _, c := range changes {
		sink.Read()
		id, err := hrpath.Scalar(c.ID)
		if err != nil || id == "" || strings.EqualFold(c.Action, "Deleted") {
			sink.Skip()
			continue
		}
		body, err := hrconfig.Get(ctx, s.client, "bamboohr employee", EmployeeURL(api, id, fields), auth)
		if err != nil {
			sink.Fail()
			errs = append(errs, err)
			var he *hrconfig.HTTPError
			if errors.As(err, &he) && (he.Status == http.StatusTooManyRequests || he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden) {
				break // the rest would fail the same way
			}
			continue
		}
		if err := sink.BambooHREmployee(ctx, id, c.LastChanged, body); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return hrconfig.JoinCapped(errs)
	}
	next := now.Add(-cursorOverlap)
	if t, err := hrconfig.ParseTimestamp(latest); err == nil && latest != "" {
		next = t
	}
	if next.After(s.since) {
		s.since = next.UTC()
	}
	return nil
}
