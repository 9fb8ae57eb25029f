// Package jira is the ITSM ticket connector for Jira Cloud: it files an
// issue for the team that must act on an equipment task or a manual step,
// adds the task's progress as comments, moves it through the project's
// workflow and closes it with the task. It implements connectors.Ticketer
// over the Jira Cloud platform REST API v3
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/):
//
//	GET  /rest/api/3/search/jql?jql=labels = "kinetic-…"   search before filing
//	POST /rest/api/3/issue                                  file (description in ADF)
//	GET  /rest/api/3/issue/{id}                             read back
//	GET  /rest/api/3/issue/{id}/comment, POST …/comment     notes, without repeats
//	GET  /rest/api/3/issue/{id}/transitions, POST …         move / close
//
// The ticket's identity is a label (connectors.TicketCorrelation of the
// case and task). Jira's search is eventually consistent: an issue filed
// seconds ago may not be found yet
// (https://developer.atlassian.com/cloud/jira/platform/search-and-reconcile),
// so the connector also remembers, for the life of the process, the issue
// it filed for each label and passes it as reconcileIssues, which makes the
// search consistent for that issue. A retry in another process within the
// indexing delay after an answer that was lost could still file a second
// issue; when a search finds two, the oldest is used and the detail says
// so.
//
// It authenticates with HTTP basic: the account's email and an API token.
package jira

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/internal/restjson"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses.
const TypeName = "jira"

// Defaults applied to zero Config fields.
const (
	DefaultIssueType = "Task"
	DefaultTimeout   = 30 * time.Second
)

// Config is the jira block of a connector instance.
type Config struct {
	// SiteURL is the Jira Cloud site, e.g. https://example.atlassian.net.
	// Required; https (http only on loopback, for tests), no path.
	SiteURL string `yaml:"site_url"`
	// Email and APIToken are the Atlassian account's, sent as HTTP basic.
	Email    string        `yaml:"email"`
	APIToken secret.Secret `yaml:"api_token"`
	// Project is the key of the project issues are filed in (a ticket
	// request's "project" parameter overrides it). Required.
	Project string `yaml:"project"`
	// IssueType is the issue type's name; default Task (a request's
	// "issue_type" parameter overrides it).
	IssueType string `yaml:"issue_type"`
	// Statuses names the workflow statuses for Kinetic's ticket states.
	// Unset in_progress and closed mean any status of the category "In
	// Progress" and "Done"; on_hold has no default (the category cannot
	// tell it from in progress).
	Statuses Statuses `yaml:"statuses"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

// Statuses are workflow status names (case-insensitive).
type Statuses struct {
	InProgress string `yaml:"in_progress"`
	OnHold     string `yaml:"on_hold"`
	Closed     string `yaml:"closed"`
}

var projectKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,9}$`)

// Validate reports every problem with the block, each naming its key.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if strings.TrimSpace(c.SiteURL) == "" {
		add("site_url is required (e.g. https://example.atlassian.net)")
	} else if u, err := outbound.CheckURLForm("site_url", c.SiteURL, outbound.URLForm{HTTPSOnly: true}); err != nil {
		add("%v", err)
	} else if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		add("site_url must be the site alone, without path or query (e.g. %s://%s)", u.Scheme, u.Host)
	}
	if e := strings.TrimSpace(c.Email); e == "" {
		add("email is required (the Atlassian account the API token belongs to)")
	} else if !strings.Contains(e, "@") || strings.ContainsAny(e, " :") {
		add("email %q is not an email address", e)
	}
	if !c.APIToken.IsSet() {
		add("api_token is required")
	}
	if c.Project == "" {
		add("project is required (a project key such as OPS)")
	} else if !projectKey.MatchString(c.Project) {
		add("project %q is not a project key (upper case letters, digits and _, starting with a letter)", c.Project)
	}
	if strings.ContainsAny(c.IssueType, "\"\n") {
		add("issue_type must not contain a quote or a line break")
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

// BaseURL is the site URL without a trailing slash.
func (c Config) BaseURL() string { return strings.TrimRight(strings.TrimSpace(c.SiteURL), "/") }

// Connector is one configured Jira site. It implements
// connectors.Connector (it holds no accounts: Lookup finds nothing and Do
// supports no operation) and connectors.Ticketer. Safe for concurrent use.
type Connector struct {
	name string
	cfg  Config
	base string
	api  *restjson.Client

	mu    sync.Mutex
	filed map[string]string // label → issue id this process filed
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Ticketer  = (*Connector)(nil)
)

// New returns the connector named name. cfg must validate and its
// api_token be resolved; every request goes through policy's client.
func New(name string, cfg Config, policy *outbound.URLPolicy) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("jira connector %q: %w", name, err)
	}
	if cfg.IssueType == "" {
		cfg.IssueType = DefaultIssueType
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	return &Connector{
		name: name, cfg: cfg, base: cfg.BaseURL(), filed: map[string]string{},
		api: &restjson.Client{Name: name, HTTP: policy.HTTPClient(timeout),
			Auth: restjson.Basic(strings.TrimSpace(cfg.Email), cfg.APIToken.Value()), UserAgent: "kinetic-jira-connector/1"},
	}, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Lookup finds nothing: a ticket system holds no access to revoke.
func (c *Connector) Lookup(ctx context.Context, _ connectors.Subject) (connectors.LookupResult, error) {
	if err := ctx.Err(); err != nil {
		return connectors.LookupResult{}, connectors.NewError(connectors.KindCanceled, c.name, "lookup", err)
	}
	return connectors.LookupResult{}, nil
}

// Do supports no operation: tickets go through the Ticketer methods.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.NewError(connectors.KindCanceled, c.name, string(req.Operation), err)
	}
	return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, string(req.Operation),
		fmt.Errorf("jira supports no operation %q: it files tickets for tasks (connectors.Ticketer)", req.Operation))
}

// TicketURL is the link people open: {site}/browse/{key}.
func (c *Connector) TicketURL(key string) string { return c.base + "/browse/" + url.PathEscape(key) }
