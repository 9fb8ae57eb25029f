package configs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// identityService has one instance of each identity connector type (plus a
// second okta instance whose OAuth scopes cannot manage groups). Every URL
// is on 127.0.0.1, allowed by outbound.allow_cidrs; @GRAPH@, @OKTA@ and @LDAP@ are
// replaced by each test. Key and certificate paths are relative to the
// service file.
const identityService = `policy: policy.yaml
redis: {embedded: true}
outbound:
  allow_cidrs: [127.0.0.0/8]
connectors:
  entra:
    type: graph
    graph:
      tenant_id: contoso.onmicrosoft.com
      client_id: 11111111-2222-3333-4444-555555555555
      certificate_file: entra-cert.pem
      private_key_file: entra-key.pem
      authority_url: @GRAPH@
      graph_url: @GRAPH@/v1.0
      keep_groups: [Alumni]
  okta-prod:
    type: okta
    okta:
      org_url: @OKTA@
      api_token: {env: KINETIC_TEST_OKTA_TOKEN}
  okta-svc:
    type: okta
    okta:
      org_url: @OKTA@
      oauth:
        client_id: 0oa1b2c3d4e5f6g7h8i9
        private_key_file: keys/okta-svc.pem
        scopes: [okta.users.manage]
  ad-corp:
    type: ldap
    ldap:
      url: @LDAP@
      ca_file: ca.pem
      bind_dn: CN=svc-kinetic,OU=Service Accounts,DC=corp,DC=example
      bind_password: {env: KINETIC_TEST_AD_PASSWORD}
      base_dn: OU=Staff,DC=corp,DC=example
      disabled_ou: OU=Disabled,OU=Staff,DC=corp,DC=example
`

// identityPolicy uses every new type: graph, okta and ldap actions side by
// side, as a real departure would.
const identityPolicy = `version: 1
actions:
  block_entra:
    connector: entra
    operation: disable_account
    phase: critical
  revoke_entra_sessions:
    connector: entra
    operation: revoke_sessions
    phase: critical
    depends_on: [block_entra]
  remove_entra_groups:
    connector: entra
    operation: remove_group_memberships
    phase: entitlements
  revoke_okta_sessions:
    connector: okta-prod
    operation: revoke_sessions
    phase: critical
  deactivate_okta:
    connector: okta-prod
    operation: deactivate_user
    phase: critical
    depends_on: [revoke_okta_sessions]
  disable_ad:
    connector: ad-corp
    operation: disable_account
    phase: critical
  remove_ad_groups:
    connector: ad-corp
    operation: remove_group_memberships
    phase: entitlements
rules:
  - name: everyone
    add: [block_entra, revoke_entra_sessions, remove_entra_groups, revoke_okta_sessions, deactivate_okta, disable_ad, remove_ad_groups]
`

// identityDir writes the service file (with the given base URLs), the
// policy, the Graph certificate and key, the Okta service app's key and the
// LDAP CA bundle into a temporary directory and returns the service file's
// path.
func identityDir(t *testing.T, graphURL, oktaURL, ldapURL string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Entra certificate credentials: an RSA key and its certificate.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kinetic-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	write("entra-cert.pem", certPEM)
	write("entra-key.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	write("ca.pem", certPEM)
	// Okta private_key_jwt: an EC P-256 key in PKCS#8.
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	write("keys/okta-svc.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))

	svc := strings.NewReplacer("@GRAPH@", graphURL, "@OKTA@", oktaURL, "@LDAP@", ldapURL).Replace(identityService)
	write("kinetic.yaml", []byte(svc))
	write("policy.yaml", []byte(identityPolicy))
	return filepath.Join(dir, "kinetic.yaml")
}

func identityEnv(t *testing.T) {
	t.Helper()
	clearEnv(t)
	t.Setenv("KINETIC_TEST_OKTA_TOKEN", "okta-SECRET-identity")
	t.Setenv("KINETIC_TEST_AD_PASSWORD", "ad-SECRET-identity")
}

// A service with one instance of each of graph, okta and ldap loads, every
// instance builds, and a policy can use all three.
func TestIdentityConnectorsLoadAndBuild(t *testing.T) {
	identityEnv(t)
	path := identityDir(t, "http://127.0.0.1:9", "http://127.0.0.1:9", "ldaps://127.0.0.1:6360")
	dir := filepath.Dir(path)
	cfg, err := loadT(path)
	if err != nil {
		t.Fatal(err)
	}
	svc := cfg.Service

	// Relative key, certificate and CA paths are taken relative to the
	// service file, not the working directory.
	g := graphBlock(svc.Connectors["entra"])
	if g.CertificateFile != filepath.Join(dir, "entra-cert.pem") || g.PrivateKeyFile != filepath.Join(dir, "entra-key.pem") {
		t.Errorf("graph files = %q, %q", g.CertificateFile, g.PrivateKeyFile)
	}
	if f := oktaBlock(svc.Connectors["okta-svc"]).OAuth.PrivateKeyFile; f != filepath.Join(dir, "keys", "okta-svc.pem") {
		t.Errorf("okta private_key_file = %q", f)
	}
	if f := ldapBlock(svc.Connectors["ad-corp"]).CAFile; f != filepath.Join(dir, "ca.pem") {
		t.Errorf("ldap ca_file = %q", f)
	}
	if v := oktaBlock(svc.Connectors["okta-prod"]).APIToken.Value(); v != "okta-SECRET-identity" {
		t.Errorf("okta api_token not resolved")
	}
	if v := ldapBlock(svc.Connectors["ad-corp"]).BindPassword.Value(); v != "ad-SECRET-identity" {
		t.Errorf("ldap bind_password not resolved")
	}

	// The policy using all three validated with the service.
	if cfg.Policy == nil || len(cfg.Policy.File.Actions) != 7 {
		t.Fatalf("policy = %+v", cfg.Policy)
	}

	reg, err := cfg.BuildConnectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	want := map[string]struct {
		typ string
		ops []connectors.Operation
	}{
		"entra": {"graph", []connectors.Operation{
			connectors.OpDisableAccount, connectors.OpRevokeSessions, connectors.OpRemoveGroupMemberships,
			connectors.OpRemoveLicenses, connectors.OpSetAutoReply, connectors.OpSetForwarding, connectors.OpRemoveForwarding,
			connectors.OpRemoveSiteAccess, connectors.OpGrantDriveAccess, connectors.OpRemoveDriveAccess, connectors.OpDeleteMailbox,
		}},
		"okta-prod": {"okta", []connectors.Operation{connectors.OpDeactivateUser, connectors.OpRevokeSessions, connectors.OpRemoveGroupMemberships}},
		"okta-svc":  {"okta", []connectors.Operation{connectors.OpDeactivateUser, connectors.OpRevokeSessions}},
		"ad-corp":   {"ldap", []connectors.Operation{connectors.OpDisableAccount, connectors.OpRemoveGroupMemberships}},
	}
	if names := reg.Names(); !slices.Equal(names, []string{"ad-corp", "entra", "okta-prod", "okta-svc"}) {
		t.Fatalf("registry = %v", names)
	}
	for name, w := range want {
		in, _ := reg.Get(name)
		if in.Type != w.typ || connectors.OperationNames(in.Operations) != connectors.OperationNames(w.ops) {
			t.Errorf("%s: type %s, operations %v; want %s, %v", name, in.Type, in.Operations, w.typ, w.ops)
		}
		// Config validation and the built instance agree on operations.
		if ops, ok := instanceOperations(svc.Connectors[name]); !ok || strings.Join(slices.Sorted(slices.Values(ops)), ", ") != connectors.OperationNames(in.Operations) {
			t.Errorf("%s: instanceOperations = %v, %v; built %v", name, ops, ok, in.Operations)
		}
		if in.Connector.Name() != name {
			t.Errorf("%s: Name() = %q", name, in.Connector.Name())
		}
		if _, ok := in.Connector.(connectors.Verifier); !ok {
			t.Errorf("%s is not a Verifier", name)
		}
		if _, ok := in.Connector.(connectors.Closer); !ok {
			t.Errorf("%s is not a Closer", name)
		}
	}
}

// An action naming an operation its connector's type does not support is
// an error at the action's operation key, naming what the instance does
// support.
func TestIdentityUnsupportedOperations(t *testing.T) {
	identityEnv(t)
	cfg, err := loadT(identityDir(t, "http://127.0.0.1:9", "http://127.0.0.1:9", "ldaps://127.0.0.1:6360"))
	if err != nil {
		t.Fatal(err)
	}
	pol := `version: 1
actions:
  convert_okta_mailbox:
    connector: okta-prod
    operation: convert_mailbox
    phase: critical
  remove_okta_groups:
    connector: okta-svc
    operation: remove_group_memberships
    phase: entitlements
  revoke_ad_sessions:
    connector: ad-corp
    operation: revoke_sessions
    phase: critical
  convert_entra_mailbox:
    connector: entra
    operation: convert_mailbox
    phase: entitlements
  # A manual step is never sent to its connector: the connector names the
  # system (and its owning team), so any operation is accepted.
  convert_entra_mailbox_by_hand:
    connector: entra
    operation: convert_mailbox
    phase: entitlements
    manual: true
rules:
  - name: everyone
    add: [convert_okta_mailbox, remove_okta_groups, revoke_ad_sessions, convert_entra_mailbox, convert_entra_mailbox_by_hand]
`
	_, err = ParsePolicy("p.yaml", []byte(pol), cfg.Service)
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want *Errors", err)
	}
	want := []string{
		`p.yaml:5: actions.convert_okta_mailbox.operation: connector "okta-prod" (okta) does not support operation "convert_mailbox" (supported: deactivate_user, remove_group_memberships, revoke_sessions)`,
		// OAuth scopes without okta.groups.manage: no group removal.
		`p.yaml:9: actions.remove_okta_groups.operation: connector "okta-svc" (okta) does not support operation "remove_group_memberships" (supported: deactivate_user, revoke_sessions)`,
		`p.yaml:13: actions.revoke_ad_sessions.operation: connector "ad-corp" (ldap) does not support operation "revoke_sessions" (supported: disable_account, remove_group_memberships)`,
		// Graph cannot change a mailbox's type; that needs Exchange Online.
		`p.yaml:17: actions.convert_entra_mailbox.operation: connector "entra" (graph) does not support operation "convert_mailbox" (supported: delete_mailbox, disable_account, grant_drive_access, remove_drive_access, remove_forwarding, remove_group_memberships, remove_licenses, remove_site_access, revoke_sessions, set_auto_reply, set_forwarding)`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

// Every URL the three types call is checked against the outbound URL
// policy at load (loopback here, refused without outbound.allow_cidrs),
// each reported at its own key.
func TestIdentityBaseURLsCheckedAtLoad(t *testing.T) {
	identityEnv(t)
	path := identityDir(t, "http://127.0.0.1:9", "http://127.0.0.1:9", "ldaps://127.0.0.1:6360")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "outbound:\n  allow_cidrs: [127.0.0.0/8]\n", "", 1))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = loadT(path)
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want *Errors", err)
	}
	type at struct {
		line int
		key  string
	}
	var got []at
	for _, e := range errs.List {
		if !strings.Contains(e.Msg, "outbound URL refused by policy") || !strings.Contains(e.Msg, "(loopback)") {
			t.Errorf("unexpected error %v", e)
		}
		got = append(got, at{e.Line, e.Key})
	}
	want := []at{
		{11, "connectors.entra.graph.authority_url"},
		{12, "connectors.entra.graph.graph_url"},
		{17, "connectors.okta-prod.okta.org_url"},
		{22, "connectors.okta-svc.okta.org_url"},
		{30, "connectors.ad-corp.ldap.url"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors at %v\nwant %v\n%v", got, want, err)
	}
	if !strings.Contains(err.Error(), "connectors.ad-corp.ldap.url: outbound URL refused by policy: ldaps://127.0.0.1:6360/: host resolves to 127.0.0.1 (loopback)") {
		t.Errorf("the LDAP URL is not named as written:\n%v", err)
	}
}

// The built instances connect through the service's outbound URL policy:
// allowed, their calls reach the (loopback) servers; under a policy that
// does not allow loopback, they are refused before any connection.
func TestIdentityConnectorsUseOutboundPolicy(t *testing.T) {
	identityEnv(t)
	var httpCalls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_request","errorCode":"E0000001","errorSummary":"test server"}`))
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialled := make(chan struct{}, 16)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			dialled <- struct{}{}
			conn.Close() // no TLS: the handshake fails
		}
	}()

	cfg, err := loadT(identityDir(t, srv.URL, srv.URL, "ldaps://"+ln.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	subject := connectors.Subject{Email: "dana.whitfield@example.com", Username: "dwhitfield"}

	reg, err := cfg.BuildConnectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, name := range []string{"entra", "okta-prod"} {
		in, _ := reg.Get(name)
		before := httpCalls.Load()
		if _, err := in.Connector.Lookup(ctx, subject); err == nil || errors.Is(err, outbound.ErrURLRefused) {
			t.Errorf("%s: Lookup err = %v, want the test server's refusal", name, err)
		}
		if httpCalls.Load() == before {
			t.Errorf("%s: no request reached the allowed server", name)
		}
	}
	in, _ := reg.Get("ad-corp")
	if _, err := in.Connector.Lookup(ctx, subject); err == nil || errors.Is(err, outbound.ErrURLRefused) {
		t.Errorf("ad-corp: Lookup err = %v, want a TLS failure", err)
	}
	select {
	case <-dialled:
	case <-ctx.Done():
		t.Fatal("ad-corp never connected to the allowed server")
	}

	// As if the hosts had resolved elsewhere at load: refused at the
	// connection, and nothing reaches the servers.
	cfg.Service.Outbound.AllowCIDRs = nil
	reg2, err := cfg.BuildConnectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	before := httpCalls.Load()
	for _, name := range []string{"entra", "okta-prod", "okta-svc", "ad-corp"} {
		in, _ := reg2.Get(name)
		_, err := in.Connector.Lookup(ctx, subject)
		if !errors.Is(err, outbound.ErrURLRefused) {
			t.Errorf("%s: Lookup err = %v, want a refusal by the outbound URL policy", name, err)
		}
		if err != nil && (strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "BEGIN")) {
			t.Errorf("%s: error carries a secret: %v", name, err)
		}
	}
	if n := httpCalls.Load(); n != before {
		t.Errorf("%d requests reached the server under a refusing policy", n-before)
	}
	select {
	case <-dialled:
		t.Error("ad-corp connected under a refusing policy")
	default:
	}
}

// Construction errors of the new types are reported like the others'.
func TestIdentityBuildErrors(t *testing.T) {
	bad := &Config{Service: &Service{Connectors: map[string]*ConnectorInstance{
		"g": {Type: "graph"},
		"o": {Type: "okta"},
		"l": {Type: "ldap"},
	}}}
	_, err := bad.BuildConnectors(nil, nil)
	for _, w := range []string{
		`"g": type graph needs a graph block`,
		`"o": type okta needs an okta block`,
		`"l": type ldap needs an ldap block`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want %q", err, w)
		}
	}
}

// exampleInstance returns the commented-out instance name in
// kinetic.example.yaml, uncommented: the line "  # NAME:" and every
// following line indented further below the comment marker (or an empty
// comment line).
func exampleInstance(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile("kinetic.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case len(block) == 0 && line == "  # "+name+":":
			block = append(block, "  "+name+":")
		case len(block) == 0:
		case strings.HasPrefix(line, "  #   "):
			block = append(block, "  "+strings.TrimPrefix(line, "  # "))
		case line == "  #":
			block = append(block, "")
		default:
			return block
		}
	}
	return block
}

// TestExampleIdentityInstances uncomments the graph, okta and ldap
// instances in kinetic.example.yaml (commented out there because they need
// secrets and files the example's tests do not provide) and checks that
// they load, build and offer the operations the example's comments
// describe. Their relative files are written next to the service file.
func TestExampleIdentityInstances(t *testing.T) {
	clearEnv(t)
	t.Setenv("KINETIC_OKTA_TOKEN", "okta-SECRET-example")
	t.Setenv("KINETIC_AD_BIND_PASSWORD", "ad-SECRET-example")
	var src strings.Builder
	// allow_hosts lets the hosts of the example pass the outbound policy
	// without a DNS lookup (tests do not depend on the network); in
	// production the example's own outbound block applies.
	src.WriteString("policy: p.yaml\nredis: {embedded: true}\noutbound:\n  allow_cidrs: [10.20.0.0/16]\n  allow_hosts: [example.okta.com, dc1.corp.example]\nconnectors:\n")
	for _, name := range []string{"entra", "okta-prod", "ad-corp"} {
		block := exampleInstance(t, name)
		if len(block) < 8 {
			t.Fatalf("no commented %s instance found in kinetic.example.yaml (%d lines)", name, len(block))
		}
		src.WriteString(strings.Join(block, "\n") + "\n")
	}
	// The files the example names, relative to the service file:
	// entra-cert.pem, entra-key.pem and corp-ca.pem.
	dir := filepath.Dir(identityDir(t, "http://127.0.0.1:9", "http://127.0.0.1:9", "ldaps://127.0.0.1:6360"))
	if err := os.Rename(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "corp-ca.pem")); err != nil {
		t.Fatal(err)
	}
	yaml := src.String()
	svc, err := parseServiceT(filepath.Join(dir, "example.yaml"), []byte(yaml))
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}

	entra, okt, ad := svc.Connectors["entra"], svc.Connectors["okta-prod"], svc.Connectors["ad-corp"]
	if entra == nil || entra.Type != "graph" || graphBlock(entra) == nil || graphBlock(entra).TenantID != "contoso.onmicrosoft.com" ||
		graphBlock(entra).CertificateFile != filepath.Join(dir, "entra-cert.pem") || !graphBlock(entra).BatchEnabled() {
		t.Errorf("entra = %+v", entra)
	}
	if okt == nil || okt.Type != "okta" || oktaBlock(okt) == nil || oktaBlock(okt).APIToken.Value() != "okta-SECRET-example" ||
		oktaBlock(okt).DeactivateMode != "deactivate" || okt.RateLimit == nil || okt.RateLimit.Requests != 300 {
		t.Errorf("okta-prod = %+v", okt)
	}
	if ad == nil || ad.Type != "ldap" || ldapBlock(ad) == nil || ldapBlock(ad).BindPassword.Value() != "ad-SECRET-example" ||
		ldapBlock(ad).CAFile != filepath.Join(dir, "corp-ca.pem") || !ldapBlock(ad).ResetPassword {
		t.Errorf("ad-corp = %+v", ad)
	}

	// A policy over the example instances.
	pol := `version: 1
actions:
  block_entra: {connector: entra, operation: disable_account, phase: critical}
  revoke_entra: {connector: entra, operation: revoke_sessions, phase: critical}
  entra_licenses: {connector: entra, operation: remove_licenses, phase: entitlements}
  entra_auto_reply: {connector: entra, operation: set_auto_reply, phase: notifications, params: {auto_reply: "Dana has left."}}
  deactivate_okta: {connector: okta-prod, operation: deactivate_user, phase: critical}
  okta_groups: {connector: okta-prod, operation: remove_group_memberships, phase: entitlements}
  disable_ad: {connector: ad-corp, operation: disable_account, phase: critical}
  ad_groups: {connector: ad-corp, operation: remove_group_memberships, phase: entitlements}
rules:
  - name: everyone
    add: [block_entra, revoke_entra, entra_licenses, entra_auto_reply, deactivate_okta, okta_groups, disable_ad, ad_groups]
`
	if _, err := ParsePolicy("p.yaml", []byte(pol), svc); err != nil {
		t.Error(err)
	}

	cfg := &Config{Service: svc}
	reg, err := cfg.BuildConnectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if names := reg.Names(); !slices.Equal(names, []string{"ad-corp", "entra", "okta-prod"}) {
		t.Errorf("registry = %v", names)
	}
}
