package configs

import (
	"net/mail"
	"strings"

	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// EmailChat is the chat.email block: the SMTP submission server the
// email channel of the routing model (routing.NAME.email) sends through.
// TLS is mandatory (no plaintext mode) and the server is reached under the
// outbound URL policy like any connector.
type EmailChat struct {
	// Host is the submission server (required).
	Host string `yaml:"host"`
	// Port defaults to 587 for starttls, 465 for implicit.
	Port int `yaml:"port"`
	// TLS is starttls (default) or implicit.
	TLS string `yaml:"tls"`
	// CAFile is a PEM bundle to trust instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// Username and Password authenticate; both or neither.
	Username string         `yaml:"username"`
	Password *secret.Secret `yaml:"password"`
	// From is the sender address (required).
	From string `yaml:"from"`
	// Timeout bounds one SMTP conversation; default 30s.
	Timeout Duration `yaml:"timeout"`
}

func (c *EmailChat) validate(d *doc) {
	if c == nil {
		return
	}
	const p = "chat.email."
	h := strings.TrimSpace(c.Host)
	switch {
	case h == "":
		d.add(p+"host", "host is required (the SMTP submission server)")
	case strings.ContainsAny(h, ":/@ ") && !strings.HasPrefix(h, "["):
		d.add(p+"host", "host is a name or address only (port in port, no scheme or user)")
	default:
		if err := outbound.CheckHostForm(strings.Trim(h, "[]")); err != nil {
			d.add(p+"host", "%v", err)
		}
	}
	if c.Port < 0 || c.Port > 65535 {
		d.add(p+"port", "port %d is not 1–65535", c.Port)
	}
	switch c.TLS {
	case "", "starttls", "implicit":
	default:
		d.add(p+"tls", "unknown tls mode %q (starttls or implicit; there is no plaintext mode)", c.TLS)
	}
	if (c.Username == "") != (c.Password == nil) {
		d.add(p+"password", "username and password go together ({env: NAME} or {file: PATH} for the password)")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		d.add(p+"from", "from is required, an email address: %v", err)
	}
}
