package webhook_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/webhook"
	"github.com/kineticsec/kinetic/internal/secret"
)

// docExample is the YAML block from the package documentation.
const docExample = `
base_url: https://badges.corp.example/api/v2
auth:
  bearer: {env: BADGE_TOKEN}
headers: {Accept: application/json}
lookup:
  method: GET
  path: "/people?email={{.Email}}"
  missing_status: [404]
  id_field: id
  status_field: state
  active_values: [active, enabled]
  kind: badge
operations:
  deactivate_badge:
    method: POST
    path: "/badges/{{.Account}}/deactivate"
    body: '{"reason": {{json .Params.reason}}, "request": {{json .IdempotencyKey}}}'
    already_status: [409]
    verify_status: [disabled, inactive]
`

func TestDocExampleValidates(t *testing.T) {
	var cfg webhook.Config
	dec := yaml.NewDecoder(strings.NewReader(docExample))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.Bearer.Env != "BADGE_TOKEN" || cfg.Lookup.IDField != "id" || len(cfg.Operations) != 1 {
		t.Errorf("decoded %+v", cfg)
	}
	// It prints its secret as a reference, never a value.
	cfg.Auth.Bearer = func() *secret.Secret { s := secret.FromValue("tok-value-never-printed"); return &s }()
	var b bytes.Buffer
	if err := yaml.NewEncoder(&b).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "tok-value-never-printed") {
		t.Errorf("yaml prints the secret:\n%s", b.String())
	}
}

// fieldErrors maps each *FieldError in err to its message.
func fieldErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err == nil {
		return out
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *webhook.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("error %q is not a *FieldError", e)
			continue
		}
		out[fe.Field] = fe.Err.Error()
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	sec := secret.Secret{Env: "BADGE_TOKEN"}
	valid := func() webhook.Config {
		cfg := badgeConfig("https://badges.corp.example")
		cfg.Auth = &webhook.Auth{Bearer: &sec}
		return cfg
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	op := func(cfg *webhook.Config, f func(*webhook.OperationSpec)) {
		o := cfg.Operations[connectors.OpDeactivateBadge]
		f(&o)
		cfg.Operations[connectors.OpDeactivateBadge] = o
	}
	const deact = "operations.deactivate_badge"
	for _, tc := range []struct {
		name   string
		change func(*webhook.Config)
		field  string
		msg    string
	}{
		{"base_url required", func(c *webhook.Config) { c.BaseURL = "" }, "base_url", "is required"},
		{"base_url http(s) only", func(c *webhook.Config) { c.BaseURL = "ftp://badges.corp.example/" }, "base_url", `must use http or https (got scheme "ftp")`},
		{"base_url without scheme", func(c *webhook.Config) { c.BaseURL = "badges.corp.example/api" }, "base_url", "must use http or https"},
		{"base_url without user info", func(c *webhook.Config) { c.BaseURL = "https://svc:pw@badges.corp.example/" }, "base_url", "must not carry user info: put credentials in auth"},
		{"base_url without query", func(c *webhook.Config) { c.BaseURL = "https://badges.corp.example/?api_key=x" }, "base_url", "must not have a query"},
		{"two auth forms", func(c *webhook.Config) {
			c.Auth.Basic = &webhook.BasicAuth{Username: "svc", Password: sec}
		}, "auth", "set exactly one of bearer, basic or header (found bearer and basic)"},
		{"empty auth", func(c *webhook.Config) { c.Auth = &webhook.Auth{} }, "auth", "found none"},
		{"basic needs a password", func(c *webhook.Config) {
			c.Auth = &webhook.Auth{Basic: &webhook.BasicAuth{Username: "svc"}}
		}, "auth.basic.password", "password is required"},
		{"header auth needs a valid name", func(c *webhook.Config) {
			c.Auth = &webhook.Auth{Header: &webhook.HeaderAuth{Name: "X Api Key", Value: sec}}
		}, "auth.header.name", "not a valid header name"},
		{"no Authorization in headers", func(c *webhook.Config) { c.Headers = map[string]string{"authorization": "Bearer x"} }, "headers.authorization", "use auth"},
		{"no line breaks in headers", func(c *webhook.Config) { c.Headers = map[string]string{"X-Note": "a\r\nX-Evil: 1"} }, "headers.X-Note", "line breaks"},
		{"lookup path required", func(c *webhook.Config) { c.Lookup.Path = "" }, "lookup.path", "path is required"},
		{"bad lookup template", func(c *webhook.Config) { c.Lookup.Path = "/people?email={{.Email" }, "lookup.path", "template: path:1: unclosed action"},
		{"unknown template field", func(c *webhook.Config) { c.Lookup.Path = "/people?email={{.Emial}}" }, "lookup.path", "can't evaluate field Emial"},
		{"bad method", func(c *webhook.Config) { c.Lookup.Method = "TRACE" }, "lookup.method", `unknown method "TRACE" (want GET, POST, PUT, PATCH, DELETE)`},
		{"status out of range", func(c *webhook.Config) { c.Lookup.MissingStatus = []int{404, 42} }, "lookup.missing_status[1]", "42 is not an HTTP status (100..599)"},
		{"bad id_field", func(c *webhook.Config) { c.Lookup.IDField = "data..id" }, "lookup.id_field", "not a dotted path"},
		{"active_values need status_field", func(c *webhook.Config) { c.Lookup.StatusField = ""; c.Operations = nil }, "lookup.active_values", "needs status_field"},
		{"unknown operation key", func(c *webhook.Config) {
			c.Operations["badge_off"] = webhook.OperationSpec{Path: "/x"}
		}, "operations.badge_off", `unknown operation "badge_off" (known: convert_mailbox, create_recovery_task, deactivate_badge,`},
		{"operation path required", func(c *webhook.Config) { op(c, func(o *webhook.OperationSpec) { o.Path = " " }) }, deact + ".path", "path is required"},
		{"operation method", func(c *webhook.Config) { op(c, func(o *webhook.OperationSpec) { o.Method = "HEAD" }) }, deact + ".method", `unknown method "HEAD"`},
		{"body values must go through json", func(c *webhook.Config) {
			op(c, func(o *webhook.OperationSpec) { o.Body = `{"name": "{{.DisplayName}}"}` })
		}, deact + ".body", `body:1:12: {{.DisplayName}} prints a value without json`},
		{"json must come last", func(c *webhook.Config) {
			op(c, func(o *webhook.OperationSpec) { o.Body = `{"name": {{json .DisplayName | printf "%s"}}}` })
		}, deact + ".body", "prints a value without json"},
		{"body must render JSON", func(c *webhook.Config) {
			op(c, func(o *webhook.OperationSpec) { o.Body = `{"reason": {{json .Params.reason}}` })
		}, deact + ".body", "with sample values the body is not valid JSON"},
		{"already_status range", func(c *webhook.Config) {
			op(c, func(o *webhook.OperationSpec) { o.AlreadyStatus = []int{600} })
		}, deact + ".already_status[0]", "600 is not an HTTP status"},
		{"verify_status needs status_field", func(c *webhook.Config) {
			c.Lookup.StatusField, c.Lookup.ActiveValues = "", nil
		}, deact + ".verify_status", "needs lookup.status_field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			cfg.Operations = map[connectors.Operation]webhook.OperationSpec{connectors.OpDeactivateBadge: cfg.Operations[connectors.OpDeactivateBadge]}
			tc.change(&cfg)
			errs := fieldErrors(t, cfg.Validate())
			msg, ok := errs[tc.field]
			if !ok || !strings.Contains(msg, tc.msg) {
				t.Errorf("errors = %q\nwant at %s: %q", errs, tc.field, tc.msg)
			}
			if len(errs) != 1 {
				t.Errorf("%d errors, want 1: %q", len(errs), errs)
			}
			if _, err := webhook.New("x", cfg, nil); err == nil || !strings.Contains(err.Error(), tc.field+": ") {
				t.Errorf("New err = %v, want the same problem", err)
			}
		})
	}
}

func TestOptionalParamsAndAssignments(t *testing.T) {
	cfg := badgeConfig("https://badges.corp.example")
	cfg.Operations[connectors.OpDeactivateBadge] = webhook.OperationSpec{
		Path: `/badges/{{.Account}}{{with index .Params "site"}}/sites/{{.}}{{end}}`,
		Body: `{{$n := .DisplayName}}{"name": {{json $n}}{{range $k, $v := .Params}}, {{json $k}}: {{json $v}}{{end}}}`,
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
