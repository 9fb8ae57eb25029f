package email

import (
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/internal/connspec"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// TypeName is the connector type name configuration uses.
const TypeName = "email"

// TLS modes. There is no plaintext mode: a notice carries pay dates.
const (
	// TLSStartTLS connects in plain and upgrades with STARTTLS before
	// anything else is sent (RFC 3207); the upgrade is mandatory. Port 587
	// by default (submission, RFC 6409).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (RFC 8314). Port 465 by
	// default.
	TLSImplicit = "implicit"
)

// Config is the email connector's YAML block.
type Config struct {
	// Host is the SMTP submission server, e.g. smtp.office365.com
	// (required). The outbound URL policy checks it at load and again at
	// every connection.
	Host string `yaml:"host"`
	// Port defaults to 587 for starttls and 465 for implicit.
	Port int `yaml:"port"`
	// TLS is starttls (the default) or implicit. The server's certificate
	// is always verified, for Host.
	TLS string `yaml:"tls"`
	// CAFile is a PEM bundle to trust instead of the system roots (an
	// internal relay with a private CA).
	CAFile string `yaml:"ca_file"`
	// Username and Password authenticate (SMTP AUTH PLAIN or LOGIN, over
	// TLS only). Both or neither.
	Username string         `yaml:"username"`
	Password *secret.Secret `yaml:"password"`
	// From is the sender address (required), e.g.
	// "Kinetic <offboarding@corp.example>". Its domain names Message-IDs.
	From string `yaml:"from"`
	// Teams are the receiving teams by name (payroll, benefits) and their
	// addresses (required, at least one). A notify action sends one message
	// per team named in its params' teams (comma separated; all teams when
	// absent), and each team acknowledges its own.
	Teams map[string][]string `yaml:"teams"`
	// Timeout bounds one SMTP conversation; default 30s.
	Timeout dur.Duration `yaml:"timeout"`
}

// FieldError is one problem, at Field below the email block.
type FieldError = connspec.FieldError

// port returns the configured or default port.
func (c Config) port() int {
	if c.Port != 0 {
		return c.Port
	}
	if c.TLS == TLSImplicit {
		return 465
	}
	return 587
}

// Validate reports every problem with the block, joined, each a
// *FieldError naming its key. It does not resolve the password.
func (c Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	h := strings.TrimSpace(c.Host)
	switch {
	case h == "":
		add("host", "host is required (the SMTP submission server)")
	case strings.ContainsAny(h, ":/@ ") && !strings.HasPrefix(h, "["):
		add("host", "host is a name or address only (port in port, no scheme or user)")
	default:
		if err := outbound.CheckHostForm(strings.Trim(h, "[]")); err != nil {
			add("host", "%v", err)
		}
	}
	if c.Port < 0 || c.Port > 65535 {
		add("port", "port %d is not 1–65535", c.Port)
	}
	switch c.TLS {
	case "", TLSStartTLS, TLSImplicit:
	case "none", "off", "plain":
		add("tls", "plaintext SMTP is not supported: a notice carries pay dates (use starttls or implicit)")
	default:
		add("tls", "unknown tls mode %q (starttls or implicit)", c.TLS)
	}
	if (c.Username == "") != (c.Password == nil) {
		add("password", "username and password go together ({env: NAME} or {file: PATH} for the password)")
	} else if c.Password != nil && !c.Password.IsSet() {
		add("password", "needs {env: NAME} or {file: PATH}")
	}
	if strings.TrimSpace(c.From) == "" {
		add("from", "from is required (the sender address)")
	} else if _, err := mail.ParseAddress(c.From); err != nil {
		add("from", "not an email address: %v", err)
	}
	if len(c.Teams) == 0 {
		add("teams", "at least one receiving team is required (e.g. payroll: [payroll@corp.example])")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Teams)) {
		key := "teams." + name
		if strings.TrimSpace(name) == "" || strings.ContainsAny(name, ", ") {
			add(key, "a team name has no spaces or commas")
		}
		if len(c.Teams[name]) == 0 {
			add(key, "the team needs at least one address")
		}
		for i, a := range c.Teams[name] {
			if _, err := mail.ParseAddress(a); err != nil {
				add(fmt.Sprintf("%s[%d]", key, i), "not an email address: %v", err)
			}
		}
	}
	if c.Timeout < 0 {
		add("timeout", "must not be negative")
	}
	return errors.Join(errs...)
}
