// Package verkada is the connector for Verkada Access, a cloud
// access-control system: it finds a departing person's Access user,
// deactivates every credential they hold — access cards, license plates,
// mobile (Bluetooth) unlock and remote unlock — and reads back that none
// is still active.
//
// Verkada credentials belong to the organization, not to a site: a card
// opens whatever doors the user's access groups and levels allow at every
// site of the org, so a user with no active credential opens none,
// secure areas included.
//
// It speaks Verkada's public API (https://apidocs.verkada.com/): an API
// key (x-api-key) buys a 30-minute API token (POST /token), sent as
// x-verkada-auth on every call
// (https://apidocs.verkada.com/reference/postloginapikeyviewv2). Every
// outbound connection goes through the outbound.URLPolicy client.
package verkada

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses for Verkada.
const TypeName = "verkada"

// DefaultAPIURL is Verkada's US API; the EU and Australian ones are
// https://api.eu.verkada.com and https://api.au.verkada.com.
const DefaultAPIURL = "https://api.verkada.com"

// DefaultTimeout bounds each HTTP request.
const DefaultTimeout = 30 * time.Second

// Match sources: which HR identifier is the Verkada user's external_id.
const (
	MatchEmployeeID = "employee_id"
	MatchEmail      = "email"
	MatchUsername   = "username"
)

// Config is the verkada block of a connector instance.
type Config struct {
	// APIURL is the API base, default https://api.verkada.com (EU:
	// https://api.eu.verkada.com, AU: https://api.au.verkada.com). https
	// only, except loopback for tests.
	APIURL string `yaml:"api_url"`
	// APIKey is a Verkada API key (Command → Admin → API & Integrations)
	// with read/write access to the Access Control endpoints. Required.
	APIKey secret.Secret `yaml:"api_key"`
	// Match names the HR identifier stored as the Access user's
	// external_id: employee_id (default), email, username, or
	// attributes.NAME.
	Match string `yaml:"match"`
	// FindByEmail finds the user by their email among all Access users
	// (GET /access/v1/access_users) instead of by external_id, for orgs
	// that do not set external ids; two users with the address is an
	// error, never a guess.
	FindByEmail bool `yaml:"find_by_email"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

func (c Config) apiURL() string {
	return strings.TrimRight(or(strings.TrimSpace(c.APIURL), DefaultAPIURL), "/")
}

// Validate reports every problem with the configuration, joined, each
// naming its key. It does no I/O.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, a ...any) {
		errs = append(errs, &connspec.FieldError{Field: key, Err: fmt.Errorf(format, a...)})
	}
	if u, err := outbound.CheckURLForm("api_url", c.apiURL(), outbound.URLForm{HTTPSOnly: true}); err != nil {
		add("api_url", "%s", strings.TrimPrefix(err.Error(), "api_url "))
	} else if strings.Trim(u.Path, "/") != "" {
		add("api_url", "must be the base URL alone, without a path (e.g. %s://%s)", u.Scheme, u.Host)
	}
	if !c.APIKey.IsSet() {
		add("api_key", "is required (a Verkada API key with Access Control read/write)")
	}
	if err := checkMatch(c.Match); err != nil {
		add("match", "%v", err)
	}
	if c.FindByEmail && c.Match != "" && c.Match != MatchEmail {
		add("find_by_email", "finds by email; match %q would not be used (leave match empty)", c.Match)
	}
	if c.Timeout < 0 {
		add("timeout", "must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

func checkMatch(m string) error {
	switch m {
	case "", MatchEmployeeID, MatchEmail, MatchUsername:
		return nil
	}
	if name, ok := strings.CutPrefix(m, "attributes."); ok && strings.TrimSpace(name) != "" {
		return nil
	}
	return fmt.Errorf("%q is not one of %s, %s, %s or attributes.NAME", m, MatchEmployeeID, MatchEmail, MatchUsername)
}

func matchValue(match string, s connectors.Subject) string {
	switch match {
	case "", MatchEmployeeID:
		return strings.TrimSpace(s.EmployeeID)
	case MatchEmail:
		return strings.TrimSpace(s.Email)
	case MatchUsername:
		return strings.TrimSpace(s.Username)
	}
	name, _ := strings.CutPrefix(match, "attributes.")
	return strings.TrimSpace(s.Attributes[name])
}

// Operations returns what a verkada instance supports: deactivate_badge.
func Operations() []connectors.Operation {
	return []connectors.Operation{connectors.OpDeactivateBadge}
}

// Descriptor describes the verkada type for internal/compose's table.
func Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:     TypeName,
			NewBlock: func() any { return &Config{} },
			Validate: func(b any) error { return b.(*Config).Validate() },
			Operations: func(any) ([]string, bool) {
				return connectors.OperationStrings(Operations()), true
			},
			URLs: func(b any) map[string]connspec.URL {
				if raw := b.(*Config).apiURL(); connspec.HTTPURL(raw) {
					return map[string]connspec.URL{"api_url": {Check: raw}}
				}
				return nil
			},
		},
		New: func(name string, b any, deps connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			c, err := New(name, *b.(*Config), deps.Policy, WithLogger(deps.Log))
			if err != nil {
				return nil, nil, err
			}
			return c, Operations(), nil
		},
	}
}

// Option adjusts a Connector at construction.
type Option func(*Connector)

// WithLogger sets the logger (default: discard).
func WithLogger(log *logrus.Entry) Option {
	return func(c *Connector) {
		if log != nil {
			c.log = log
		}
	}
}

// WithClock sets the clock used for token expiry (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *Connector) {
		if now != nil {
			c.now = now
		}
	}
}

// Connector is one configured Verkada organization. It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is
// safe for concurrent use.
type Connector struct {
	name   string
	cfg    Config
	api    *url.URL
	client interface {
		httpDoer
		CloseIdleConnections()
	}
	now    func() time.Time
	log    *logrus.Entry
	apiKey string

	tokMu  sync.Mutex
	token  string
	expiry time.Time
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

// New returns the Verkada connector named name ("verkada" when empty).
// cfg must validate and its api_key be resolved. Every HTTP request goes
// through policy's client (a nil policy refuses internal addresses).
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("verkada connector %q: %w", name, err)
	}
	api, err := url.Parse(cfg.apiURL())
	if err != nil {
		return nil, fmt.Errorf("verkada connector %q: api_url: not a valid URL", name)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	c := &Connector{name: name, cfg: cfg, api: api, client: policy.HTTPClient(timeout), now: time.Now,
		log: logrus.NewEntry(discard), apiKey: cfg.APIKey.Value()}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.WithFields(logrus.Fields{"connector": name, "type": TypeName})
	if c.apiKey == "" {
		return nil, fmt.Errorf("verkada connector %q: api_key is set but not resolved (no value)", name)
	}
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Close releases idle connections.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
