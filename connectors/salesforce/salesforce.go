// Package salesforce is the connector for a Salesforce org over the REST
// API: it finds a departing person's User with SOQL, freezes their login
// at once (UserLogin.IsFrozen), deactivates the User (User.IsActive =
// false), ends their sessions and revokes their connected-app OAuth tokens,
// and transfers the records they own to their manager.
//
// It authenticates as a connected app with the OAuth 2.0 JWT bearer flow:
// an assertion signed (RS256, github.com/go-jose/go-jose/v4) with the
// private key whose certificate is uploaded to the app, exchanged at
// {login_url}/services/oauth2/token for an access token of the
// integration user, cached until token_ttl passes or the API answers 401.
// Every outbound connection goes through the outbound.URLPolicy client,
// and API calls go to the configured instance_url only (the token
// endpoint's instance_url must name the same host).
//
// Every operation reads before it writes, so each is idempotent, and each
// is verified by reading back; see ops.go for the vendor behaviour that
// shapes each one.
package salesforce

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses for Salesforce
// instances.
const TypeName = "salesforce"

// Login hosts Salesforce documents for the JWT bearer flow's audience.
// https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm
const (
	LoginProduction = "https://login.salesforce.com"
	LoginSandbox    = "https://test.salesforce.com"
)

// Identifiers the connector can match a subject on (Config.MatchOn).
const (
	// MatchFederationID compares User.FederationIdentifier (the SAML
	// NameID single sign-on uses) with the subject's "federation_id"
	// attribute.
	MatchFederationID = "federation_id"
	// MatchEmail compares User.Email with the subject's email.
	MatchEmail = "email"
	// MatchEmployeeNumber compares User.EmployeeNumber with the subject's
	// employee id.
	MatchEmployeeNumber = "employee_number"
)

// Defaults applied to a zero Config field.
const (
	DefaultAPIVersion         = "62.0"
	DefaultTokenTTL           = 30 * time.Minute
	DefaultTimeout            = 30 * time.Second
	DefaultMaxTransferRecords = 2000
)

// DefaultTransferObjects are the object types transfer_ownership moves when
// transfer_objects is not set.
var DefaultTransferObjects = []string{"Account", "Opportunity"}

// DefaultMatchOn is the identifiers used when match_on is not set.
var DefaultMatchOn = []string{MatchFederationID, MatchEmail, MatchEmployeeNumber}

// Config is the salesforce block of a connector instance.
type Config struct {
	// InstanceURL is the org's My Domain URL, e.g.
	// https://example.my.salesforce.com: the base of every REST call.
	// Required; https (http only on loopback, for tests), no path.
	InstanceURL string `yaml:"instance_url"`
	// LoginURL is where the JWT assertion is exchanged
	// ({login_url}/services/oauth2/token): https://login.salesforce.com
	// (default), https://test.salesforce.com for a sandbox, or the My
	// Domain URL.
	LoginURL string `yaml:"login_url"`
	// Audience is the assertion's aud claim. Default: LoginSandbox when
	// login_url is test.salesforce.com or a *.sandbox.my.salesforce.com
	// My Domain, else LoginProduction.
	Audience string `yaml:"audience"`
	// ClientID is the connected app's consumer key (the assertion's iss).
	// Required.
	ClientID string `yaml:"client_id"`
	// Username is the integration user the connector acts as (the
	// assertion's sub); the connected app must be pre-authorized for its
	// profile or a permission set it holds. Required.
	Username string `yaml:"username"`
	// PrivateKeyFile is a PEM file holding the RSA private key (at least
	// 2048 bits; PKCS#8 or PKCS#1, unencrypted) whose certificate is
	// uploaded to the connected app. Exactly one of PrivateKeyFile and
	// PrivateKey is required.
	PrivateKeyFile string `yaml:"private_key_file"`
	// PrivateKey is the same key as PEM text from a secret (an environment
	// variable, e.g. from a Kubernetes Secret), for deployments that keep
	// no key file.
	PrivateKey secret.Secret `yaml:"private_key"`
	// APIVersion is the REST API version, e.g. "62.0". Default 62.0.
	APIVersion string `yaml:"api_version"`
	// MatchOn lists the identifiers a subject is matched on, any of
	// federation_id, email, employee_number. Default all three; a User
	// matching on any of them is the subject's, and two Users matching is
	// an error.
	MatchOn []string `yaml:"match_on"`
	// TransferObjects are the object types (API names, e.g. Account,
	// Opportunity, Case, Lead, Invoice__c) whose records transfer_ownership
	// reassigns to the manager. Default Account and Opportunity.
	TransferObjects []string `yaml:"transfer_objects"`
	// MaxTransferRecords bounds how many records of each object type one
	// transfer_ownership moves; more is reported as an error for a person
	// to finish with Salesforce's mass transfer tools. Default 2000.
	MaxTransferRecords int `yaml:"max_transfer_records"`
	// TokenTTL is how long an access token is reused. The JWT bearer
	// response carries no expiry (the session lasts the org's session
	// timeout, at least 15 minutes); a 401 fetches a new one at once.
	// Default 30m.
	TokenTTL dur.Duration `yaml:"token_ttl"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

var (
	apiVersionRE = regexp.MustCompile(`^[1-9][0-9]{1,2}\.0$`)
	// objectNameRE is an sObject API name: it is written into SOQL and
	// JSON as is, so nothing else may pass.
	objectNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,79}$`)
)

// Validate reports every problem with the configuration, joined, each
// naming its key. It does no I/O: the private key file is read by New.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if err := checkBaseURL("instance_url", c.InstanceURL, true); err != nil {
		add("%v", err)
	}
	if strings.TrimSpace(c.LoginURL) != "" {
		if err := checkBaseURL("login_url", c.LoginURL, false); err != nil {
			add("%v", err)
		}
	}
	if a := strings.TrimSpace(c.Audience); a != "" {
		if _, err := outbound.CheckURLForm("audience", a, outbound.URLForm{HTTPSOnly: true}); err != nil {
			add("%v", err)
		}
	}
	if strings.TrimSpace(c.ClientID) == "" {
		add("client_id is required (the connected app's consumer key)")
	}
	if strings.TrimSpace(c.Username) == "" {
		add("username is required (the integration user the connector acts as)")
	}
	switch file, inline := strings.TrimSpace(c.PrivateKeyFile) != "", c.PrivateKey.IsSet(); {
	case !file && !inline:
		add("private_key_file or private_key is required")
	case file && inline:
		add("private_key_file and private_key are both set; set one")
	}
	if v := c.APIVersion; v != "" && !apiVersionRE.MatchString(v) {
		add("api_version %q is not a REST API version such as %s", v, DefaultAPIVersion)
	}
	seen := map[string]bool{}
	for i, m := range c.MatchOn {
		switch m {
		case MatchFederationID, MatchEmail, MatchEmployeeNumber:
		default:
			add("match_on[%d]: %q is not one of %s, %s, %s", i, m, MatchFederationID, MatchEmail, MatchEmployeeNumber)
		}
		if seen[m] {
			add("match_on[%d]: %q is listed twice", i, m)
		}
		seen[m] = true
	}
	seen = map[string]bool{}
	for i, o := range c.TransferObjects {
		if !objectNameRE.MatchString(o) {
			add("transfer_objects[%d]: %q is not an object API name (letters, digits and _, e.g. Account or Invoice__c)", i, o)
		}
		if seen[strings.ToLower(o)] {
			add("transfer_objects[%d]: %q is listed twice", i, o)
		}
		seen[strings.ToLower(o)] = true
	}
	if c.MaxTransferRecords < 0 {
		add("max_transfer_records must not be negative (got %d)", c.MaxTransferRecords)
	}
	if c.TokenTTL < 0 {
		add("token_ttl must not be negative (got %s)", c.TokenTTL)
	} else if c.TokenTTL > 0 && c.TokenTTL.D() < time.Minute {
		add("token_ttl must be at least 1m (got %s)", c.TokenTTL)
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

// checkBaseURL checks a URL that must be https (loopback http for tests)
// with no path, query or user info.
func checkBaseURL(key, raw string, required bool) error {
	if strings.TrimSpace(raw) == "" {
		if required {
			return fmt.Errorf("%s is required (e.g. https://example.my.salesforce.com)", key)
		}
		return nil
	}
	u, err := outbound.CheckURLForm(key, raw, outbound.URLForm{HTTPSOnly: true})
	if err != nil {
		return err
	}
	if strings.Trim(u.Path, "/") != "" {
		return fmt.Errorf("%s must be the host alone, without a path (e.g. %s://%s)", key, u.Scheme, u.Host)
	}
	return nil
}

// BaseURL returns instance_url without a trailing slash.
func (c Config) BaseURL() string { return strings.TrimRight(strings.TrimSpace(c.InstanceURL), "/") }

// TokenURL returns the token endpoint: {login_url}/services/oauth2/token.
func (c Config) TokenURL() string { return c.loginURL() + "/services/oauth2/token" }

func (c Config) loginURL() string {
	if l := strings.TrimRight(strings.TrimSpace(c.LoginURL), "/"); l != "" {
		return l
	}
	return LoginProduction
}

// audience returns the configured or derived aud claim.
func (c Config) audience() string {
	if a := strings.TrimSpace(c.Audience); a != "" {
		return strings.TrimRight(a, "/")
	}
	u, err := url.Parse(c.loginURL())
	if err == nil {
		h := strings.ToLower(u.Hostname())
		if h == "test.salesforce.com" || strings.HasSuffix(h, ".sandbox.my.salesforce.com") {
			return LoginSandbox
		}
	}
	return LoginProduction
}

func (c Config) apiVersion() string {
	if c.APIVersion == "" {
		return DefaultAPIVersion
	}
	return c.APIVersion
}

func (c Config) matchOn() []string {
	if len(c.MatchOn) == 0 {
		return DefaultMatchOn
	}
	return c.MatchOn
}

func (c Config) transferObjects() []string {
	if len(c.TransferObjects) == 0 {
		return DefaultTransferObjects
	}
	return c.TransferObjects
}

// Operations returns the operations every instance supports:
// disable_account (freeze), deactivate_user, revoke_sessions and
// transfer_ownership.
func Operations(Config) []connectors.Operation {
	return []connectors.Operation{
		connectors.OpDisableAccount, connectors.OpDeactivateUser,
		connectors.OpRevokeSessions, connectors.OpTransferOwnership,
	}
}

// Option adjusts a Connector at construction.
type Option func(*Connector)

// WithClock sets the clock used for token lifetimes and JWT timestamps
// (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *Connector) {
		if now != nil {
			c.now = now
		}
	}
}

// WithLogger sets the logger (default: discard). The connector logs token
// fetches and refreshes at debug level.
func WithLogger(log *logrus.Entry) Option {
	return func(c *Connector) {
		if log != nil {
			c.log = log
		}
	}
}

// Connector is one configured Salesforce org. It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is
// safe for concurrent use.
type Connector struct {
	name   string
	cfg    Config
	base   *url.URL
	apiV   string // "/services/data/v62.0"
	ops    []connectors.Operation
	client *http.Client
	now    func() time.Time
	log    *logrus.Entry
	tokens *tokenSource

	secretMu sync.Mutex
	extra    map[string]bool // DeleteTokens seen, redacted from errors
}

// Compile-time checks of the contracts.
var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

// New returns the Salesforce connector named name ("salesforce" when
// empty). cfg must validate; the private key file is read here. Every HTTP
// request goes through policy's client (a nil policy refuses internal
// addresses).
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("salesforce connector %q: %w", name, err)
	}
	base, err := url.Parse(cfg.BaseURL())
	if err != nil {
		return nil, fmt.Errorf("salesforce connector %q: instance_url: not a valid URL", name)
	}
	base.Path, base.RawPath = "", ""
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	c := &Connector{
		name:   name,
		cfg:    cfg,
		base:   base,
		apiV:   "/services/data/v" + cfg.apiVersion(),
		ops:    Operations(cfg),
		client: policy.HTTPClient(timeout),
		now:    time.Now,
		log:    logrus.NewEntry(discard),
		extra:  map[string]bool{},
	}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.WithFields(logrus.Fields{"connector": name, "type": TypeName})
	ts, err := newTokenSource(c, cfg)
	if err != nil {
		return nil, fmt.Errorf("salesforce connector %q: %w", name, err)
	}
	c.tokens = ts
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Type describes the Salesforce connector type for the registry and config
// validation.
func (c *Connector) Type() connectors.Type {
	return connectors.Type{Name: TypeName, Operations: append([]connectors.Operation(nil), c.ops...)}
}

// Close releases idle connections.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}
