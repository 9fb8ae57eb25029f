// Package okta is the connector for Okta's Management API: it finds a
// departing person's Okta user, clears their sessions and OAuth tokens,
// deactivates (or suspends) the user and removes their Okta-managed group
// memberships.
//
// It talks to the API with a small typed REST client (no generated SDK),
// authenticating either with an API token (Authorization: SSWS …) or as an
// OAuth 2.0 service app with a private-key JWT client assertion
// (client_credentials at {org}/oauth2/v1/token, then Authorization: Bearer …).
// Every outbound connection goes through the outbound.URLPolicy client.
//
// Okta's lifecycle operations are not idempotent, so every operation reads
// the user first and only asks for a transition that is still needed; see
// the comments on each operation for the vendor behaviour that shapes it.
package okta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/pause"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses for Okta instances.
const TypeName = "okta"

// Deactivate modes (Config.DeactivateMode).
const (
	// ModeDeactivate deactivates the user (status DEPROVISIONED). Okta
	// deprovisions the user from every assigned app; it cannot be undone by
	// Okta, only followed by a reactivation.
	ModeDeactivate = "deactivate"
	// ModeSuspend suspends the user (status SUSPENDED): no sign-in, app
	// assignments kept, reversible with unsuspend.
	ModeSuspend = "suspend"
)

// OAuth 2.0 scopes the connector needs.
const (
	ScopeUsersManage  = "okta.users.manage"
	ScopeGroupsManage = "okta.groups.manage"
)

// Defaults applied to a zero Config field.
const (
	DefaultMaxConcurrency = 4
	DefaultMaxRateWait    = 2 * time.Second
	DefaultTimeout        = 30 * time.Second
)

// Config is the okta block of a connector instance. Set exactly one of
// APIToken and OAuth.
type Config struct {
	// OrgURL is the Okta org, e.g. https://example.okta.com, or a custom
	// domain. Required. It must be https (plain http is accepted only for
	// localhost and loopback addresses, for tests and local fakes) and have
	// no path, query or user info. Use the org URL, not the -admin one.
	OrgURL string `yaml:"org_url"`
	// APIToken is an Okta API token, sent as "Authorization: SSWS <token>".
	// It acts with the privileges of the admin who created it.
	APIToken secret.Secret `yaml:"api_token"`
	// OAuth authenticates as an OAuth 2.0 service app with a private-key
	// JWT instead of an API token.
	OAuth *OAuth `yaml:"oauth"`
	// DeactivateMode is what deactivate_user does: "deactivate" (default;
	// status DEPROVISIONED) or "suspend" (status SUSPENDED).
	DeactivateMode string `yaml:"deactivate_mode"`
	// KeepGroups are groups remove_group_memberships never removes, by
	// group id or profile.name (case-insensitive). A request can add more
	// with the "keep" parameter (comma separated).
	KeepGroups []string `yaml:"keep_groups"`
	// MaxConcurrency caps this instance's requests in flight, in addition
	// to the job layer's caps. Default 4.
	MaxConcurrency int `yaml:"max_concurrency"`
	// MaxRateWait is the longest the connector waits on its own for Okta's
	// rate-limit window to reset (X-Rate-Limit-Reset) once a response says
	// X-Rate-Limit-Remaining: 0; a longer wait is returned to the caller as
	// a rate_limited error carrying the wait. Default 2s.
	MaxRateWait dur.Duration `yaml:"max_rate_wait"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

// OAuth configures OAuth 2.0 client credentials with a private-key JWT
// (private_key_jwt) for an Okta API service app.
type OAuth struct {
	// ClientID is the service app's client id. Required.
	ClientID string `yaml:"client_id"`
	// PrivateKeyFile is a PEM file holding the app's private key: RSA (at
	// least 2048 bits, signed RS256) or EC P-256 (ES256), in PKCS#8, PKCS#1
	// or SEC 1 form, unencrypted. A relative path is taken relative to the
	// working directory. Required.
	PrivateKeyFile string `yaml:"private_key_file"`
	// KeyID is the kid of the public key registered with the app; Okta
	// needs it when the app has more than one key.
	KeyID string `yaml:"key_id"`
	// Scopes requested; default okta.users.manage and okta.groups.manage.
	// okta.users.manage is required; without okta.groups.manage the
	// instance does not offer remove_group_memberships.
	Scopes []string `yaml:"scopes"`
}

// scopes returns the configured scopes or the default.
func (o *OAuth) scopes() []string {
	if len(o.Scopes) == 0 {
		return []string{ScopeUsersManage, ScopeGroupsManage}
	}
	return o.Scopes
}

// Validate reports every problem with the configuration, joined. It does no
// I/O: the private key file is read by New.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if strings.TrimSpace(c.OrgURL) == "" {
		add("org_url is required (e.g. https://example.okta.com)")
	} else if err := checkOrgURL(c.OrgURL); err != nil {
		add("org_url: %v", err)
	}
	switch {
	case c.APIToken.IsSet() && c.OAuth != nil:
		add("set only one of api_token and oauth")
	case !c.APIToken.IsSet() && c.OAuth == nil:
		add("one of api_token or oauth is required")
	}
	if o := c.OAuth; o != nil {
		if strings.TrimSpace(o.ClientID) == "" {
			add("oauth.client_id is required")
		}
		if strings.TrimSpace(o.PrivateKeyFile) == "" {
			add("oauth.private_key_file is required")
		}
		for i, s := range o.Scopes {
			if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\n") {
				add("oauth.scopes[%d]: %q is not a scope name", i, s)
			}
		}
		if len(o.Scopes) > 0 && !slices.Contains(o.Scopes, ScopeUsersManage) {
			add("oauth.scopes must include %s (every operation needs it)", ScopeUsersManage)
		}
	}
	switch c.DeactivateMode {
	case "", ModeDeactivate, ModeSuspend:
	default:
		add("deactivate_mode %q is not one of %s, %s", c.DeactivateMode, ModeDeactivate, ModeSuspend)
	}
	for i, g := range c.KeepGroups {
		if strings.TrimSpace(g) == "" {
			add("keep_groups[%d] is empty", i)
		}
	}
	if c.MaxConcurrency < 0 {
		add("max_concurrency must not be negative (got %d)", c.MaxConcurrency)
	}
	if c.MaxRateWait < 0 {
		add("max_rate_wait must not be negative (got %s)", c.MaxRateWait)
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

// BaseURL returns the org URL without a trailing slash: the base of every
// API path and of the token endpoint ({BaseURL}/oauth2/v1/token). The
// outbound URL policy checks it at load time.
func (c Config) BaseURL() string {
	return strings.TrimRight(strings.TrimSpace(c.OrgURL), "/")
}

// checkOrgURL checks the shape of an org URL (outbound.CheckURLForm, https
// except on loopback) and that it is the org URL alone; messages never
// repeat user info.
func checkOrgURL(raw string) error {
	u, err := outbound.CheckURLForm("org_url", raw, outbound.URLForm{HTTPSOnly: true})
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "org_url "))
	}
	if strings.Trim(u.Path, "/") != "" {
		return fmt.Errorf("must be the org URL alone, without path or query (e.g. %s://%s)", u.Scheme, u.Host)
	}
	if first, _, _ := strings.Cut(u.Hostname(), "."); strings.HasSuffix(first, "-admin") {
		return fmt.Errorf("%s is the Admin Console host; use the org URL without -admin", u.Hostname())
	}
	return nil
}

// Operations returns the operations an instance with this configuration
// supports: deactivate_user, revoke_sessions and remove_group_memberships,
// the last only when the credentials can manage groups (an API token, or
// OAuth scopes that include okta.groups.manage).
func Operations(cfg Config) []connectors.Operation {
	ops := []connectors.Operation{connectors.OpDeactivateUser, connectors.OpRevokeSessions}
	if cfg.OAuth == nil || slices.Contains(cfg.OAuth.scopes(), ScopeGroupsManage) {
		ops = append(ops, connectors.OpRemoveGroupMemberships)
	}
	return ops
}

// Option adjusts a Connector at construction.
type Option func(*Connector)

// WithClock sets the clock used for rate-limit windows, token expiry and
// JWT timestamps (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *Connector) {
		if now != nil {
			c.now = now
		}
	}
}

// WithSleep sets how the connector waits for a rate-limit window to reset
// (default: a timer, cut short by ctx). It must return ctx.Err() when ctx
// ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Connector) {
		if sleep != nil {
			c.sleep = sleep
		}
	}
}

// WithLogger sets the logger (default: discard). The connector logs rate
// limit waits and token refreshes at debug level.
func WithLogger(log *logrus.Entry) Option {
	return func(c *Connector) {
		if log != nil {
			c.log = log
		}
	}
}

// Connector is one configured Okta org. It implements connectors.Connector,
// connectors.Verifier and connectors.Closer and is safe for concurrent use.
type Connector struct {
	name        string
	cfg         Config
	base        *url.URL
	ops         []connectors.Operation
	client      *http.Client
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
	log         *logrus.Entry
	sem         chan struct{}
	maxRateWait time.Duration
	mode        string
	keep        []string // lower-cased group ids and names never removed

	apiToken string       // SSWS mode
	oauth    *tokenSource // OAuth mode

	rateMu       sync.Mutex
	blockedUntil time.Time // local time the rate-limit window resets, after Remaining hit 0

	clearMu sync.Mutex
	cleared map[string]time.Time // user id → when this process cleared its sessions (Okta's clock)
}

// Compile-time checks of the contracts.
var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

// New returns the Okta connector named name (the instance name; "okta"
// when empty). cfg must validate; its api_token must be resolved, and the
// oauth private key file is read here. Every HTTP request goes through
// policy's client (a nil policy refuses internal addresses).
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("okta connector %q: %w", name, err)
	}
	base, err := url.Parse(cfg.BaseURL())
	if err != nil {
		return nil, fmt.Errorf("okta connector %q: org_url: not a valid URL", name)
	}
	base.Path, base.RawPath = "", ""

	maxConc := cfg.MaxConcurrency
	if maxConc == 0 {
		maxConc = DefaultMaxConcurrency
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	maxWait := cfg.MaxRateWait.D()
	if maxWait == 0 {
		maxWait = DefaultMaxRateWait
	}
	mode := cfg.DeactivateMode
	if mode == "" {
		mode = ModeDeactivate
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)

	c := &Connector{
		name:        name,
		cfg:         cfg,
		base:        base,
		ops:         Operations(cfg),
		client:      policy.HTTPClient(timeout),
		now:         time.Now,
		sleep:       pause.Sleep,
		log:         logrus.NewEntry(discard),
		sem:         make(chan struct{}, maxConc),
		maxRateWait: maxWait,
		mode:        mode,
		cleared:     map[string]time.Time{},
	}
	for _, g := range cfg.KeepGroups {
		c.keep = append(c.keep, strings.ToLower(strings.TrimSpace(g)))
	}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.WithFields(logrus.Fields{"connector": name, "type": TypeName})

	if cfg.OAuth != nil {
		ts, err := newTokenSource(c, cfg.OAuth)
		if err != nil {
			return nil, fmt.Errorf("okta connector %q: %w", name, err)
		}
		c.oauth = ts
	} else {
		c.apiToken = cfg.APIToken.Value()
		if c.apiToken == "" {
			return nil, fmt.Errorf("okta connector %q: api_token is set but not resolved (no value)", name)
		}
	}
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Type describes the Okta connector type for the registry and config
// validation.
func (c *Connector) Type() connectors.Type {
	return connectors.Type{Name: TypeName, Operations: append([]connectors.Operation(nil), c.ops...)}
}

// Close releases idle connections.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}
