package configs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

// TestExampleVPNInstances uncomments the VPN instances of
// kinetic.example.yaml (fortigate, globalprotect, wireguard, and the
// webhook worked example for Cisco Secure Access) and checks that they
// load, build and offer the operations their comments describe, with the
// files they name written next to the service file.
func TestExampleVPNInstances(t *testing.T) {
	clearEnv(t)
	t.Setenv("KINETIC_FORTIGATE_TOKEN", "fgt-SECRET-example")
	t.Setenv("KINETIC_PANOS_KEY", "panos-SECRET-example")
	t.Setenv("KINETIC_SSE_TOKEN", "sse-SECRET-example")
	dir := t.TempDir()
	writeTestCA(t, filepath.Join(dir, "corp-ca.pem"))
	peers := "dana@example.com: [\"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "wireguard-peers.yaml"), []byte(peers), 0o600); err != nil {
		t.Fatal(err)
	}

	var src strings.Builder
	src.WriteString("policy: p.yaml\nredis: {embedded: true}\noutbound:\n  allow_hosts: [fw-hq.corp.example, pa-hq.corp.example, api.sse.cisco.com]\nconnectors:\n")
	for _, name := range []string{"fw-hq", "pa-hq", "wg-vpn", "sse-vpn"} {
		block := exampleInstance(t, name)
		if len(block) < 6 {
			t.Fatalf("no commented %s instance found in kinetic.example.yaml (%d lines)", name, len(block))
		}
		src.WriteString(strings.Join(block, "\n") + "\n")
	}
	svc, err := parseServiceT(filepath.Join(dir, "example.yaml"), []byte(src.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, src.String())
	}
	pol := `version: 1
actions:
  vpn_fortigate: {connector: fw-hq, operation: revoke_vpn, phase: critical}
  vpn_globalprotect: {connector: pa-hq, operation: revoke_vpn, phase: critical}
  vpn_wireguard: {connector: wg-vpn, operation: revoke_vpn, phase: critical}
  vpn_sse: {connector: sse-vpn, operation: revoke_sessions, phase: critical}
rules:
  - name: everyone
    add: [vpn_fortigate, vpn_globalprotect, vpn_wireguard, vpn_sse]
`
	if _, err := ParsePolicy("p.yaml", []byte(pol), svc); err != nil {
		t.Fatal(err)
	}
	reg, err := (&Config{Service: svc}).BuildConnectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if names := reg.Names(); !slices.Equal(names, []string{"fw-hq", "pa-hq", "sse-vpn", "wg-vpn"}) {
		t.Errorf("registry = %v", names)
	}
	for name, op := range map[string]connectors.Operation{"fw-hq": connectors.OpRevokeVPN, "pa-hq": connectors.OpRevokeVPN, "wg-vpn": connectors.OpRevokeVPN, "sse-vpn": connectors.OpRevokeSessions} {
		in, ok := reg.Get(name)
		if !ok || !connectors.Supports(in.Operations, op) {
			t.Errorf("%s does not offer %s: %+v", name, op, in)
		}
	}
}

func writeTestCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "corp CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
