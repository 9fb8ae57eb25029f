// Package scim is the connector for SCIM 2.0 service providers (RFC 7643
// schema, RFC 7644 protocol): internal applications and the long tail of
// SaaS that accept SCIM provisioning. It finds a departing person's User
// by a userName or emails filter, deactivates it (PATCH active=false, or
// DELETE where the instance is configured to), removes the User from
// every Group with a PATCH on each Group, and reads every change back.
//
// It is not the SCIM HR directory source (directory/scim), which reads
// people from an HR system; this package changes accounts in an
// application.
//
// Protocol notes, each from RFC 7644 (https://www.rfc-editor.org/rfc/rfc7644):
//
//   - The service provider's features are read once from
//     GET /ServiceProviderConfig (section 4; schema in RFC 7643 section 5)
//     and cached: whether it supports PATCH (without it deactivation is a
//     PUT of the whole User), filtering, and ETags.
//   - Filters (section 3.4.2.2): a string compValue is a JSON string, so
//     the value is written with JSON escaping ("a\"b"); attribute names
//     and "eq" are case-insensitive, and userName is caseExact=false
//     (RFC 7643 section 4.1.1), so matches are compared case-insensitively
//     here too. A provider that ignores the filter would return other
//     people: every returned User is checked against the value asked for.
//   - Paging (section 3.4.2.4): startIndex is 1-based and a provider may
//     return fewer results than count, so the next page starts after the
//     resources received.
//   - Versioning (section 3.14): where the provider announces etag
//     support, every PATCH or PUT carries If-Match with the version last
//     read; a 412 Precondition Failed means the resource changed, so it is
//     read again and the change retried once.
//   - DELETE (section 3.6): a User already deleted answers 404, which is
//     the state asked for. A GET of a deleted User answers 404 too.
package scim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses for SCIM
// instances.
const TypeName = "scim"

// Match values (Config.Match): which attribute finds the person's User.
const (
	// MatchUserName filters userName eq the subject's username.
	MatchUserName = "username"
	// MatchEmailAsUserName filters userName eq the subject's email: many
	// SaaS providers use the email address as the userName.
	MatchEmailAsUserName = "email_as_username"
	// MatchEmail filters emails.value eq the subject's email.
	MatchEmail = "email"
)

// Deactivate modes (Config.DeactivateMode).
const (
	// ModeActive sets active=false (PATCH, or PUT where the provider does
	// not support PATCH). The User and its data are kept; the provider
	// refuses sign-in.
	ModeActive = "active"
	// ModeDelete deletes the User (DELETE /Users/{id}). Not reversible.
	ModeDelete = "delete"
)

// Defaults applied to a zero Config field.
const (
	DefaultPageSize = 100
	DefaultTimeout  = 30 * time.Second
	// DefaultMaxPages bounds one listing, against a provider whose paging
	// never ends or that ignores the filter.
	DefaultMaxPages = 50
)

// Config is the scim block of a connector instance. Set exactly one of
// Token and OAuth.
type Config struct {
	// BaseURL is the SCIM service root, e.g.
	// https://app.example.com/scim/v2; /Users, /Groups and
	// /ServiceProviderConfig are appended. Required; https (plain http
	// only for localhost, for tests), no user info, query or fragment.
	BaseURL string `yaml:"base_url"`
	// Token is a bearer token, sent as "Authorization: Bearer <token>".
	Token secret.Secret `yaml:"token"`
	// OAuth gets bearer tokens with the OAuth 2.0 client credentials
	// grant (RFC 6749 section 4.4) instead of a static token.
	OAuth *OAuth `yaml:"oauth"`
	// Match is how the person's User is found: "username" (default:
	// userName eq the HR username), "email_as_username" (userName eq the
	// HR email) or "email" (emails.value eq the HR email).
	Match string `yaml:"match"`
	// DeactivateMode is what deactivate_user does: "active" (default;
	// active=false) or "delete" (DELETE the User).
	DeactivateMode string `yaml:"deactivate_mode"`
	// KeepGroups are groups remove_group_memberships never removes, by
	// group id or displayName (case-insensitive). A request can add more
	// with the "keep" parameter (comma separated).
	KeepGroups []string `yaml:"keep_groups"`
	// PageSize is the count asked for per page; default 100, at most
	// 1000.
	PageSize int `yaml:"page_size"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

// OAuth configures the OAuth 2.0 client credentials grant.
type OAuth struct {
	// TokenURL is the authorization server's token endpoint. Required;
	// https (plain http only for localhost).
	TokenURL string `yaml:"token_url"`
	// ClientID is the client's id. Required.
	ClientID string `yaml:"client_id"`
	// ClientSecret is the client's secret. Required.
	ClientSecret secret.Secret `yaml:"client_secret"`
	// Scopes requested, if the authorization server wants any.
	Scopes []string `yaml:"scopes"`
	// AuthStyle is how the client authenticates to the token endpoint:
	// "header" (default; HTTP Basic, RFC 6749 section 2.3.1) or "params"
	// (client_id and client_secret in the form body).
	AuthStyle string `yaml:"auth_style"`
}

// Validate reports every problem with the configuration, joined; each
// message starts with the key it is about. It does no I/O.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if _, err := checkURL("base_url", c.BaseURL); err != nil {
		add("%v", err)
	}
	switch {
	case c.Token.IsSet() && c.OAuth != nil:
		add("token: set only one of token and oauth")
	case !c.Token.IsSet() && c.OAuth == nil:
		add("token: one of token ({env: NAME} or {file: PATH}) or oauth is required")
	}
	if o := c.OAuth; o != nil {
		if _, err := checkURL("oauth.token_url", o.TokenURL); err != nil {
			add("%v", err)
		}
		if strings.TrimSpace(o.ClientID) == "" {
			add("oauth.client_id is required")
		}
		if !o.ClientSecret.IsSet() {
			add("oauth.client_secret is required ({env: NAME} or {file: PATH})")
		}
		for i, s := range o.Scopes {
			if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\n") {
				add("oauth.scopes[%d]: %q is not a scope name", i, s)
			}
		}
		switch o.AuthStyle {
		case "", "header", "params":
		default:
			add("oauth.auth_style %q is not one of header, params", o.AuthStyle)
		}
	}
	switch c.Match {
	case "", MatchUserName, MatchEmailAsUserName, MatchEmail:
	default:
		add("match %q is not one of %s, %s, %s", c.Match, MatchUserName, MatchEmailAsUserName, MatchEmail)
	}
	switch c.DeactivateMode {
	case "", ModeActive, ModeDelete:
	default:
		add("deactivate_mode %q is not one of %s, %s", c.DeactivateMode, ModeActive, ModeDelete)
	}
	for i, g := range c.KeepGroups {
		if strings.TrimSpace(g) == "" {
			add("keep_groups[%d] is empty", i)
		}
	}
	if c.PageSize < 0 || c.PageSize > 1000 {
		add("page_size must be between 1 and 1000 (0 means %d; got %d)", DefaultPageSize, c.PageSize)
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

// checkURL checks a URL that receives credentials: https except on
// loopback, no user info, query or fragment.
func checkURL(key, raw string) (*url.URL, error) {
	return outbound.CheckURLForm(key, raw, outbound.URLForm{HTTPSOnly: true, CredentialsHint: "put credentials in token or oauth"})
}

// URLs returns the URLs the connector calls, by key below the block, for
// the outbound URL policy. A URL whose form is wrong is left out
// (Validate reports it).
func (c Config) URLs() map[string]string {
	out := map[string]string{}
	if _, err := checkURL("base_url", c.BaseURL); err == nil {
		out["base_url"] = strings.TrimSpace(c.BaseURL)
	}
	if c.OAuth != nil {
		if _, err := checkURL("oauth.token_url", c.OAuth.TokenURL); err == nil {
			out["oauth.token_url"] = strings.TrimSpace(c.OAuth.TokenURL)
		}
	}
	return out
}

// Operations returns the operations every instance supports:
// deactivate_user and remove_group_memberships.
func Operations() []connectors.Operation {
	return []connectors.Operation{connectors.OpDeactivateUser, connectors.OpRemoveGroupMemberships}
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

// WithClock sets the clock used for Retry-After dates (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *Connector) {
		if now != nil {
			c.now = now
		}
	}
}

// Connector is one configured SCIM service provider. It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is
// safe for concurrent use.
type Connector struct {
	name     string
	cfg      Config
	base     string // BaseURL without a trailing slash
	baseURL  *url.URL
	client   *http.Client
	log      *logrus.Entry
	now      func() time.Time
	pageSize int
	match    string
	mode     string
	keep     []string // lower-cased group ids and names never removed

	token string       // static bearer token
	oauth *tokenSource // OAuth client credentials

	spcMu chan struct{} // held while /ServiceProviderConfig is read
	spc   *features     // nil until read
}

// Compile-time checks of the contracts.
var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

// New returns the SCIM connector named name ("scim" when empty). cfg must
// validate and its secrets be resolved. Every HTTP request, the token
// endpoint's included, goes through policy's client (a nil policy refuses
// internal addresses). Nothing is fetched until the first call.
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scim connector %q: %w", name, err)
	}
	u, err := checkURL("base_url", cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("scim connector %q: %w", name, err)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	c := &Connector{
		name:     name,
		cfg:      cfg,
		base:     strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/"),
		baseURL:  u,
		client:   policy.HTTPClient(timeout),
		log:      logrus.NewEntry(discard),
		now:      time.Now,
		pageSize: cfg.PageSize,
		match:    cfg.Match,
		mode:     cfg.DeactivateMode,
		spcMu:    make(chan struct{}, 1),
	}
	if c.pageSize == 0 {
		c.pageSize = DefaultPageSize
	}
	if c.match == "" {
		c.match = MatchUserName
	}
	if c.mode == "" {
		c.mode = ModeActive
	}
	for _, g := range cfg.KeepGroups {
		c.keep = append(c.keep, strings.ToLower(strings.TrimSpace(g)))
	}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.WithFields(logrus.Fields{"connector": name, "type": TypeName})
	if cfg.OAuth != nil {
		if cfg.OAuth.ClientSecret.Value() == "" {
			return nil, fmt.Errorf("scim connector %q: oauth.client_secret is set but not resolved (no value)", name)
		}
		c.oauth = newTokenSource(c, cfg.OAuth)
	} else {
		c.token = cfg.Token.Value()
		if c.token == "" {
			return nil, fmt.Errorf("scim connector %q: token is set but not resolved (no value)", name)
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
