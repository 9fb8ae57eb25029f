// Package brivo is the connector for Brivo Access, a cloud access-control
// system: it finds a departing person's Brivo user (cardholder), suspends
// the user and takes every credential (cards, PINs, mobile passes) off
// them, then reads back that the user is suspended and holds no
// credential.
//
// A Brivo account spans every site it manages (a user's access to a site
// comes from the groups they belong to), so one suspended user with no
// credential opens no door at any site, secure areas included.
//
// It speaks Brivo's REST API (https://apidocs.brivo.com/): every call
// carries the Mashery "api-key" header and an OAuth 2.0 bearer token that
// the connector gets from the auth server with the password grant of a
// Brivo API application ("Password will allow you to provide an admin
// login and password directly", https://apidocs.brivo.com/#authentication)
// and caches until it expires. Every outbound connection goes through the
// outbound.URLPolicy client.
package brivo

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
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

// TypeName is the connector type name configuration uses for Brivo.
const TypeName = "brivo"

// Brivo's production endpoints; the EU environment is
// https://api.eu.brivo.com and https://auth.eu.brivo.com
// (https://apidocs.brivo.com/#baseUrls).
const (
	DefaultAPIURL  = "https://api.brivo.com"
	DefaultAuthURL = "https://auth.brivo.com"
)

// DefaultTimeout bounds each HTTP request.
const DefaultTimeout = 30 * time.Second

// Match sources: which HR identifier is the Brivo user's externalId.
const (
	MatchEmployeeID = "employee_id"
	MatchEmail      = "email"
	MatchUsername   = "username"
)

// Config is the brivo block of a connector instance.
type Config struct {
	// APIURL is the API base, default https://api.brivo.com (EU:
	// https://api.eu.brivo.com). https only, except loopback for tests.
	APIURL string `yaml:"api_url"`
	// AuthURL is the OAuth server, default https://auth.brivo.com (EU:
	// https://auth.eu.brivo.com).
	AuthURL string `yaml:"auth_url"`
	// APIKey is the Mashery API key from developer.brivo.com, sent as the
	// api-key header. Required.
	APIKey secret.Secret `yaml:"api_key"`
	// ClientID and ClientSecret identify the Brivo API application
	// (Configuration → Integrations → Generate API Token, type Password).
	// Required.
	ClientID     string        `yaml:"client_id"`
	ClientSecret secret.Secret `yaml:"client_secret"`
	// Username and Password are the Brivo administrator the application
	// acts as (password grant). Required.
	Username string        `yaml:"username"`
	Password secret.Secret `yaml:"password"`
	// Match names the HR identifier stored as the Brivo user's externalId:
	// employee_id (default), email, username, or attributes.NAME for an
	// HR attribute.
	Match string `yaml:"match"`
	// MatchCustomField, when set, finds users by this Brivo custom field
	// id holding the Match value (exact match) instead of by externalId;
	// more than one user with the value is an error, never a guess.
	MatchCustomField int `yaml:"match_custom_field"`
	// KeepCredentials leaves the credentials assigned to the suspended
	// user (for a site that reissues the same cards); by default every
	// credential is unassigned and its id and card number recorded.
	KeepCredentials bool `yaml:"keep_credentials"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

func (c Config) apiURL() string {
	return strings.TrimRight(or(strings.TrimSpace(c.APIURL), DefaultAPIURL), "/")
}
func (c Config) authURL() string {
	return strings.TrimRight(or(strings.TrimSpace(c.AuthURL), DefaultAuthURL), "/")
}

// Validate reports every problem with the configuration, joined, each
// naming its key. It does no I/O.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, a ...any) {
		errs = append(errs, &connspec.FieldError{Field: key, Err: fmt.Errorf(format, a...)})
	}
	for key, raw := range map[string]string{"api_url": c.apiURL(), "auth_url": c.authURL()} {
		u, err := outbound.CheckURLForm(key, raw, outbound.URLForm{HTTPSOnly: true})
		if err != nil {
			add(key, "%s", strings.TrimPrefix(err.Error(), key+" "))
		} else if strings.Trim(u.Path, "/") != "" {
			add(key, "must be the base URL alone, without a path (e.g. %s://%s)", u.Scheme, u.Host)
		}
	}
	if !c.APIKey.IsSet() {
		add("api_key", "is required (the api-key from developer.brivo.com)")
	}
	if strings.TrimSpace(c.ClientID) == "" {
		add("client_id", "is required (the Brivo API application's client id)")
	}
	if !c.ClientSecret.IsSet() {
		add("client_secret", "is required")
	}
	if strings.TrimSpace(c.Username) == "" {
		add("username", "is required (the Brivo administrator the connector acts as)")
	}
	if !c.Password.IsSet() {
		add("password", "is required")
	}
	if err := checkMatch(c.Match); err != nil {
		add("match", "%v", err)
	}
	if c.MatchCustomField < 0 {
		add("match_custom_field", "must be a Brivo custom field id (got %d)", c.MatchCustomField)
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

// matchValue is the subject's identifier Config.Match names.
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

// Operations returns what a brivo instance supports: deactivate_badge.
func Operations() []connectors.Operation {
	return []connectors.Operation{connectors.OpDeactivateBadge}
}

// Descriptor describes the brivo type for internal/compose's table.
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
				c := b.(*Config)
				out := map[string]connspec.URL{}
				for key, raw := range map[string]string{"api_url": c.apiURL(), "auth_url": c.authURL()} {
					if connspec.HTTPURL(raw) {
						out[key] = connspec.URL{Check: raw}
					}
				}
				return out
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

// Connector is one configured Brivo account. It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is
// safe for concurrent use.
type Connector struct {
	name    string
	cfg     Config
	api     *url.URL
	authURL string
	client  interface {
		httpDoer
		CloseIdleConnections()
	}
	now func() time.Time
	log *logrus.Entry

	apiKey, clientID, clientSecret, username, password string

	tokMu  sync.Mutex
	token  string
	expiry time.Time
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

// New returns the Brivo connector named name ("brivo" when empty). cfg
// must validate and its secrets be resolved. Every HTTP request goes
// through policy's client (a nil policy refuses internal addresses).
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("brivo connector %q: %w", name, err)
	}
	api, err := url.Parse(cfg.apiURL())
	if err != nil {
		return nil, fmt.Errorf("brivo connector %q: api_url: not a valid URL", name)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	c := &Connector{
		name: name, cfg: cfg, api: api, authURL: cfg.authURL(),
		client: policy.HTTPClient(timeout), now: time.Now, log: logrus.NewEntry(discard),
		apiKey: cfg.APIKey.Value(), clientID: strings.TrimSpace(cfg.ClientID), clientSecret: cfg.ClientSecret.Value(),
		username: strings.TrimSpace(cfg.Username), password: cfg.Password.Value(),
	}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.WithFields(logrus.Fields{"connector": name, "type": TypeName})
	for key, v := range map[string]string{"api_key": c.apiKey, "client_secret": c.clientSecret, "password": c.password} {
		if v == "" {
			return nil, fmt.Errorf("brivo connector %q: %s is set but not resolved (no value)", name, key)
		}
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

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
