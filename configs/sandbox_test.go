package configs

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/internal/outbound"
)

const sandboxURLService = `policy: p.yaml
redis: {embedded: true}
outbound:
  allow_cidrs: [ALLOW]
connectors:
  okta:
    type: sandbox
    sandbox:
      system: okta
      url: URL
EXTRA`

func sandboxURLYAML(url, allow, extra string) []byte {
	return []byte(strings.NewReplacer("URL", url, "ALLOW", allow, "EXTRA", extra).Replace(sandboxURLService))
}

// TestSandboxURLBuildsRemote builds an instance with sandbox.url and checks
// that it is a client of the sandbox server: its calls change the server's
// state, through the outbound policy of the service it came from.
func TestSandboxURLBuildsRemote(t *testing.T) {
	backing, err := sandbox.New("okta", sandbox.Config{System: "okta"})
	if err != nil {
		t.Fatal(err)
	}
	dana := connectors.Subject{EmployeeID: "E100", Email: "dana@example.com"}
	backing.AddAccount(dana, connectors.Account{ID: "00u-dana", Sessions: 2})
	srv := httptest.NewServer(sandbox.NewServer(backing))
	defer srv.Close()

	svc, err := parseServiceT("s.yaml", sandboxURLYAML(srv.URL, "127.0.0.1/32", ""))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Service: svc}
	dir, err := cfg.OpenDirectory()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := cfg.BuildConnectors(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	in, ok := reg.Get("okta")
	if !ok || in.Type != "sandbox" {
		t.Fatalf("instance = %+v", in)
	}
	r, ok := in.Connector.(*sandbox.Remote)
	if !ok {
		t.Fatalf("connector is a %T, want a *sandbox.Remote", in.Connector)
	}
	if connectors.OperationNames(in.Operations) != connectors.OperationNames(sandbox.Operations("okta")) {
		t.Errorf("operations = %v, want the okta sandbox's", in.Operations)
	}
	if _, ok := in.Connector.(connectors.Verifier); !ok {
		t.Error("a remote sandbox instance is not a Verifier")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := in.Connector.Do(ctx, connectors.Request{Operation: connectors.OpRevokeSessions, Subject: dana})
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	// The state is the server's alone: the directory did not seed the
	// client, and the effect is recorded on the server.
	if effects := backing.Effects(); len(effects) != 1 || effects[0].Account != "00u-dana" {
		t.Errorf("server effects = %+v", effects)
	}
	if effects, err := r.Effects(ctx); err != nil || len(effects) != 1 {
		t.Errorf("Remote.Effects = %+v, %v", effects, err)
	}

	// The policy validates against the remote instance's operations.
	pol := "version: 1\nactions:\n  off:\n    connector: okta\n    operation: revoke_vpn\n    phase: critical\nrules:\n  - name: everyone\n    add: [off]\n"
	_, err = ParsePolicy("p.yaml", []byte(pol), svc)
	if err == nil || !strings.Contains(err.Error(), `p.yaml:5: actions.off.operation: connector "okta" (sandbox system okta) does not support operation "revoke_vpn"`) {
		t.Errorf("policy err = %v", err)
	}
}

func TestSandboxURLRefusals(t *testing.T) {
	tests := []struct {
		name, url, allow, extra string
		want                    []string
	}{
		{"latency with url", "http://127.0.0.1:8700", "127.0.0.1/32", "      latency: 1s\n      error_rate: 0.1\n", []string{
			"s.yaml:11: connectors.okta.sandbox.latency: latency must not be set with url",
			"s.yaml:12: connectors.okta.sandbox.error_rate: error_rate must not be set with url",
		}},
		{"loopback not allowed", "http://127.0.0.1:8700", "10.0.0.0/8", "", []string{
			"s.yaml:10: connectors.okta.sandbox.url: outbound URL refused by policy: http://127.0.0.1:8700/: host resolves to 127.0.0.1 (loopback); add it to outbound.allow_cidrs to allow",
		}},
		{"no host", "http://", "127.0.0.1/32", "", []string{
			"s.yaml:10: connectors.okta.sandbox.url: url has no host",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseServiceT("s.yaml", sandboxURLYAML(tt.url, tt.allow, tt.extra))
			var errs *Errors
			if !errors.As(err, &errs) || len(errs.List) != len(tt.want) {
				t.Fatalf("err = %v, want %d errors", err, len(tt.want))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant %s", err, w)
				}
			}
		})
	}

	// A loopback URL the policy does not allow is refused at the
	// connection too (as if it had resolved elsewhere at load).
	svc, err := parseServiceT("s.yaml", sandboxURLYAML("http://127.0.0.1:8700", "127.0.0.1/32", ""))
	if err != nil {
		t.Fatal(err)
	}
	svc.Outbound.AllowCIDRs = nil
	reg, err := (&Config{Service: svc}).BuildConnectors(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	in, _ := reg.Get("okta")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = in.Connector.Lookup(ctx, connectors.Subject{Email: "dana@example.com"})
	if !errors.Is(err, outbound.ErrURLRefused) || connectors.KindOf(err) != connectors.KindInvalid {
		t.Errorf("err = %v, want a refusal", err)
	}

	// Construction errors are reported like the other types'.
	bad := &Config{Service: &Service{Connectors: map[string]*ConnectorInstance{
		"s": {Type: "sandbox", Block: &sandbox.Config{System: "okta", URL: "http://127.0.0.1:8700", RateLimit: 5}},
	}}}
	_, err = bad.BuildConnectors(nil, nil)
	if err == nil || !strings.Contains(err.Error(), `connector "s": sandbox connector "s": rate_limit must not be set with url`) {
		t.Errorf("err = %v", err)
	}
}
