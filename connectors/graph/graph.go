// Package graph is the Microsoft 365 / Entra ID connector. It talks to
// Microsoft Graph over plain REST (a small typed client, not the SDK) with an
// OAuth 2.0 client-credentials token from the Microsoft identity platform,
// authenticated by a client secret or by a certificate (a signed client
// assertion).
//
// It owns: finding the Entra ID user for a subject, blocking sign-in,
// revoking sign-in sessions, removing group memberships (in JSON batches),
// removing directly assigned licenses, the mailbox steps Graph can do
// (automatic replies, a forwarding inbox rule for an approved exception, an
// eDiscovery hold, and deletion gated on every eDiscovery hold), SharePoint
// site access (sharepoint.go) and OneDrive handover (onedrive.go).
//
// Both base URLs are configurable (national clouds, tests): the authority
// (https://login.microsoftonline.com) and Graph
// (https://graph.microsoft.com/v1.0). Every request goes through the outbound
// URL policy's HTTP client.
//
// # Source of authority
//
// A user with onPremisesSyncEnabled=true is mastered in on-premises Active
// Directory: Entra Connect copies AD's state over the cloud object on every
// sync, so blocking sign-in here lasts only until the next sync (typically 30
// minutes). disable_account still blocks sign-in in the cloud — it takes
// effect at once — but never pretends that is the end of it: its Result.Detail
// says "synced from on-premises AD: disable in AD first (the cloud-side change
// is undone by the next sync)" and Result.Data["on_premises_synced"] is
// "true". Lookup reports the same in Account.Detail so planning can show it.
// See https://learn.microsoft.com/en-us/graph/api/resources/user
// (onPremisesSyncEnabled).
//
// # Errors
//
// Graph's answers are classified once, in this package: 429 and 503 (with
// Retry-After) are retryable, 401 is auth (after one token refresh and retry,
// so a token expiring mid-run is harmless), 403 forbidden, other 4xx invalid.
// Graph's error code and message are kept (clipped); the client secret, the
// client assertion and access tokens never appear in an error or a Detail.
package graph

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses for Graph
// instances.
const TypeName = "graph"

// Default base URLs (the global Azure cloud).
const (
	DefaultAuthorityURL = "https://login.microsoftonline.com"
	DefaultGraphURL     = "https://graph.microsoft.com/v1.0"
	// DefaultTimeout bounds one HTTP request when Config.Timeout is zero.
	DefaultTimeout = 30 * time.Second
)

// Operations returns the operations a Graph connector supports. The returned
// slice is a copy.
//
// connectors.OpConvertMailbox is deliberately not among them: Graph cannot
// change a mailbox's type (user to shared); that needs Exchange Online
// (Set-Mailbox -Type Shared), a manual step in the policy. Claiming it here
// would report a conversion that never happened. connectors.OpPreserveMailbox
// needs an eDiscovery case (see Config.Operations).
func Operations() []connectors.Operation {
	return []connectors.Operation{
		connectors.OpDisableAccount,
		connectors.OpRevokeSessions,
		connectors.OpRemoveGroupMemberships,
		connectors.OpRemoveLicenses,
		connectors.OpSetAutoReply,
		connectors.OpSetForwarding,
		connectors.OpRemoveForwarding,
		connectors.OpRemoveSiteAccess,
		connectors.OpGrantDriveAccess,
		connectors.OpRemoveDriveAccess,
		connectors.OpDeleteMailbox,
	}
}

// Operations returns the operations an instance with this configuration
// supports: Operations() plus preserve_mailbox when ediscovery_case_id is
// set (the hold is placed in that case).
func (c Config) Operations() []connectors.Operation {
	ops := Operations()
	if strings.TrimSpace(c.EDiscoveryCaseID) != "" {
		ops = append(ops, connectors.OpPreserveMailbox)
	}
	return ops
}

// Microsoft Graph application permissions the operations need, named in the
// error of a 403 so that whoever reads it knows what to grant. Each is the
// least privileged permission on the operation's API reference page.
const (
	// PermDisableAccount: PATCH accountEnabled
	// (https://learn.microsoft.com/en-us/graph/api/user-update).
	PermDisableAccount = "User.EnableDisableAccount.All"
	// PermRevokeSessions: POST revokeSignInSessions. The page lists no
	// higher privileged application permission ("Not available"), so
	// User.ReadWrite.All does not cover it
	// (https://learn.microsoft.com/en-us/graph/api/user-revokesigninsessions).
	PermRevokeSessions = "User.RevokeSessions.All"
	// PermGroupMember: DELETE /groups/{id}/members/{id}/$ref
	// (https://learn.microsoft.com/en-us/graph/api/group-delete-members).
	PermGroupMember = "GroupMember.ReadWrite.All"
	// PermRoleManagement is needed in addition to PermGroupMember to change
	// the members of a role-assignable group (isAssignableToRole).
	PermRoleManagement = "RoleManagement.ReadWrite.Directory"
	// PermSitesRead: resolve a site, its library and its permissions
	// (https://learn.microsoft.com/en-us/graph/api/site-getbypath).
	PermSitesRead = "Sites.Read.All"
	// PermFilesRead and PermFilesWrite: list, share and delete drive item
	// permissions
	// (https://learn.microsoft.com/en-us/graph/api/driveitem-list-permissions,
	// https://learn.microsoft.com/en-us/graph/api/driveitem-invite,
	// https://learn.microsoft.com/en-us/graph/api/permission-delete).
	PermFilesRead  = "Files.Read.All"
	PermFilesWrite = "Files.ReadWrite.All"
	// PermEDiscoveryRead and PermEDiscoveryWrite: read eDiscovery cases,
	// custodians and legal holds; add custodians and apply holds
	// (https://learn.microsoft.com/en-us/graph/api/security-ediscoverycase-post-custodians).
	PermEDiscoveryRead  = "eDiscovery.Read.All"
	PermEDiscoveryWrite = "eDiscovery.ReadWrite.All"
	// PermDeleteUser: DELETE /users/{id}
	// (https://learn.microsoft.com/en-us/graph/api/user-delete).
	PermDeleteUser = "User.DeleteRestore.All"
	// PermSharePointSites is SharePoint's own application permission (the
	// "SharePoint" API in the app registration, not Microsoft Graph), for
	// changing site groups through SharePoint's REST API.
	PermSharePointSites = "Sites.FullControl.All (SharePoint)"
)

// Config is the Graph connector's YAML block.
//
// Authentication is a client secret or a certificate, not both. The app
// registration needs these application permissions (admin consented), per
// the API reference pages cited in ops.go: User.Read.All (find users),
// User.EnableDisableAccount.All (block sign-in), User.RevokeSessions.All
// (revoke sessions; User.ReadWrite.All does not cover it),
// Directory.Read.All (list a user's group memberships),
// GroupMember.ReadWrite.All (remove them) plus
// RoleManagement.ReadWrite.Directory for role-assignable groups,
// LicenseAssignment.ReadWrite.All (remove_licenses) and
// MailboxSettings.ReadWrite (set_auto_reply and the forwarding rule).
// Relative certificate_file and private_key_file paths are taken relative to
// the working directory.
type Config struct {
	// TenantID is the directory (tenant) ID or a verified domain (required).
	TenantID string `yaml:"tenant_id"`
	// ClientID is the app registration's application (client) ID (required).
	ClientID string `yaml:"client_id"`
	// ClientSecret is the app's client secret ({env: …} or {file: …}).
	ClientSecret secret.Secret `yaml:"client_secret"`
	// CertificateFile and PrivateKeyFile are PEM files (they may be the same
	// file) holding the app's certificate and its RSA private key; the
	// alternative to ClientSecret. Each token request is then authenticated
	// with a short-lived client assertion signed with the key.
	CertificateFile string `yaml:"certificate_file"`
	PrivateKeyFile  string `yaml:"private_key_file"`
	// AuthorityURL is the identity platform's base URL (default
	// https://login.microsoftonline.com; e.g. https://login.microsoftonline.us
	// for US Government, https://login.partner.microsoftonline.cn for China).
	AuthorityURL string `yaml:"authority_url"`
	// GraphURL is Graph's base URL including the version (default
	// https://graph.microsoft.com/v1.0). The token scope is derived from its
	// scheme and host.
	GraphURL string `yaml:"graph_url"`
	// KeepGroups are groups (by object ID or display name, case-insensitive)
	// remove_group_memberships leaves alone, for example an alumni or legal
	// hold group. A request can add more with Params["keep"] (comma
	// separated).
	KeepGroups []string `yaml:"keep_groups"`
	// Batch sends group removals as JSON batches of up to 20 requests
	// (POST /$batch). Default true; a pointer so that an absent key means
	// the default.
	Batch *bool `yaml:"batch"`
	// Timeout bounds one HTTP request, token requests included (default 30s).
	Timeout dur.Duration `yaml:"timeout"`
	// EDiscoveryCaseID is the Microsoft Purview eDiscovery case that
	// preserve_mailbox places holds in (the person becomes a custodian of
	// it). Without it preserve_mailbox is not offered. delete_mailbox reads
	// every case's holds whether or not it is set.
	EDiscoveryCaseID string `yaml:"ediscovery_case_id"`
	// SharePointURL is the tenant's SharePoint root
	// (https://contoso.sharepoint.com). When set, remove_site_access also
	// removes the person from the SharePoint groups (Owners, Members,
	// Visitors) of sites that are not group-connected, through SharePoint's
	// REST API, which Graph does not cover. SharePoint refuses app-only
	// tokens obtained with a client secret, so it needs certificate_file.
	SharePointURL string `yaml:"sharepoint_url"`
}

func (c Config) sharePointURL() string {
	return strings.TrimRight(strings.TrimSpace(c.SharePointURL), "/")
}

// BatchEnabled reports whether group removals are batched (default true).
func (c Config) BatchEnabled() bool { return c.Batch == nil || *c.Batch }

func (c Config) authorityURL() string {
	if s := strings.TrimSpace(c.AuthorityURL); s != "" {
		return strings.TrimRight(s, "/")
	}
	return DefaultAuthorityURL
}

func (c Config) graphURL() string {
	if s := strings.TrimSpace(c.GraphURL); s != "" {
		return strings.TrimRight(s, "/")
	}
	return DefaultGraphURL
}

// BaseURLs returns the URLs the connector calls (authority and Graph, with
// defaults applied), for the outbound URL policy.
func (c Config) BaseURLs() []string {
	urls := []string{c.authorityURL(), c.graphURL()}
	if sp := c.sharePointURL(); sp != "" {
		urls = append(urls, sp)
	}
	return urls
}

// Validate reports every problem with the configuration, joined. Each message
// starts with the key it is about.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.TenantID) == "" {
		errs = append(errs, errors.New("tenant_id is required (the directory ID or a verified domain)"))
	} else if strings.ContainsAny(c.TenantID, "/?#@ ") {
		errs = append(errs, fmt.Errorf("tenant_id %q is not a tenant ID or domain", c.TenantID))
	}
	if strings.TrimSpace(c.ClientID) == "" {
		errs = append(errs, errors.New("client_id is required (the app registration's application ID)"))
	}
	hasCert := c.CertificateFile != "" || c.PrivateKeyFile != ""
	switch {
	case c.ClientSecret.IsSet() && hasCert:
		errs = append(errs, errors.New("client_secret and certificate_file are alternatives: set one of them"))
	case !c.ClientSecret.IsSet() && !hasCert:
		errs = append(errs, errors.New("client_secret or certificate_file (with private_key_file) is required"))
	case hasCert && c.CertificateFile == "":
		errs = append(errs, errors.New("certificate_file is required with private_key_file"))
	case hasCert && c.PrivateKeyFile == "":
		errs = append(errs, errors.New("private_key_file is required with certificate_file (it may name the same PEM file)"))
	}
	if err := checkBaseURL(c.AuthorityURL); err != nil {
		errs = append(errs, fmt.Errorf("authority_url %w", err))
	}
	if err := checkBaseURL(c.GraphURL); err != nil {
		errs = append(errs, fmt.Errorf("graph_url %w", err))
	}
	if err := checkBaseURL(c.SharePointURL); err != nil {
		errs = append(errs, fmt.Errorf("sharepoint_url %w", err))
	} else if c.sharePointURL() != "" {
		if u, _ := url.Parse(c.sharePointURL()); u != nil && strings.Trim(u.Path, "/") != "" {
			errs = append(errs, fmt.Errorf("sharepoint_url must be the tenant's SharePoint root, without a path (e.g. https://contoso.sharepoint.com)"))
		}
		if c.ClientSecret.IsSet() {
			errs = append(errs, errors.New("sharepoint_url needs certificate_file and private_key_file: SharePoint's REST API refuses app-only tokens obtained with a client secret"))
		}
	}
	for i, g := range c.KeepGroups {
		if strings.TrimSpace(g) == "" {
			errs = append(errs, fmt.Errorf("keep_groups entry %d is empty", i+1))
		}
	}
	if id := strings.TrimSpace(c.EDiscoveryCaseID); id != "" && strings.ContainsAny(id, "/?#% ") {
		errs = append(errs, fmt.Errorf("ediscovery_case_id %q is not a case ID (the GUID in the case's URL)", c.EDiscoveryCaseID))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout must not be negative (got %s)", c.Timeout))
	}
	return errors.Join(errs...)
}

// checkBaseURL accepts "" (the default) or an absolute https URL without
// user info, query or fragment. Plain http is accepted only for a loopback
// host (tests), since the client secret and tokens would travel in clear.
func checkBaseURL(raw string) error {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New("is not an absolute URL (e.g. https://graph.microsoft.us/v1.0)")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("must not carry user info, a query or a fragment (%s://%s/…)", u.Scheme, u.Host)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !outbound.IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("must use https (http is accepted only for localhost): %s://%s/", u.Scheme, u.Host)
		}
	default:
		return fmt.Errorf("scheme %q is not allowed (use https)", u.Scheme)
	}
	return nil
}

// Option adjusts a Connector at construction.
type Option func(*Connector)

// WithClock sets the clock used for token expiry, client assertions and the
// revoke_sessions window (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *Connector) {
		if now != nil {
			c.now = now
		}
	}
}

// Connector is one configured Microsoft 365 tenant. It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is safe
// for concurrent use.
type Connector struct {
	name      string
	cfg       Config
	graphBase *url.URL // Graph base URL, version path included
	tokenURL  string
	scope     string
	keep      []string // Config.KeepGroups, trimmed
	http      *http.Client
	now       func() time.Time
	tokens    *tokenCache
	spBase    *url.URL    // sharepoint_url, nil when not set
	spTokens  *tokenCache // tokens for SharePoint's REST API

	// cert auth (nil with a client secret)
	cert *x509.Certificate
	key  crypto.Signer

	mu      sync.Mutex
	secrets []string // values that must never appear in errors: client secret, assertions, tokens
}

// Compile-time checks of the contracts.
var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

// New returns a Graph connector named name (the instance name from config;
// "graph" when empty). Every HTTP request, token requests included, goes
// through policy.HTTPClient. It fails when cfg does not validate, when the
// client secret has not been resolved, or when the certificate or key cannot
// be read; messages name files, never their contents.
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("graph connector %q: %w", name, err)
	}
	graphBase, err := url.Parse(cfg.graphURL())
	if err != nil {
		return nil, fmt.Errorf("graph connector %q: graph_url: %w", name, err)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	c := &Connector{
		name:      name,
		cfg:       cfg,
		graphBase: graphBase,
		tokenURL:  cfg.authorityURL() + "/" + url.PathEscape(strings.TrimSpace(cfg.TenantID)) + "/oauth2/v2.0/token",
		scope:     graphBase.Scheme + "://" + graphBase.Host + "/.default",
		http:      policy.HTTPClient(timeout),
		now:       time.Now,
	}
	for _, g := range cfg.KeepGroups {
		c.keep = append(c.keep, strings.TrimSpace(g))
	}
	if cfg.ClientSecret.IsSet() {
		if cfg.ClientSecret.Value() == "" {
			return nil, fmt.Errorf("graph connector %q: client_secret is not resolved (read it from its env or file first)", name)
		}
		c.addSecret(cfg.ClientSecret.Value())
	} else {
		cert, key, err := loadCertificate(cfg.CertificateFile, cfg.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("graph connector %q: %w", name, err)
		}
		c.cert, c.key = cert, key
	}
	for _, o := range opts {
		o(c)
	}
	c.tokens = newTokenCache(c.fetchToken, func() time.Time { return c.now() })
	if sp := cfg.sharePointURL(); sp != "" {
		if c.spBase, err = url.Parse(sp); err != nil {
			return nil, fmt.Errorf("graph connector %q: sharepoint_url: %w", name, err)
		}
		scope := c.spBase.Scheme + "://" + c.spBase.Host + "/.default"
		c.spTokens = newTokenCache(func(ctx context.Context) (*oauth2.Token, error) { return c.fetchTokenFor(ctx, scope) }, func() time.Time { return c.now() })
	}
	return c, nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Type describes the Graph connector type for the registry and config
// validation.
func (c *Connector) Type() connectors.Type {
	return connectors.Type{Name: TypeName, Operations: c.cfg.Operations()}
}

// Close releases idle connections.
func (c *Connector) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// Lookup finds the subject's Entra ID user and reports it as one account:
// ID is the object ID, Status active or disabled (accountEnabled), Groups the
// display names of the groups the user is a direct member of, and Detail the
// user principal name plus the source-of-authority warning for users synced
// from on-premises AD. No user is an empty result; a subject that matches two
// users is a KindInvalid error naming both.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	const op = "lookup"
	if err := ctx.Err(); err != nil {
		return connectors.LookupResult{}, c.classify(op, err)
	}
	u, err := c.findUser(ctx, op, connectors.Request{Subject: s}, selLookup)
	if err != nil || u == nil {
		return connectors.LookupResult{}, err
	}
	groups, err := c.memberOf(ctx, op, u.ID)
	if err != nil {
		if connectors.KindOf(err) == connectors.KindNotFound { // deleted between the two calls
			return connectors.LookupResult{}, nil
		}
		return connectors.LookupResult{}, err
	}
	acct := connectors.Account{ID: u.ID, Kind: "user", Status: u.status(), Detail: "upn=" + u.UserPrincipalName}
	for _, g := range groups {
		acct.Groups = append(acct.Groups, g.name())
	}
	if u.synced() {
		acct.Detail += "; " + SyncedWarning
		acct.Synced = true
	}
	return connectors.LookupResult{Accounts: []connectors.Account{acct}}, nil
}

// Do performs one operation (see Operations). Repeating an operation whose
// effect holds answers OutcomeAlreadyDone; a subject with no Entra ID user
// answers OutcomeNoneFound. An operation this connector does not support is a
// KindInvalid error.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, c.classify(op, err)
	}
	h, err := c.handler(req.Operation)
	if err != nil {
		return connectors.Result{}, err
	}
	return h.do(ctx, c, req)
}

// Verify reads back the state an operation should have produced. A subject
// without an Entra ID user verifies OK with Detail "no account".
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Verification{}, c.classify(op, err)
	}
	h, err := c.handler(req.Operation)
	if err != nil {
		return connectors.Verification{}, err
	}
	return h.verify(ctx, c, req)
}

// handlers maps each supported operation to its implementation (ops.go).
var handlers = map[connectors.Operation]handler{
	connectors.OpDisableAccount:         disableAccount{},
	connectors.OpRevokeSessions:         revokeSessions{},
	connectors.OpRemoveGroupMemberships: removeGroups{},
	connectors.OpRemoveLicenses:         removeLicenses{},
	connectors.OpSetAutoReply:           setAutoReply{},
	connectors.OpSetForwarding:          setForwarding{},
	connectors.OpRemoveForwarding:       removeForwarding{},
	connectors.OpRemoveSiteAccess:       removeSiteAccess{},
	connectors.OpGrantDriveAccess:       grantDriveAccess{},
	connectors.OpRemoveDriveAccess:      removeDriveAccess{},
	connectors.OpPreserveMailbox:        preserveMailbox{},
	connectors.OpDeleteMailbox:          deleteMailbox{},
}

type handler interface {
	do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error)
	verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error)
}

func (c *Connector) handler(op connectors.Operation) (handler, error) {
	h, ok := handlers[op]
	if !ok || !connectors.Supports(c.cfg.Operations(), op) {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, string(op),
			fmt.Errorf("operation %q is not supported by the graph connector (supported: %s)", op, connectors.OperationNames(c.cfg.Operations())))
	}
	return h, nil
}

// addSecret registers a value that must never appear in error text. The
// list is bounded: the client secret plus the most recent tokens and
// assertions.
func (c *Connector) addSecret(s string) {
	if s == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets = append(c.secrets, s)
	if n := len(c.secrets); n > 9 {
		// keep the client secret (first) and the latest eight
		c.secrets = append(c.secrets[:1], c.secrets[n-8:]...)
	}
}

// redact replaces every registered secret in s.
func (c *Connector) redact(s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sec := range c.secrets {
		if sec != "" && strings.Contains(s, sec) {
			s = strings.ReplaceAll(s, sec, secret.Redacted)
		}
	}
	return s
}
