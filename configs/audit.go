package configs

import (
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/internal/secret"
)

// Audit is the audit: block — how evidence reports are signed and where the
// audit head is published outside the database (docs/audit.md).
type Audit struct {
	// ReportKey is the Ed25519 private key (PEM, PKCS #8) that signs
	// evidence reports; `kinetic audit report` refuses to write an
	// unsigned report unless --unsigned is given.
	ReportKey secret.Secret `yaml:"report_key"`
	// ReportSLA is the target time from a case's effective time to full
	// revocation that reports measure against; 0 (the default) shows no
	// SLA verdict.
	ReportSLA Duration `yaml:"report_sla"`
	// Anchors publishes the audit head outside the database.
	Anchors AuditAnchors `yaml:"anchors"`
}

// AuditAnchors configures the periodic publication of the audit head
// (seq and hash) to sinks outside the database, so that a rewrite of the
// whole chain including its head is caught by `kinetic audit verify`.
// Every sink set receives every anchor; none set means no publication.
type AuditAnchors struct {
	// Interval is how often serve and worker publish the head when it
	// has moved; default 5m (DefaultAnchorInterval), at least 1s.
	Interval Duration `yaml:"interval"`
	// File is a path (relative to this file) that anchors are appended
	// to as JSON lines; put it on another volume, ideally append-only
	// (chattr +a). `kinetic audit verify` reads its last line.
	File string `yaml:"file"`
	// URL receives each anchor as a JSON POST; it is checked against the
	// outbound URL policy.
	URL string `yaml:"url"`
	// URLToken, when set, is sent as "Authorization: Bearer TOKEN".
	URLToken secret.Secret `yaml:"url_token"`
	// Syslog is "local" (the local syslog daemon) or udp://HOST:PORT or
	// tcp://HOST:PORT; each anchor is one line at facility auth, tag kinetic.
	Syslog string `yaml:"syslog"`
}

// DefaultAnchorInterval is audit.anchors.interval's default.
const DefaultAnchorInterval = 5 * time.Minute

// Enabled reports whether any sink is configured.
func (a AuditAnchors) Enabled() bool { return a.File != "" || a.URL != "" || a.Syslog != "" }

func (a *Audit) applyDefaults(baseDir string) {
	if a.Anchors.Interval.D() == 0 {
		a.Anchors.Interval = Duration(DefaultAnchorInterval)
	}
	if f := strings.TrimSpace(a.Anchors.File); f != "" && baseDir != "" && !filepath.IsAbs(f) {
		a.Anchors.File = filepath.Join(baseDir, f)
	}
}

func (a *Audit) validate(d *doc) {
	an := a.Anchors
	if an.Interval.D() < time.Second {
		d.add("audit.anchors.interval", "%s is too short: at least 1s", an.Interval.D())
	}
	if an.URL != "" {
		u, err := url.Parse(an.URL)
		switch {
		case err != nil || u.Host == "":
			d.add("audit.anchors.url", "want an absolute http(s) URL")
		case u.Scheme != "https" && u.Scheme != "http":
			d.add("audit.anchors.url", "scheme %q: want https (or http)", u.Scheme)
		case u.User != nil:
			d.add("audit.anchors.url", "credentials in the URL are not allowed: use url_token")
		}
	} else if an.URLToken.IsSet() {
		d.add("audit.anchors.url_token", "url_token needs url")
	}
	if s := an.Syslog; s != "" && s != "local" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" || u.Port() == "" {
			d.add("audit.anchors.syslog", "want local, udp://HOST:PORT or tcp://HOST:PORT")
		}
	}
}
