package configs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeSigningKey(t *testing.T, path string, rsaBits int) {
	t.Helper()
	var der []byte
	var err error
	if rsaBits > 0 {
		k, kerr := rsa.GenerateKey(rand.Reader, rsaBits)
		if kerr != nil {
			t.Fatal(kerr)
		}
		der, err = x509.MarshalPKCS8PrivateKey(k)
	} else {
		k, kerr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if kerr != nil {
			t.Fatal(kerr)
		}
		der, err = x509.MarshalPKCS8PrivateKey(k)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// exampleSignals returns kinetic.example.yaml's commented signals block,
// uncommented.
func exampleSignals(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("kinetic.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case len(block) == 0 && line == "# signals:":
			block = append(block, "signals:")
		case len(block) == 0:
		case strings.HasPrefix(line, "#   "):
			block = append(block, strings.TrimPrefix(line, "# "))
		default:
			return block
		}
	}
	return block
}

// TestExampleSignals uncomments the signals block of kinetic.example.yaml
// (commented out there because it needs a key file and a receiver) and
// checks that it loads with its defaults.
func TestExampleSignals(t *testing.T) {
	clearEnv(t)
	t.Setenv("KINETIC_SIEM_SSF_AUTHORIZATION", "Bearer siem-SECRET-ssf")
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "set-key.pem")
	writeSigningKey(t, keyPath, 0)
	block := exampleSignals(t)
	if len(block) < 10 {
		t.Fatalf("no commented signals block in kinetic.example.yaml (%d lines)", len(block))
	}
	src := "policy: p.yaml\nredis: {embedded: true}\noutbound:\n  allow_hosts: [siem.example.com]\n" +
		"connectors:\n  okta:\n    type: sandbox\n    sandbox: {system: okta}\nsimulated: true\n" +
		strings.ReplaceAll(strings.Join(block, "\n"), "/run/secrets/kinetic-set-key.pem", keyPath) + "\n"
	svc, err := parseServiceT(filepath.Join(dir, "example.yaml"), []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	s := svc.Signals
	if s == nil || s.Issuer != "https://kinetic.example.com" || s.Lookback.D() != DefaultSignalsLookback || s.SubjectIssuers["okta"] != "https://acme.okta.com" {
		t.Fatalf("signals %+v", s)
	}
	r := s.Receivers["siem"]
	if r == nil || r.Endpoint != "https://siem.example.com/ssf/events" || r.Audience != "https://siem.example.com/ssf" ||
		r.AuthorizationHeader.Value() != "Bearer siem-SECRET-ssf" || r.SubjectFormat != SubjectEmail || len(r.Events) != 3 {
		t.Fatalf("receiver %+v", r)
	}
	if _, alg, err := ParseSigningKey(s.SigningKey.Value()); err != nil || alg != AlgES256 {
		t.Fatalf("key: %s, %v", alg, err)
	}
}

// TestSignalsErrorsNameKeys: each mistake in a signals block is reported
// at its file, line and key, and no message repeats a secret.
func TestSignalsErrorsNameKeys(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	weak := filepath.Join(dir, "weak.pem")
	writeSigningKey(t, weak, 1024)
	t.Setenv("KINETIC_SSF_AUTH", "Bearer auth-SECRET-x")
	src := `policy: p.yaml
redis: {embedded: true}
signals:
  issuer: http://kinetic.example.com/?x=1
  signing_key: {file: ` + weak + `}
  key_id: "has space"
  lookback: 10s
  subject_issuers:
    nosuch: https://idp.example
  receivers:
    "bad name!":
      endpoint: https://ok.example/events
    siem:
      endpoint: https://user:pw@siem.example/events
      authorization_header: {env: KINETIC_SSF_AUTH}
      subject_format: phone
      events: [session-revoked, password-reset, session-revoked]
    metadata:
      endpoint: https://169.254.169.254/latest
    plain:
      endpoint: http://siem.example/events
`
	_, err := parseServiceT("kinetic.yaml", []byte(src))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"kinetic.yaml:4: signals.issuer: must be an https:// URL (http:// only for localhost)",
		"kinetic.yaml:5: signals.signing_key: RSA key of 1024 bits: want at least 2048 (RS256)",
		"kinetic.yaml:6: signals.key_id: at most 128 characters",
		"kinetic.yaml:7: signals.lookback: must be between 1m and 720h",
		`kinetic.yaml:9: signals.subject_issuers.nosuch: no connector instance named "nosuch"`,
		"kinetic.yaml:11: signals.receivers.bad name!: a receiver name is letters",
		"kinetic.yaml:14: signals.receivers.siem.endpoint: must not carry user info",
		`kinetic.yaml:16: signals.receivers.siem.subject_format: unknown format "phone"`,
		`kinetic.yaml:17: signals.receivers.siem.events[1]: unknown event "password-reset"`,
		`kinetic.yaml:17: signals.receivers.siem.events[2]: "session-revoked" is listed twice`,
		"kinetic.yaml:19: signals.receivers.metadata.endpoint: outbound URL refused by policy",
		"kinetic.yaml:21: signals.receivers.plain.endpoint: must be an https:// URL (RFC 8935 delivers over TLS",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, secret := range []string{"auth-SECRET", "pw@", "BEGIN"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error repeats %q:\n%v", secret, err)
		}
	}

	_, err = parseServiceT("kinetic.yaml", []byte("policy: p.yaml\nredis: {embedded: true}\nsignals:\n  issuer: https://k.example\n  receivers: {}\n  unknown_key: 1\n"))
	for _, want := range []string{
		"kinetic.yaml:3: signals.signing_key: required",
		"kinetic.yaml:5: signals.receivers: at least one receiver is required",
		"kinetic.yaml:6: signals.unknown_key",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
