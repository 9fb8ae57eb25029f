package configs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/internal/secret"
)

// Signals is the signals: block: the Shared Signals transmitter (package
// signals, docs/signals.md). When an action that revokes sessions, disables
// an account or deletes credentials succeeds, Kinetic signs a Security
// Event Token (RFC 8417) about it — CAEP session-revoked, RISC
// account-disabled, CAEP credential-change — and pushes it (RFC 8935) to
// every receiver below. Absent: no SETs.
type Signals struct {
	// Issuer is the SETs' iss and the base of the transmitter's metadata
	// (ISSUER/.well-known/ssf-configuration) and keys (ISSUER/ssf/jwks.json),
	// which kinetic serve publishes: an https:// URL with no query or
	// fragment (http:// only for localhost). Required.
	Issuer string `yaml:"issuer"`
	// SigningKey is the PEM private key SETs are signed with: an ECDSA
	// P-256 key (ES256) or an RSA key of at least 2048 bits (RS256), in
	// PKCS #8, SEC 1 or PKCS #1 form. Required ({file: PATH} or
	// {env: NAME}).
	SigningKey secret.Secret `yaml:"signing_key"`
	// KeyID is the JWS kid and the key's kid in the JWKS; default the
	// key's RFC 7638 thumbprint.
	KeyID string `yaml:"key_id"`
	// Lookback is how far back the transmitter looks, at start and every
	// minute, for succeeded actions whose SETs were not recorded (a
	// process stopped between the action's commit and the SET's); default
	// 24h, between 1m and 30 days.
	Lookback Duration `yaml:"lookback"`
	// SubjectIssuers maps a connector instance to the issuer its account
	// ids belong to (an Okta org URL, an Entra tenant's issuer), for
	// receivers with subject_format iss_sub.
	SubjectIssuers map[string]string `yaml:"subject_issuers"`
	// Receivers are the SET receivers by name. At least one.
	Receivers map[string]*SignalReceiver `yaml:"receivers"`
}

// SignalReceiver is one signals.receivers entry: a push endpoint (RFC 8935).
type SignalReceiver struct {
	// Endpoint is the receiver's push URL: https:// (http:// only for
	// localhost), and it must pass the outbound URL policy. Required.
	Endpoint string `yaml:"endpoint"`
	// Audience is the SETs' aud; default the endpoint.
	Audience string `yaml:"audience"`
	// AuthorizationHeader is sent as the Authorization header of every
	// push (for example "Bearer …"), when set.
	AuthorizationHeader secret.Secret `yaml:"authorization_header"`
	// SubjectFormat is how the person is named in sub_id (RFC 9493):
	// email (default), opaque (the HR id), or iss_sub (the account id in
	// the system acted on, with that system's issuer from
	// signals.subject_issuers; actions without one fall back to email).
	SubjectFormat string `yaml:"subject_format"`
	// Events are the event names sent to this receiver (SignalEvents);
	// default all.
	Events []string `yaml:"events"`
}

// Subject formats of signals.receivers.*.subject_format.
const (
	SubjectEmail  = "email"
	SubjectOpaque = "opaque"
	SubjectIssSub = "iss_sub"
)

// SignalEvents are the event names a receiver may ask for: CAEP
// session-revoked, RISC account-disabled and CAEP credential-change.
var SignalEvents = []string{"session-revoked", "account-disabled", "credential-change"}

// DefaultSignalsLookback is signals.lookback's default.
const DefaultSignalsLookback = 24 * time.Hour

func (s *Signals) applyDefaults() {
	if s == nil {
		return
	}
	if s.Lookback == 0 {
		s.Lookback = Duration(DefaultSignalsLookback)
	}
	for _, r := range s.Receivers {
		if r == nil {
			continue
		}
		if r.SubjectFormat == "" {
			r.SubjectFormat = SubjectEmail
		}
		if r.Audience == "" {
			r.Audience = r.Endpoint
		}
		if r.Events == nil {
			r.Events = slices.Clone(SignalEvents)
		}
	}
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// validIssuer checks an issuer URL: https (http only for localhost), a
// host, no user info, query or fragment.
func validIssuer(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New("must be an absolute https:// URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
	default:
		return errors.New("must be an https:// URL (http:// only for localhost)")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must not have user info, a query or a fragment")
	}
	return nil
}

// validate checks the block; the receivers' endpoints pass the outbound URL
// policy in checkSignalURLs, the key is parsed in checkSignalsKey (after
// secrets are read).
func (s *Signals) validate(d *doc, conns map[string]*ConnectorInstance) {
	if s == nil {
		return
	}
	const p = "signals."
	if s.Issuer == "" {
		d.add(p+"issuer", "required: the SETs' iss, an https:// URL where kinetic serve is reached")
	} else if err := validIssuer(s.Issuer); err != nil {
		d.add(p+"issuer", "%v", err)
	}
	if !s.SigningKey.IsSet() {
		d.add(p+"signing_key", "required: a PEM private key, ECDSA P-256 or RSA ≥ 2048 bits ({file: PATH} or {env: NAME})")
	}
	if len(s.KeyID) > 128 || strings.ContainsAny(s.KeyID, " \t\r\n\"") {
		d.add(p+"key_id", "at most 128 characters, without spaces or quotes")
	}
	if lb := s.Lookback.D(); lb < time.Minute || lb > 30*24*time.Hour {
		d.add(p+"lookback", "must be between 1m and 720h (30 days)")
	}
	for _, name := range slices.Sorted(maps.Keys(s.SubjectIssuers)) {
		key := joinKey(p+"subject_issuers", name)
		if _, ok := conns[name]; !ok {
			d.add(key, "no connector instance named %q", name)
		}
		if err := validIssuer(s.SubjectIssuers[name]); err != nil {
			d.add(key, "%v", err)
		}
	}
	if len(s.Receivers) == 0 {
		d.add(p+"receivers", "at least one receiver is required")
	}
	for _, name := range slices.Sorted(maps.Keys(s.Receivers)) {
		key := joinKey(p+"receivers", name)
		if !nameRE.MatchString(name) || len(name) > 128 {
			d.add(key, "a receiver name is letters, digits, '.', '_' and '-', at most 128 characters")
		}
		r := s.Receivers[name]
		if r == nil {
			d.add(key, "needs an endpoint")
			continue
		}
		if r.Endpoint == "" {
			d.add(key+".endpoint", "required: the receiver's push URL (RFC 8935)")
		} else if u, err := url.Parse(r.Endpoint); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			d.add(key+".endpoint", "must be an absolute https:// URL")
		} else if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			// RFC 8935 delivers SETs "using HTTP POST over TLS" (its
			// abstract, https://www.rfc-editor.org/rfc/rfc8935); they name a
			// person and what was revoked.
			d.add(key+".endpoint", "must be an https:// URL (RFC 8935 delivers over TLS; http:// only for localhost)")
		} else if u.User != nil {
			d.add(key+".endpoint", "must not carry user info: use authorization_header")
		}
		if strings.TrimSpace(r.Audience) == "" {
			d.add(key+".audience", "must not be empty")
		}
		switch r.SubjectFormat {
		case SubjectEmail, SubjectOpaque, SubjectIssSub:
		default:
			d.add(key+".subject_format", "unknown format %q (want email, opaque or iss_sub)", r.SubjectFormat)
		}
		if r.SubjectFormat == SubjectIssSub && len(s.SubjectIssuers) == 0 {
			d.add(key+".subject_format", "iss_sub needs signals.subject_issuers (connector instance → issuer)")
		}
		if len(r.Events) == 0 {
			d.add(key+".events", "lists no event (leave it out for all: %s)", strings.Join(SignalEvents, ", "))
		}
		seen := map[string]bool{}
		for i, ev := range r.Events {
			k := fmt.Sprintf("%s.events[%d]", key, i)
			if !slices.Contains(SignalEvents, ev) {
				d.add(k, "unknown event %q (want %s)", ev, strings.Join(SignalEvents, ", "))
			}
			if seen[ev] {
				d.add(k, "%q is listed twice", ev)
			}
			seen[ev] = true
		}
	}
}

// checkSignalURLs passes every receiver endpoint through the outbound URL
// policy.
func (s *Service) checkSignalURLs(d *doc) {
	if s.Signals == nil {
		return
	}
	var targets []urlTarget
	for _, name := range slices.Sorted(maps.Keys(s.Signals.Receivers)) {
		if r := s.Signals.Receivers[name]; r != nil && r.Endpoint != "" {
			targets = append(targets, urlTarget{path: joinKey("signals.receivers", name) + ".endpoint", url: r.Endpoint})
		}
	}
	checkURLs(d, s.Outbound, targets)
}

// checkSignalsKey parses the signing key once its secret is read.
func (s *Service) checkSignalsKey(d *doc) {
	if s.Signals == nil || s.Signals.SigningKey.Value() == "" {
		return
	}
	if _, _, err := ParseSigningKey(s.Signals.SigningKey.Value()); err != nil {
		d.add("signals.signing_key", "%v", err)
	}
}

// SET signing algorithms ParseSigningKey picks.
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
)

// ParseSigningKey reads a PEM private key for signing SETs: ECDSA P-256
// (ES256) or RSA of at least 2048 bits (RS256), in PKCS #8, SEC 1 ("EC
// PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY") form. Its errors never
// repeat the key.
func ParseSigningKey(pemText string) (crypto.Signer, string, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(pemText)))
	if block == nil {
		return nil, "", errors.New("not a PEM private key")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("PEM block %q is not a private key (want PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, "", errors.New("the private key cannot be parsed")
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, "", fmt.Errorf("ECDSA key on %s: want P-256 (ES256)", k.Curve.Params().Name)
		}
		return k, AlgES256, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, "", fmt.Errorf("RSA key of %d bits: want at least 2048 (RS256)", k.N.BitLen())
		}
		return k, AlgRS256, nil
	default:
		return nil, "", fmt.Errorf("%T keys are not supported: want ECDSA P-256 or RSA", key)
	}
}
