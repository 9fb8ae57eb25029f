// Package globalprotect is the connector for Palo Alto Networks
// GlobalProtect on a PAN-OS firewall (PAN-OS XML API): revoke_vpn blocks
// the departing person's reconnection by disabling their user in the
// firewall's local user database (committed), then logs them out of every
// configured GlobalProtect gateway; Lookup and Verify read the running
// configuration and each gateway's current users back.
//
// Every request is a POST to /api/ with form parameters (PAN-OS advises
// POST for anything sensitive) and the API key in the X-PAN-KEY header,
// never in the URL:
// https://docs.paloaltonetworks.com/ngfw/api/api-authentication-and-security
//
//	type=config&action=show&xpath=…/local-user-database/user/entry[@name='U']   running config
//	type=config&action=set&xpath=…/entry[@name='U']&element=<disabled>yes</disabled>
//	type=commit&action=partial&cmd=<commit><partial><admin><member>ADMIN</member></admin></partial></commit>
//	type=op&cmd=<show><jobs><id>N</id></jobs></show>                                until FIN
//	type=op&cmd=<show><global-protect-gateway><current-user><gateway>G</gateway></current-user></global-protect-gateway></show>
//	type=op&cmd=<request><global-protect-gateway><client-logout><gateway>G</gateway><user>U</user><reason>force-logout</reason><computer>C</computer></client-logout></global-protect-gateway></request>
//
// The logout and current-user commands are PAN-OS's documented use case
// https://docs.paloaltonetworks.com/ngfw/api/pan-os-xml-api-use-cases/show-and-manage-globalprotect-users-api;
// the commit and its job
// https://docs.paloaltonetworks.com/ngfw/api/pan-os-xml-api-request-types-and-actions/commit
// and https://docs.paloaltonetworks.com/pan-os/10-2/pan-os-panorama-api/pan-os-xml-api-request-types/asynchronous-and-synchronous-requests-to-the-pan-os-xml-api.
// Blocking re-connection: PAN-OS documents a local database user's
// "Disabled" setting (Device > Local User Database > Users) and a device
// block list that blocks a device, not a person; this connector disables
// the local user. A user who signs in through SAML, LDAP or RADIUS is
// blocked at that identity provider (the Okta, Entra or AD connectors); the
// result says so.
package globalprotect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/pause"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses.
const TypeName = "globalprotect"

// Defaults applied to zero Config fields.
const (
	DefaultTimeout    = 30 * time.Second
	DefaultCommitWait = 2 * time.Minute
	// pollInterval is the wait between two reads of the commit job.
	pollInterval = 2 * time.Second
)

// Block modes (Config.Block).
const (
	// BlockDisableLocalUser disables the user in the local user database
	// and commits that change (the default).
	BlockDisableLocalUser = "disable_local_user"
	// BlockNone only logs the user out: every GlobalProtect user signs in
	// through an identity provider another connector disables.
	BlockNone = "none"
)

// Subject fields user_name_from may name.
const (
	FromUsername   = "username"
	FromEmail      = "email"
	FromEmailLocal = "email_local"
	FromEmployeeID = "employee_id"
	FromAttrPrefix = "attr:"
)

// Config is the globalprotect block of a connector instance.
type Config struct {
	// URL is the firewall's management HTTPS address, e.g.
	// https://fw1.corp.example. Required; https except for loopback tests.
	URL string `yaml:"url"`
	// APIKey is the API key of a dedicated admin (type=keygen). Required.
	APIKey secret.Secret `yaml:"api_key"`
	// Gateways are the GlobalProtect gateway names (Network >
	// GlobalProtect > Gateways) the person is logged out of. Required.
	Gateways []string `yaml:"gateways"`
	// Block is how reconnection is blocked: disable_local_user (default)
	// or none.
	Block string `yaml:"block"`
	// CommitAdmin is the API admin's name: its own pending changes, and
	// only those, are committed (a partial commit). Required with
	// block disable_local_user.
	CommitAdmin string `yaml:"commit_admin"`
	// VSys is the virtual system whose local user database holds the
	// users, e.g. vsys1; empty means the shared database.
	VSys string `yaml:"vsys"`
	// CAFile is a PEM bundle trusted for the firewall's certificate in
	// addition to the system roots. Optional.
	CAFile string `yaml:"ca_file"`
	// UserNameFrom lists the subject fields tried, in order, as the user
	// name: username, email, email_local, employee_id or attr:NAME.
	// Default [username, email].
	UserNameFrom []string `yaml:"user_name_from"`
	// CommitWait bounds the wait for the commit job. Default 2m.
	CommitWait dur.Duration `yaml:"commit_wait"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

// nameRE is what the connector puts into an XPath or XML command: PAN-OS
// object names (letters, digits, space, hyphen, underscore, dot) plus the
// @ and \ of user names; never a quote or an angle bracket.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9 _.@\\-]{1,63}$`)

// Validate reports every problem with the block, joined.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if strings.TrimSpace(c.URL) == "" {
		add("url is required (e.g. https://fw1.corp.example)")
	} else if u, err := outbound.CheckURLForm("url", c.URL, outbound.URLForm{HTTPSOnly: true, CredentialsHint: "put the key in api_key"}); err != nil {
		add("%v", err)
	} else if strings.Trim(u.Path, "/") != "" {
		add("url: must be the firewall address alone, without a path (the connector calls /api/)")
	}
	if !c.APIKey.IsSet() {
		add("api_key is required ({env: NAME} or {file: PATH})")
	}
	if len(c.Gateways) == 0 {
		add("gateways is required (the GlobalProtect gateway names to log the person out of)")
	}
	for i, g := range c.Gateways {
		if !nameRE.MatchString(g) {
			add("gateways[%d]: %q is not a gateway name", i, g)
		}
	}
	switch c.Block {
	case "", BlockDisableLocalUser:
		if strings.TrimSpace(c.CommitAdmin) == "" {
			add("commit_admin is required with block %s (the API admin whose changes are committed)", BlockDisableLocalUser)
		} else if !nameRE.MatchString(c.CommitAdmin) {
			add("commit_admin: %q is not an admin name", c.CommitAdmin)
		}
	case BlockNone:
	default:
		add("block: %q is not one of %s, %s", c.Block, BlockDisableLocalUser, BlockNone)
	}
	if c.VSys != "" && !regexp.MustCompile(`^vsys[0-9]{1,3}$`).MatchString(c.VSys) {
		add("vsys: %q is not a virtual system name (vsys1, vsys2, …)", c.VSys)
	}
	for i, f := range c.UserNameFrom {
		switch {
		case f == FromUsername, f == FromEmail, f == FromEmailLocal, f == FromEmployeeID:
		case strings.HasPrefix(f, FromAttrPrefix) && len(f) > len(FromAttrPrefix):
		default:
			add("user_name_from[%d]: %q is not one of username, email, email_local, employee_id, attr:NAME", i, f)
		}
	}
	if c.CommitWait < 0 {
		add("commit_wait must not be negative (got %s)", c.CommitWait)
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

// BaseURL is the firewall URL without a trailing slash.
func (c Config) BaseURL() string { return strings.TrimRight(strings.TrimSpace(c.URL), "/") }

// Operations returns what an instance offers: revoke_vpn.
func Operations(Config) []connectors.Operation {
	return []connectors.Operation{connectors.OpRevokeVPN}
}

// Option adjusts a Connector at construction.
type Option func(*Connector)

// WithLogger sets the logger (default: discard).
func WithLogger(l *logrus.Entry) Option {
	return func(c *Connector) {
		if l != nil {
			c.log = l
		}
	}
}

// WithSleep sets how the connector waits between two reads of a commit
// job (default: a timer cut short by ctx).
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Connector) {
		if sleep != nil {
			c.sleep = sleep
		}
	}
}

// Connector is one configured PAN-OS firewall. It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is
// safe for concurrent use.
type Connector struct {
	name     string
	endpoint string // {url}/api/
	key      string
	gateways []string
	block    string
	admin    string
	userBase string // XPath of the local user database's user list
	from     []string
	polls    int
	client   *http.Client
	sleep    func(context.Context, time.Duration) error
	log      *logrus.Entry
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

// New returns the connector named name; cfg must validate and its api_key
// be resolved; ca_file is read here.
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("globalprotect connector %q: %w", name, err)
	}
	key := cfg.APIKey.Value()
	if key == "" {
		return nil, fmt.Errorf("globalprotect connector %q: api_key is set but not resolved (no value)", name)
	}
	if _, err := url.Parse(cfg.BaseURL()); err != nil {
		return nil, fmt.Errorf("globalprotect connector %q: url: not a valid URL", name)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	wait := cfg.CommitWait.D()
	if wait == 0 {
		wait = DefaultCommitWait
	}
	client := policy.HTTPClient(timeout)
	if cfg.CAFile != "" {
		if err := trustCA(client, cfg.CAFile); err != nil {
			return nil, fmt.Errorf("globalprotect connector %q: ca_file: %w", name, err)
		}
	}
	block := cfg.Block
	if block == "" {
		block = BlockDisableLocalUser
	}
	base := "/config/shared/local-user-database/user"
	if cfg.VSys != "" {
		base = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='" + cfg.VSys + "']/local-user-database/user"
	}
	from := cfg.UserNameFrom
	if len(from) == 0 {
		from = []string{FromUsername, FromEmail}
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	c := &Connector{
		name: name, endpoint: cfg.BaseURL() + "/api/", key: key, gateways: cfg.Gateways, block: block,
		admin: cfg.CommitAdmin, userBase: base, from: from, polls: max(1, int(wait/pollInterval)),
		client: client, sleep: pause.Sleep, log: logrus.NewEntry(discard),
	}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.WithFields(logrus.Fields{"connector": name, "type": TypeName})
	return c, nil
}

func trustCA(client *http.Client, path string) error {
	pem, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate", path)
	}
	tr, ok := client.Transport.(*http.Transport)
	if !ok {
		return errors.New("the outbound client has no TLS settings to extend")
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tr.TLSClientConfig.RootCAs = pool
	return nil
}

// Name returns the instance name.
func (c *Connector) Name() string { return c.name }

// Close releases idle connections.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}
