// Package fortigate is the connector for Fortinet FortiGate appliances
// (FortiOS REST API): revoke_vpn disables the departing person's local
// user, so they cannot log in to SSL-VPN or IPsec dial-up again, and ends
// every live SSL-VPN session and IPsec dial-up tunnel of that user; Lookup
// and Verify read the user and the two session monitors back.
//
// It authenticates as a REST API administrator with its API token sent as
// "Authorization: Bearer <token>" (never as the access_token query
// parameter, which would put the token in URLs and logs):
// https://community.fortinet.com/t5/Support-Forum/FortiGate-API/m-p/201507
// (the FortiOS "REST API administrator" page of the Administration Guide
// says the same). Every outbound connection goes through the outbound URL
// policy's client; an appliance with a private CA is trusted with ca_file.
//
// Endpoints (FortiOS 7.x REST API reference on the Fortinet Developer
// Network, which needs an account; the shapes below were checked against
// the FortiOS CLI reference and the public schema mirrors cited in
// docs/connectors.md):
//
//	GET  /api/v2/cmdb/user/local/{name}?vdom=V        the local user (404: none)
//	PUT  /api/v2/cmdb/user/local/{name}?vdom=V        {"status":"disable"}
//	GET  /api/v2/monitor/vpn/ssl?vdom=V               SSL-VPN sessions (user_name, index)
//	POST /api/v2/monitor/vpn/ssl/delete?vdom=V        {"type":"websession","index":N}
//	GET  /api/v2/monitor/vpn/ipsec?vdom=V             IPsec tunnels (xauth_user, proxyid[])
//	POST /api/v2/monitor/vpn/ipsec/tunnel_down?vdom=V {"p1name","p2name","p2serial"}
package fortigate

import (
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
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses.
const TypeName = "fortigate"

// DefaultTimeout bounds one HTTP request when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// DefaultVDOM is the virtual domain used when Config.VDOM is empty.
const DefaultVDOM = "root"

// Subject fields user_name_from may name.
const (
	FromUsername   = "username"
	FromEmail      = "email"
	FromEmailLocal = "email_local"
	FromEmployeeID = "employee_id"
	// FromAttrPrefix followed by a name reads Subject.Attributes[name]
	// ("attr:vpn_user").
	FromAttrPrefix = "attr:"
)

// Config is the fortigate block of a connector instance.
type Config struct {
	// URL is the FortiGate's HTTPS admin address, e.g.
	// https://fw1.corp.example:8443 (no path). Required; https except for
	// loopback test servers.
	URL string `yaml:"url"`
	// APIToken is the REST API administrator's key (System >
	// Administrators > REST API Admin; `execute api-user generate-key`).
	// Required.
	APIToken secret.Secret `yaml:"api_token"`
	// VDOM is the virtual domain the users and VPNs live in. Default root.
	VDOM string `yaml:"vdom"`
	// CAFile is a PEM bundle trusted for the appliance's certificate in
	// addition to the system roots (a self-signed or private-CA admin
	// certificate). Optional.
	CAFile string `yaml:"ca_file"`
	// UserNameFrom lists the subject fields tried, in order, as the local
	// user name: username, email, email_local, employee_id or attr:NAME.
	// Default [username, email]. When two of them name two different
	// existing local users the match is ambiguous and nothing is changed.
	UserNameFrom []string `yaml:"user_name_from"`
	// Timeout bounds each HTTP request. Default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

// Validate reports every problem with the block, joined; each message
// starts with the key it is about.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if strings.TrimSpace(c.URL) == "" {
		add("url is required (e.g. https://fw1.corp.example)")
	} else if u, err := outbound.CheckURLForm("url", c.URL, outbound.URLForm{HTTPSOnly: true, CredentialsHint: "put the token in api_token"}); err != nil {
		add("%v", err)
	} else if strings.Trim(u.Path, "/") != "" {
		add("url: must be the appliance address alone, without a path (e.g. %s://%s)", u.Scheme, u.Host)
	}
	if !c.APIToken.IsSet() {
		add("api_token is required ({env: NAME} or {file: PATH})")
	}
	if v := c.VDOM; v != "" && !vdomRE.MatchString(v) {
		add("vdom: %q is not a VDOM name", v)
	}
	for i, f := range c.UserNameFrom {
		if !validFrom(f) {
			add("user_name_from[%d]: %q is not one of username, email, email_local, employee_id, attr:NAME", i, f)
		}
	}
	if c.Timeout < 0 {
		add("timeout must not be negative (got %s)", c.Timeout)
	}
	return errors.Join(errs...)
}

var vdomRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,31}$`)

func validFrom(f string) bool {
	switch f {
	case FromUsername, FromEmail, FromEmailLocal, FromEmployeeID:
		return true
	}
	return strings.HasPrefix(f, FromAttrPrefix) && len(f) > len(FromAttrPrefix)
}

// BaseURL is the appliance URL without a trailing slash; the outbound
// policy checks it at load.
func (c Config) BaseURL() string { return strings.TrimRight(strings.TrimSpace(c.URL), "/") }

// Operations returns what an instance offers: revoke_vpn (disable the
// local user and end its SSL-VPN and IPsec sessions).
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

// Connector is one configured FortiGate (one VDOM). It implements
// connectors.Connector, connectors.Verifier and connectors.Closer and is
// safe for concurrent use.
type Connector struct {
	name   string
	base   *url.URL
	vdom   string
	from   []string
	token  string
	client *http.Client
	log    *logrus.Entry

	mu         sync.Mutex
	terminated map[string]bool // lower-cased user names whose sessions this process ended
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.Verifier  = (*Connector)(nil)
	_ connectors.Closer    = (*Connector)(nil)
)

// New returns the connector named name. cfg must validate and its api_token
// be resolved; ca_file is read here. Every request goes through policy's
// client (a nil policy refuses internal addresses).
func New(name string, cfg Config, policy *outbound.URLPolicy, opts ...Option) (*Connector, error) {
	if name == "" {
		name = TypeName
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fortigate connector %q: %w", name, err)
	}
	base, err := url.Parse(cfg.BaseURL())
	if err != nil {
		return nil, fmt.Errorf("fortigate connector %q: url: not a valid URL", name)
	}
	token := cfg.APIToken.Value()
	if token == "" {
		return nil, fmt.Errorf("fortigate connector %q: api_token is set but not resolved (no value)", name)
	}
	timeout := cfg.Timeout.D()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	client := policy.HTTPClient(timeout)
	if cfg.CAFile != "" {
		if err := trustCA(client, cfg.CAFile); err != nil {
			return nil, fmt.Errorf("fortigate connector %q: ca_file: %w", name, err)
		}
	}
	vdom := cfg.VDOM
	if vdom == "" {
		vdom = DefaultVDOM
	}
	from := cfg.UserNameFrom
	if len(from) == 0 {
		from = []string{FromUsername, FromEmail}
	}
	discard := logrus.New()
	discard.SetOutput(io.Discard)
	c := &Connector{
		name: name, base: base, vdom: vdom, from: from, token: token, client: client,
		log: logrus.NewEntry(discard), terminated: map[string]bool{},
	}
	for _, o := range opts {
		o(c)
	}
	c.log = c.log.WithFields(logrus.Fields{"connector": name, "type": TypeName})
	return c, nil
}

// trustCA adds the PEM certificates in path to the client's trusted roots
// (the system roots stay trusted).
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
