package ldap

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/secret"
)

// Match fields: which Subject field feeds the match attribute.
const (
	MatchUsername   = "username"
	MatchEmail      = "email"
	MatchEmployeeID = "employee_id"
)

// Disable modes.
const (
	// DisableUAC sets bit 0x2 (ACCOUNTDISABLE) of Active Directory's
	// userAccountControl, keeping every other bit.
	DisableUAC = "uac"
	// DisableAttribute sets a configured attribute to a configured value
	// (nsAccountLock: TRUE on 389-ds/FreeIPA, pwdAccountLockedTime:
	// 000001010000Z on OpenLDAP with ppolicy).
	DisableAttribute = "attribute"
)

// DefaultTimeout bounds one connector call when neither the configuration
// nor the caller's context sets a shorter bound.
const DefaultTimeout = 30 * time.Second

// Config is the ldap connector's YAML block. Only url, bind_dn,
// bind_password and base_dn are required; every other field has a default
// that suits Active Directory.
//
//	url: ldaps://dc1.corp.example:636
//	ca_file: /etc/kinetic/corp-ca.pem
//	bind_dn: CN=svc-kinetic,OU=Service Accounts,DC=corp,DC=example
//	bind_password: {env: KINETIC_AD_PASSWORD}
//	base_dn: OU=Staff,DC=corp,DC=example
//	match_field: email          # mail
//	keep_groups: [all-staff]
//	disabled_ou: OU=Disabled,OU=Staff,DC=corp,DC=example
type Config struct {
	// URL is ldaps://host[:636] or ldap://host[:389]. Nothing but scheme,
	// host and port is allowed.
	URL string `yaml:"url"`
	// StartTLS upgrades an ldap:// connection with the StartTLS extended
	// operation before binding.
	StartTLS bool `yaml:"start_tls"`
	// AllowInsecurePlainLDAP permits a simple bind over ldap:// without
	// StartTLS, which sends the bind password in clear text. Off by
	// default; without it such a configuration is refused.
	AllowInsecurePlainLDAP bool `yaml:"allow_insecure_plain_ldap"`
	// CAFile is a PEM file of the CA certificates that may sign the
	// server's certificate; empty means the system's roots. There is no
	// way to skip verification.
	CAFile string `yaml:"ca_file"`
	// ServerName is the name the server's certificate must carry; default
	// the URL's host.
	ServerName string `yaml:"server_name"`
	// BindDN and BindPassword are the service account's credentials (a
	// simple bind).
	BindDN       string        `yaml:"bind_dn"`
	BindPassword secret.Secret `yaml:"bind_password"`
	// BaseDN is where accounts are searched for (subtree).
	BaseDN string `yaml:"base_dn"`
	// UserFilter is ANDed with the match on every search; default
	// (objectClass=user) with disable mode uac and (objectClass=person)
	// with mode attribute.
	UserFilter string `yaml:"user_filter"`
	// MatchField is the Subject field matched: username, email (default)
	// or employee_id.
	MatchField string `yaml:"match_field"`
	// MatchAttribute is the attribute MatchField's value is compared with;
	// default sAMAccountName (uid in mode attribute) for username, mail for
	// email and employeeID for employee_id. userPrincipalName is a common
	// choice for email.
	MatchAttribute string `yaml:"match_attribute"`
	// KeepGroups are groups remove_group_memberships leaves alone, each
	// named by CN ("all-staff") or DN; compared case-insensitively. The
	// primary group (primaryGroupID) is never touched: it is not in
	// memberOf.
	KeepGroups []string `yaml:"keep_groups"`
	// DisabledOU, when set, is where disable_account moves the account
	// (ModifyDN) after disabling it. It must lie inside BaseDN so a moved
	// account is still found.
	DisabledOU string `yaml:"disabled_ou"`
	// ResetPassword makes disable_account also set a random password
	// (Active Directory unicodePwd; needs TLS and disable mode uac). It is
	// done only while taking an enabled account down: an account found
	// already disabled keeps its password.
	ResetPassword bool `yaml:"reset_password"`
	// Disable says how an account is disabled; default mode uac.
	Disable Disable `yaml:"disable"`
	// Timeout bounds one connector call (connect, bind and every request)
	// when the caller's context has no earlier deadline; default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

// Disable says how an account is disabled and how a disabled one is
// recognised.
type Disable struct {
	// Mode is uac (default; Active Directory) or attribute.
	Mode string `yaml:"mode"`
	// Attribute and Value (mode attribute only): the account is disabled
	// by replacing Attribute's values with Value, and counts as disabled
	// when Attribute holds Value (compared case-insensitively).
	Attribute string `yaml:"attribute"`
	Value     string `yaml:"value"`
}

var attrDescr = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)$`)

// Validate reports every problem with the configuration, joined. It reads
// ca_file to check that it holds certificates. It never repeats the URL's
// user info or the bind password.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	u, uerr := parseURL(c.URL)
	if uerr != nil {
		errs = append(errs, uerr)
	}
	if u != nil {
		switch {
		case u.Scheme == "ldaps" && c.StartTLS:
			add("start_tls is for ldap:// URLs; an ldaps:// connection is already TLS")
		case u.Scheme == "ldap" && !c.StartTLS && !c.AllowInsecurePlainLDAP:
			add("url: plain ldap:// would send the bind password in clear text: use ldaps://, set start_tls: true, or set allow_insecure_plain_ldap: true")
		}
		if c.ResetPassword && u.Scheme == "ldap" && !c.StartTLS {
			add("reset_password needs an encrypted connection (ldaps:// or start_tls: true)")
		}
	}
	if c.CAFile != "" {
		if _, err := loadCAs(c.CAFile); err != nil {
			errs = append(errs, err)
		}
	}
	if strings.ContainsAny(c.ServerName, "/: ") {
		add("server_name: %q is not a host name", c.ServerName)
	}
	if strings.TrimSpace(c.BindDN) == "" {
		add("bind_dn is required")
	} else if _, err := goldap.ParseDN(c.BindDN); err != nil {
		add("bind_dn: not a DN: %v", err)
	}
	if !c.BindPassword.IsSet() {
		add("bind_password is required ({env: NAME} or {file: PATH})")
	}
	var base *goldap.DN
	if strings.TrimSpace(c.BaseDN) == "" {
		add("base_dn is required")
	} else if d, err := goldap.ParseDN(c.BaseDN); err != nil || len(d.RDNs) == 0 {
		add("base_dn: not a DN: %q", c.BaseDN)
	} else {
		base = d
	}
	if c.UserFilter != "" {
		if _, err := goldap.CompileFilter(c.UserFilter); err != nil {
			add("user_filter: %v (write it in parentheses, e.g. (objectClass=user))", err)
		}
	}
	switch c.MatchField {
	case "", MatchUsername, MatchEmail, MatchEmployeeID:
	default:
		add("match_field: unknown field %q (want %s, %s or %s)", c.MatchField, MatchUsername, MatchEmail, MatchEmployeeID)
	}
	if c.MatchAttribute != "" && !attrDescr.MatchString(c.MatchAttribute) {
		add("match_attribute: %q is not an attribute name", c.MatchAttribute)
	}
	for i, g := range c.KeepGroups {
		if _, err := parseGroupRef(g); err != nil {
			add("keep_groups[%d]: %v", i, err)
		}
	}
	if c.DisabledOU != "" {
		ou, err := goldap.ParseDN(c.DisabledOU)
		switch {
		case err != nil || len(ou.RDNs) == 0:
			add("disabled_ou: not a DN: %q", c.DisabledOU)
		case base != nil && !base.AncestorOfFold(ou) && !base.EqualFold(ou):
			add("disabled_ou %q must lie inside base_dn %q, or moved accounts would no longer be found", c.DisabledOU, c.BaseDN)
		}
	}
	switch c.Disable.Mode {
	case "", DisableUAC:
		if c.Disable.Attribute != "" || c.Disable.Value != "" {
			add("disable: attribute and value are for mode attribute; mode uac sets userAccountControl")
		}
	case DisableAttribute:
		if !attrDescr.MatchString(c.Disable.Attribute) {
			add("disable.attribute: %q is not an attribute name (e.g. nsAccountLock)", c.Disable.Attribute)
		}
		if c.Disable.Value == "" {
			add("disable.value is required with mode attribute (e.g. TRUE)")
		}
		if c.ResetPassword {
			add("reset_password sets Active Directory's unicodePwd and needs disable mode uac")
		}
	default:
		add("disable.mode: unknown mode %q (want %s or %s)", c.Disable.Mode, DisableUAC, DisableAttribute)
	}
	return errors.Join(errs...)
}

// BaseURL returns the server's host and port in the https:// form the
// outbound URL policy (outbound.URLPolicy.CheckURL) checks, e.g.
// "https://dc1.corp.example:636/" for ldaps://dc1.corp.example. The policy
// judges the host and accepts only http(s) schemes; this is not a URL to
// call. It returns "" when the URL does not parse.
func (c Config) BaseURL() string {
	u, err := parseURL(c.URL)
	if err != nil {
		return ""
	}
	return "https://" + u.Host + "/"
}

// parseURL checks an ldap(s) URL and returns it with the port filled in.
// Errors never repeat the URL (it might carry a password as user info).
func parseURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errors.New("url is required (ldaps://host:636 or ldap://host:389)")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return nil, errors.New("url: not a valid URL (want ldaps://host:636 or ldap://host:389)")
	}
	if u.User != nil {
		return nil, errors.New("url must not carry user info: use bind_dn and bind_password")
	}
	if u.Scheme != "ldap" && u.Scheme != "ldaps" {
		return nil, fmt.Errorf("url: scheme %q is not ldap or ldaps", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("url has no host")
	}
	if !validHost(u.Hostname()) {
		return nil, errors.New("url: the host is not a host name or an IP address")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("url: only scheme, host and port are allowed (set the base DN with base_dn)")
	}
	port := u.Port()
	if port == "" {
		port = "389"
		if u.Scheme == "ldaps" {
			port = "636"
		}
	} else if p, err := net.LookupPort("tcp", port); err != nil || p <= 0 || p > 65535 {
		return nil, fmt.Errorf("url: bad port %q", port)
	}
	u.Host = net.JoinHostPort(u.Hostname(), port)
	u.Path = ""
	return u, nil
}

// validHost reports whether h is an IP address or a host name (ASCII
// letters, digits, '-', '_' and '.'): url.Parse lets through hosts such as
// ":" ("ldap://::") or "]".
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return h != ""
}

func loadCAs(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// groupRef is a keep_groups entry: a DN, or a CN compared with the first
// RDN of a group's DN.
type groupRef struct {
	dn *goldap.DN
	cn string
}

func parseGroupRef(s string) (groupRef, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return groupRef{}, errors.New("empty group name")
	}
	if strings.Contains(s, "=") {
		d, err := goldap.ParseDN(s)
		if err != nil || len(d.RDNs) == 0 {
			return groupRef{}, fmt.Errorf("%q looks like a DN but does not parse", s)
		}
		return groupRef{dn: d}, nil
	}
	return groupRef{cn: s}, nil
}

// withDefaults returns c with every default applied.
func (c Config) withDefaults() Config {
	if c.Disable.Mode == "" {
		c.Disable.Mode = DisableUAC
	}
	if c.MatchField == "" {
		c.MatchField = MatchEmail
	}
	if c.MatchAttribute == "" {
		switch c.MatchField {
		case MatchUsername:
			c.MatchAttribute = "sAMAccountName"
			if c.Disable.Mode == DisableAttribute {
				c.MatchAttribute = "uid"
			}
		case MatchEmail:
			c.MatchAttribute = "mail"
		case MatchEmployeeID:
			c.MatchAttribute = "employeeID"
		}
	}
	if c.UserFilter == "" {
		c.UserFilter = "(objectClass=user)"
		if c.Disable.Mode == DisableAttribute {
			c.UserFilter = "(objectClass=person)"
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = dur.Duration(DefaultTimeout)
	}
	return c
}
