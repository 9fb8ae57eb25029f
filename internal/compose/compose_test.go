package compose_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// --- A connector package written in the test: its config block with its
// validation, the connector, and its Descriptor. Nothing else is touched.

// zendeskConfig is the zendesk connector's YAML block.
type zendeskConfig struct {
	URL     string `yaml:"url"`
	Project string `yaml:"project"`
}

func (c zendeskConfig) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, &connspec.FieldError{Field: "url", Err: errors.New("is required")})
	}
	if c.Project == "" {
		errs = append(errs, &connspec.FieldError{Field: "project", Err: errors.New("is required")})
	}
	return errors.Join(errs...)
}

type zendeskConnector struct {
	name string
	cfg  zendeskConfig
}

func (c *zendeskConnector) Name() string { return c.name }

func (c *zendeskConnector) Lookup(context.Context, connectors.Subject) (connectors.LookupResult, error) {
	return connectors.LookupResult{}, nil
}

func (c *zendeskConnector) Do(context.Context, connectors.Request) (connectors.Result, error) {
	return connectors.Result{Outcome: connectors.OutcomeDone}, nil
}

func zendeskDescriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:     "zendesk",
			NewBlock: func() any { return &zendeskConfig{} },
			Validate: func(b any) error { return b.(*zendeskConfig).Validate() },
			Operations: func(any) ([]string, bool) {
				return []string{string(connectors.OpCreateRecoveryTask)}, true
			},
			URLs: func(b any) map[string]connspec.URL {
				if c := b.(*zendeskConfig); connspec.HTTPURL(c.URL) {
					return map[string]connspec.URL{"url": {Check: c.URL}}
				}
				return nil
			},
		},
		New: func(name string, b any, _ connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			return &zendeskConnector{name: name, cfg: *b.(*zendeskConfig)}, []connectors.Operation{connectors.OpCreateRecoveryTask}, nil
		},
	}
}

// --- The test.

const zendeskService = `policy: p.yaml
redis: {embedded: true}
connectors:
  tickets:
    type: zendesk
    zendesk:
      url: %URL%
      project: %PROJECT%
`

func zendeskYAML(url, project string) []byte {
	return []byte(strings.NewReplacer("%URL%", url, "%PROJECT%", project).Replace(zendeskService))
}

// Adding a connector type is its package (above) plus one line in the
// table: it is then loaded strictly, validated with file:line:key, checked
// against the outbound URL policy and built.
func TestAddConnectorTypeIsOnePackageAndOneTableLine(t *testing.T) {
	table := append(compose.Connectors(), zendeskDescriptor()) // the one line

	svc, err := table.ParseService("svc.yaml", zendeskYAML("https://198.51.100.7/", "OFF"))
	if err != nil {
		t.Fatalf("ParseService: %v", err)
	}
	reg, err := table.Build(&configs.Config{Service: svc}, nil, nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	in, ok := reg.Get("tickets")
	if !ok || in.Type != "zendesk" || !slices.Equal(in.Operations, []connectors.Operation{connectors.OpCreateRecoveryTask}) || in.Simulated {
		t.Fatalf("tickets = %+v, %v", in, ok)
	}
	if jc, ok := in.Connector.(*zendeskConnector); !ok || jc.cfg.Project != "OFF" || jc.name != "tickets" {
		t.Errorf("connector = %#v", in.Connector)
	}

	// Its validation, the outbound policy and strict keys report at
	// file:line:key like the built-in types.
	for _, tc := range []struct {
		name, url, project, want string
	}{
		{"block validation", "https://198.51.100.7/", `""`, `svc.yaml:8: connectors.tickets.zendesk.project: is required`},
		{"outbound policy", "http://127.0.0.1/", "OFF", `svc.yaml:7: connectors.tickets.zendesk.url: `},
		{"unknown key", "https://198.51.100.7/", "OFF\n      projekt: X", `svc.yaml:9: connectors.tickets.zendesk.projekt: unknown key "projekt" (known keys: project, url)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := table.ParseService("svc.yaml", zendeskYAML(tc.url, tc.project))
			var errs *configs.Errors
			if !errors.As(err, &errs) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want *configs.Errors containing %q", err, tc.want)
			}
		})
	}

	// Without the table line the type is unknown, at its key.
	_, err = compose.ParseService("svc.yaml", zendeskYAML("https://198.51.100.7/", "OFF"))
	if err == nil || !strings.Contains(err.Error(), `svc.yaml:5: connectors.tickets.type: unknown connector type "zendesk" (known: sandbox, webhook, ldap, graph, okta`) {
		t.Errorf("without the line: err = %v", err)
	}
}

// The table lists the built-in types in the order messages name them
// (configs' own tests load with the same list).
func TestConnectorsTable(t *testing.T) {
	var names []string
	for _, d := range compose.Connectors() {
		if d.New == nil || d.NewBlock == nil || d.Validate == nil || d.Operations == nil {
			t.Errorf("%s: descriptor incomplete", d.Type)
		}
		names = append(names, d.Type)
	}
	if got := strings.Join(names, ", "); !strings.HasPrefix(got, "sandbox, webhook, ldap, graph, okta, awsiam") {
		t.Errorf("types = %s", got)
	}
	for _, vpn := range []string{"aws_identity_center", "salesforce", "fortigate", "globalprotect", "wireguard", "scim", "brivo", "verkada", "servicenow", "jira", "snipeit", "intune", "jamf", "email", "desk"} {
		if !slices.Contains(names, vpn) {
			t.Errorf("the table lacks the %s type: %s", vpn, strings.Join(names, ", "))
		}
	}
}
