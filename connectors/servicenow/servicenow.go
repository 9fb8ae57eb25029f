// Package servicenow is the ITSM ticket connector for ServiceNow: it files
// a ticket (an incident, a catalog task or any task-derived table) for the
// team that must act on an equipment task or a manual step, adds the
// task's progress as work notes, and closes it with the task. It
// implements connectors.Ticketer over the Table API
// (https://www.servicenow.com/docs/r/api-reference/rest-apis/c_TableAPI.html):
//
//	GET   /api/now/table/{table}?sysparm_query=correlation_id=…   search before filing
//	POST  /api/now/table/{table}                                  file
//	GET   /api/now/table/{table}/{sys_id}                         read back
//	PATCH /api/now/table/{table}/{sys_id}                         work_notes, state, close_code, close_notes
//
// The ticket's identity is its correlation_id (connectors.TicketCorrelation
// of the case and task): the Table API reads from the database, so a
// search right after a lost answer finds the ticket that answer was about.
// It authenticates with HTTP basic (an integration user) or an OAuth 2.0
// client_credentials token from {instance}/oauth_token.do.
package servicenow

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/internal/restjson"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses.
const TypeName = "servicenow"

// DefaultTable is the table tickets are filed in when table is not set.
const DefaultTable = "incident"

// DefaultTimeout bounds each HTTP request when timeout is not set.
const DefaultTimeout = 30 * time.Second

// Config is the servicenow block of a connector instance. Set exactly one
// of Password (with Username) and OAuth.
type Config struct {
	// InstanceURL is the instance, e.g. https://example.service-now.com.
	// Required; https (http only on loopback, for tests), no path.
	InstanceURL string `yaml:"instance_url"`
	// Username and Password are the integration user's, sent as HTTP
	// basic.
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`
	// OAuth uses the client_credentials grant instead (Washington DC and
	// later, with glide.oauth.inbound.client.credential.grant_type.enabled
	// and an OAuth Application User on the client).
	OAuth *OAuth `yaml:"oauth"`
	// Table is the task-derived table tickets are filed in: incident
	// (default), sc_task, or another task table.
	Table string `yaml:"table"`
	// AssignmentGroup is the default assignment_group (sys_id, or name
	// when the instance resolves display values); a ticket request's
	// "assignment_group" parameter overrides it. Optional.
	AssignmentGroup string `yaml:"assignment_group"`
	// States maps Kinetic's ticket states to the table's state values.
	// Defaults: incident in_progress 2, closed 6 (Resolved); sc_task
	// in_progress 2, on_hold -5 (Pending), closed 3 (Closed Complete).
	// A state left unmapped cannot be set (on_hold on incident needs a
	// hold reason, so it has no default).
	States States `yaml:"states"`
	// CloseCode is the close_code (Resolution code) set when closing;
	// default "Solution provided" on incident, none elsewhere (sc_task has
	// no close_code).
	CloseCode string `yaml:"close_code"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

// OAuth configures the client_credentials grant.
type OAuth struct {
	ClientID     string        `yaml:"client_id"`
	ClientSecret secret.Secret `yaml:"client_secret"`
}

// States are the table's state values for Kinetic's ticket states.
type States struct {
	InProgress string `yaml:"in_progress"`
	OnHold     string `yaml:"on_hold"`
	Closed     string `yaml:"closed"`
}

var (
	tableName  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,79}$`)
	stateValue = regexp.MustCompile(`^-?[0-9]{1,4}$`)
)

// Validate reports every problem with the block, each naming its key.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if strings.TrimSpace(c.InstanceURL) == "" {
		add("instance_url is required (e.g. https://example.service-now.com)")
	} else if u, err := outbound.CheckURLForm("instance_url", c.InstanceURL, outbound.URLForm{HTTPSOnly: true}); err != nil {
		add("%v", err)
	} else if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		add("instance_url must be the instance alone, without path or query (e.g. %s://%s)", u.Scheme, u.Host)
	}
	basic := c.Username != "" || c.Password.IsSet()
	switch {
	case basic && c.OAuth != nil:
		add("set only one of username/password and oauth")
	case !basic && c.OAuth == nil:
		add("one of username/password or oauth is required")
	case basic && c.Username == "":
		add("username is required with password")
	case basic && !c.Password.IsSet():
		add("password is required with username")
	}
	if o := c.OAuth; o != nil {
		if strings.TrimSpace(o.ClientID) == "" {
			add("oauth.client_id is required")
		}
		if !o.ClientSecret.IsSet() {
			add("oauth.client_secret is required")
		}
	}
	if c.Table != "" && !tableName.MatchString(c.Table) {
		add("table %q is not a table name (lower case letters, digits and _)", c.Table)
	}
	for key, v := range map[string]string{"in_progress": c.States.InProgress, "on_hold": c.States.OnHold, "closed": c.States.Closed} {
		if v != "" && !stateValue.MatchString(v) {
			add("states.%s %q is not a state value (an integer such as 6)", key, v)
		}
	}
	if c.table() != "incident" && c.table() != "sc_task" && c.States.Closed == "" {
		add("states.closed is required for table %s (its closed state value)", c.table())
	}
	if strings.ContainsAny(c.AssignmentGroup, "^\n") {
		add("assignment_group must not contain ^ or a line break")
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

func (c Config) table() string {
	if c.Table == "" {
		return DefaultTable
	}
	return c.Table
}

// BaseURL is the instance URL without a trailing slash.
func (c Config) BaseURL() string { return strings.TrimRight(strings.TrimSpace(c.InstanceURL), "/") }

// states returns the configured states over the table's defaults.
func (c Config) states() States {
	s := c.States
	def := States{}
	switch c.table() {
	case "incident":
		def = States{InProgress: "2", Closed: "6"}
	case "sc_task":
		def = States{InProgress: "2", OnHold: "-5", Closed: "3"}
	}
	if s.InProgress == "" {
		s.InProgress = def.InProgress
	}
	if s.OnHold == "" {
		s.OnHold = def.OnHold
	}
	if s.Closed == "" {
		s.Closed = def.Closed
	}
	return s
}

func (c Config) closeCode() string {
	if c.CloseCode == "" && c.table() == "incident" {
		return "Solution provided"
	}
	return c.CloseCode
}

// Connector is one configured ServiceNow instance. It implements
// connectors.Connector (it holds no accounts: Lookup finds nothing and Do
// supports no operation) and connectors.Ticketer. Safe for concurrent use.
type Connector struct {
	name   string
	cfg    Config
	base   string
	table  string
	states States
	api    *restjson.Client
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Ticketer  = (*Connector)(nil)
)

// New returns the connector named name. cfg must validate and its secrets
// be resolved; every request goes through policy's client.
func New(name string, cfg Config, policy *outbound.URLPolicy) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("servicenow connector %q: %w", name, err)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	hc := policy.HTTPClient(timeout)
	auth := restjson.Basic(cfg.Username, cfg.Password.Value())
	if cfg.OAuth != nil {
		auth = restjson.ClientCredentials(name, cfg.BaseURL()+"/oauth_token.do", cfg.OAuth.ClientID, cfg.OAuth.ClientSecret.Value(), hc)
	}
	return &Connector{
		name: name, cfg: cfg, base: cfg.BaseURL(), table: cfg.table(), states: cfg.states(),
		api: &restjson.Client{Name: name, HTTP: hc, Auth: auth, UserAgent: "kinetic-servicenow-connector/1"},
	}, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Lookup finds nothing: a ticket system holds no access to revoke. (The
// person's own ServiceNow login, if any, is revoked through the identity
// provider or a SCIM connector.)
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
		fmt.Errorf("servicenow supports no operation %q: it files tickets for tasks (connectors.Ticketer)", req.Operation))
}

// TicketURL is the link people open: {instance}/{table}.do?sys_id={sys_id}.
func (c *Connector) TicketURL(sysID string) string {
	return c.base + "/" + c.table + ".do?sys_id=" + url.QueryEscape(sysID)
}
