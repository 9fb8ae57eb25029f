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

// jiraConfig is the jira connector's YAML block.
type jiraConfig struct {
	URL     string `yaml:"url"`
	Project string `yaml:"project"`
}

func (c jiraConfig) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, &connspec.FieldError{Field: "url", Err: errors.New("is required")})
	}
	if c.Project == "" {
		errs = append(errs, &connspec.FieldError{Field: "project", Err: errors.New("is required")})
	}
	return errors.Join(errs...)
}

type jiraConnector struct {
	name string
	cfg  jiraConfig
}

func (c *jiraConnector) Name() string { return c.name }

func (c *jiraConnector) Lookup(context.Context, connectors.Subject) (connectors.LookupResult, error) {
	return connectors.LookupResult{}, nil
}

func (c *jiraConnector) Do(context.Context, connectors.Request) (connectors.Result, error) {
	return connectors.Result{Outcome: connectors.OutcomeDone}, nil
}

func jiraDescriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:     "jira",
			NewBlock: func() any { return &jiraConfig{} },
			Validate: func(b any) error { return b.(*jiraConfig).Validate() },
			Operations: func(any) ([]string, bool) {
				return []string{string(connectors.OpCreateRecoveryTask)}, true
			},
			URLs: func(b any) map[string]connspec.URL {
				if c := b.(*jiraConfig); connspec.HTTPURL(c.URL) {
					return map[string]connspec.URL{"url": {Check: c.URL}}
				}
				return nil
			},
		},
		New: func(name string, b any, _ connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			return &jiraConnector{name: name, cfg: *b.(*jiraConfig)}, []connectors.Operation{connectors.OpCreateRecoveryTask}, nil
		},
	}
}

// --- The test.

const jiraService = `policy: p.yaml
redis: {embedded: true}
connectors:
  tickets:
    type: jira
    jira:
      url: %URL%
      project: %PROJECT%
`

func jiraYAML(url, project string) []byte {
	return []byte(strings.NewReplacer("%URL%", url, "%PROJECT%", project).Replace(jiraService))
}

// Adding a connector type is its package (above) plus one line in the
// table: it is then loaded strictly, validated with file:line:key, checked
// against the outbound URL policy and built.
func TestAddConnectorTypeIsOnePackageAndOneTableLine(t *testing.T) {
	table := append(compose.Connectors(), jiraDescriptor()) // the one line

	svc, err := table.ParseService("svc.yaml", jiraYAML("https://198.51.100.7/", "OFF"))
	if err != nil {
		t.Fatalf("ParseService: %v", err)
	}
	reg, err := table.Build(&configs.Config{Service: svc}, nil, nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	in, ok := reg.Get("tickets")
	if !ok || in.Type != "jira" || !slices.Equal(in.Operations, []connectors.Operation{connectors.OpCreateRecoveryTask}) || in.Simulated {
		t.Fatalf("tickets = %+v, %v", in, ok)
	}
	if jc, ok := in.Connector.(*jiraConnector); !ok || jc.cfg.Project != "OFF" || jc.name != "tickets" {
		t.Errorf("connector = %#v", in.Connector)
	}

	// Its validation, the outbound policy and strict keys report at
	// file:line:key like the built-in types.
	for _, tc := range []struct {
		name, url, project, want string
	}{
		{"block validation", "https://198.51.100.7/", `""`, `svc.yaml:8: connectors.tickets.jira.project: is required`},
		{"outbound policy", "http://127.0.0.1/", "OFF", `svc.yaml:7: connectors.tickets.jira.url: `},
		{"unknown key", "https://198.51.100.7/", "OFF\n      projekt: X", `svc.yaml:9: connectors.tickets.jira.projekt: unknown key "projekt" (known keys: project, url)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := table.ParseService("svc.yaml", jiraYAML(tc.url, tc.project))
			var errs *configs.Errors
			if !errors.As(err, &errs) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want *configs.Errors containing %q", err, tc.want)
			}
		})
	}

	// Without the table line the type is unknown, at its key.
	_, err = compose.ParseService("svc.yaml", jiraYAML("https://198.51.100.7/", "OFF"))
	if err == nil || !strings.Contains(err.Error(), `svc.yaml:5: connectors.tickets.type: unknown connector type "jira" (known: sandbox, webhook, ldap, graph, okta`) {
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
	if got := strings.Join(names, ", "); got != "sandbox, webhook, ldap, graph, okta, awsiam, email" {
		t.Errorf("types = %s", got)
	}
}
