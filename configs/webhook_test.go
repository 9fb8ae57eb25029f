package configs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/webhook"
	"github.com/kineticsec/kinetic/internal/outbound"
)

const webhookService = `policy: p.yaml
redis: {embedded: true}
outbound:
  allow_cidrs: [ALLOW]
connectors:
  badges:
    type: webhook
    webhook:
      base_url: BASE
      auth:
        bearer: {env: KINETIC_TEST_WEBHOOK_TOKEN}
      lookup:
        path: "/people?email={{.Email}}"
        id_field: id
        status_field: state
      operations:
        deactivate_badge:
          path: "/badges/{{.Account}}/deactivate"
          already_status: [409]
`

func webhookYAML(base, allow string) []byte {
	return []byte(strings.NewReplacer("BASE", base, "ALLOW", allow).Replace(webhookService))
}

// An internal address is refused unless outbound.allow_cidrs lists it; the
// cloud metadata address is refused (testdata/invalid/
// service-webhook-metadata.yaml) and no allowlist may open it
// (service-allow-metadata.yaml).
func TestWebhookBaseURLAllowedByCIDR(t *testing.T) {
	t.Setenv("KINETIC_TEST_WEBHOOK_TOKEN", "wh-SECRET-1")
	svc, err := parseServiceT("s.yaml", webhookYAML("http://10.1.2.3/latest", "10.1.2.3/32"))
	if err != nil {
		t.Fatal(err)
	}
	wh := webhookBlock(svc.Connectors["badges"])
	if wh == nil || wh.BaseURL != "http://10.1.2.3/latest" || wh.Auth.Bearer.Value() != "wh-SECRET-1" {
		t.Fatalf("webhook block = %+v", wh)
	}

	_, err = parseServiceT("s.yaml", webhookYAML("http://169.254.169.254/latest", "10.0.0.0/8"))
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.List) != 1 {
		t.Fatalf("err = %v, want one error", err)
	}
	if e := errs.List[0]; e.Line != 9 || e.Key != "connectors.badges.webhook.base_url" || !strings.Contains(e.Msg, "outbound.allow_cidrs") {
		t.Errorf("error = %+v", e)
	}
}

// TestWebhookBuiltWithOutboundPolicy builds a webhook instance and checks
// that it calls through the outbound policy of the service it came from.
func TestWebhookBuiltWithOutboundPolicy(t *testing.T) {
	t.Setenv("KINETIC_TEST_WEBHOOK_TOKEN", "wh-SECRET-2")
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer wh-SECRET-2" || r.URL.Path != "/badges/B-7/deactivate" || r.Method != "POST" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusConflict)
	}))
	defer srv.Close()

	svc, err := parseServiceT("s.yaml", webhookYAML(srv.URL, "127.0.0.0/8"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Service: svc}
	reg, err := cfg.BuildConnectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	in, ok := reg.Get("badges")
	if !ok || in.Type != "webhook" || !connectors.Supports(in.Operations, connectors.OpDeactivateBadge) || len(in.Operations) != 1 {
		t.Fatalf("instance = %+v", in)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := connectors.Request{Operation: connectors.OpDeactivateBadge, Account: "B-7"}
	res, err := in.Connector.Do(ctx, req)
	if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	if _, ok := in.Connector.(connectors.Verifier); !ok {
		t.Error("a webhook instance is not a Verifier")
	}

	// The same instance under a policy that does not allow loopback (as if
	// the URL had resolved elsewhere at load): refused at the connection.
	svc.Outbound.AllowCIDRs = nil
	reg2, err := cfg.BuildConnectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	in, _ = reg2.Get("badges")
	_, err = in.Connector.Do(ctx, req)
	if !errors.Is(err, outbound.ErrURLRefused) || connectors.KindOf(err) != connectors.KindInvalid {
		t.Errorf("err = %v, want a refusal", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls reached the server, want 1", n)
	}

	// Construction errors are reported like the other types'.
	bad := &Config{Service: &Service{Connectors: map[string]*ConnectorInstance{
		"w": {Type: "webhook"},
		"v": {Type: "webhook", Block: &webhook.Config{}},
	}}}
	_, err = bad.BuildConnectors(nil, nil)
	for _, w := range []string{`"w": type webhook needs a webhook block`, `"v": webhook connector "v": base_url: is required`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want %q", err, w)
		}
	}
}

func TestWebhookOperationsCheckedByPolicy(t *testing.T) {
	t.Setenv("KINETIC_TEST_WEBHOOK_TOKEN", "wh-SECRET-3")
	svc, err := parseServiceT("s.yaml", webhookYAML("https://198.51.100.7/api", "10.0.0.0/8"))
	if err != nil {
		t.Fatal(err)
	}
	pol := `version: 1
actions:
  badge_off:
    connector: badges
    operation: deactivate_badge
    phase: critical
  badge_vpn:
    connector: badges
    operation: revoke_vpn
    phase: critical
rules:
  - name: everyone
    add: [badge_off, badge_vpn]
`
	_, err = ParsePolicy("p.yaml", []byte(pol), svc)
	want := `p.yaml:9: actions.badge_vpn.operation: connector "badges" (webhook) does not support operation "revoke_vpn" (supported: deactivate_badge)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

func TestWebhookMissingBlock(t *testing.T) {
	_, err := parseServiceT("s.yaml", []byte("policy: p.yaml\nredis: {embedded: true}\nconnectors:\n  badges: {type: webhook}\n"))
	if err == nil || !strings.Contains(err.Error(), "s.yaml:4: connectors.badges: type webhook needs a webhook: block") {
		t.Errorf("err = %v", err)
	}
}

// TestExampleWebhookInstance uncomments the webhook instance in
// kinetic.example.yaml (commented out there because the example's tests do
// not set its secret) and checks that it loads.
func TestExampleWebhookInstance(t *testing.T) {
	data, err := os.ReadFile("kinetic.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "  # intranet:") {
			in = true
		}
		if in {
			if !strings.HasPrefix(line, "  # ") {
				break
			}
			block = append(block, "  "+strings.TrimPrefix(line, "  # "))
		}
	}
	if len(block) < 10 {
		t.Fatalf("no commented webhook instance found in kinetic.example.yaml (%d lines)", len(block))
	}
	t.Setenv("KINETIC_INTRANET_TOKEN", "intranet-SECRET-4")
	src := "policy: p.yaml\nredis: {embedded: true}\noutbound:\n  allow_cidrs: [10.20.0.0/16]\nconnectors:\n" + strings.Join(block, "\n") + "\n"
	svc, err := parseServiceT("example.yaml", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	ci := svc.Connectors["intranet"]
	if ci == nil || ci.Type != "webhook" || webhookBlock(ci) == nil || webhookBlock(ci).Auth.Bearer.Value() != "intranet-SECRET-4" {
		t.Fatalf("intranet = %+v", ci)
	}
	if ops, ok := instanceOperations(ci); !ok || len(ops) != 1 || ops[0] != string(connectors.OpDeactivateUser) {
		t.Errorf("operations = %v", ops)
	}
	cfg := &Config{Service: svc}
	reg, err := cfg.BuildConnectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg.Close()
}
