package compose_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/hrsource"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/hrspec"
	"github.com/kineticsec/kinetic/internal/secret"
)

// --- An HR system package written in the test: its block with its
// validation and URLs, the source, and its Descriptor.

type personioConfig struct {
	BaseURL  string        `yaml:"base_url"`
	ClientID string        `yaml:"client_id"`
	Secret   secret.Secret `yaml:"client_secret"`
}

func (c *personioConfig) Validate() error {
	if c.ClientID == "" {
		return hrsource.Errorf("client_id", "client_id is required")
	}
	return nil
}

// personioSource serves a fixed directory.
type personioSource struct {
	*directory.File
	cfg personioConfig
}

func personioDescriptor() directory.Descriptor {
	return directory.Descriptor{
		Spec: hrspec.Directory{
			Type:     "personio",
			NewBlock: func() any { return &personioConfig{} },
			Validate: func(b any) error { return b.(*personioConfig).Validate() },
			URLs:     func(b any) map[string]string { return map[string]string{"base_url": b.(*personioConfig).BaseURL} },
		},
		New: func(b any, deps directory.Deps) (directory.Directory, error) {
			f, err := directory.Parse("personio.csv", []byte("id,email,type,status\nP1,pat@example.com,employee,active\n"))
			if err != nil {
				return nil, err
			}
			if deps.HTTP == nil {
				return nil, errors.New("no HTTP client from the outbound policy")
			}
			return &personioSource{File: f, cfg: *b.(*personioConfig)}, nil
		},
	}
}

const personioService = `policy: p.yaml
redis: {embedded: true}
directory:
  type: personio
  personio:
    base_url: %URL%
    client_id: %ID%
    client_secret: {env: KINETIC_TEST_PERSONIO_SECRET}
`

func personioYAML(url, id string) []byte {
	return []byte(strings.NewReplacer("%URL%", url, "%ID%", id).Replace(personioService))
}

// Adding an HR directory source type is its package (above) plus one line
// in the table: it is then loaded strictly with its secrets resolved,
// validated with file:line:key, checked against the outbound URL policy
// and opened.
func TestAddHRDirectoryTypeIsOnePackageAndOneTableLine(t *testing.T) {
	t.Setenv("KINETIC_TEST_PERSONIO_SECRET", "pers-SECRET")
	tables := compose.All()
	tables.Directories = append(tables.Directories, personioDescriptor()) // the one line

	svc, err := tables.ParseService("svc.yaml", personioYAML("https://198.51.100.7/", "kinetic"))
	if err != nil {
		t.Fatalf("ParseService: %v", err)
	}
	blk, ok := svc.Directory.Block.(*personioConfig)
	if !ok || blk.ClientID != "kinetic" || blk.Secret.Value() != "pers-SECRET" {
		t.Fatalf("block = %#v", svc.Directory.Block)
	}
	d, err := tables.OpenHRDirectory(context.Background(), &configs.Config{Service: svc}, nil)
	if err != nil {
		t.Fatalf("OpenHRDirectory: %v", err)
	}
	if e, err := d.ByEmail(context.Background(), "pat@example.com"); err != nil || e.ID != "P1" {
		t.Fatalf("ByEmail = %+v, %v", e, err)
	}

	for _, tc := range []struct{ name, url, id, want string }{
		{"block validation", "https://198.51.100.7/", `""`, `svc.yaml:7: directory.personio.client_id: client_id is required`},
		{"outbound policy", "http://127.0.0.1/", "kinetic", `svc.yaml:6: directory.personio.base_url: `},
		{"unknown key", "https://198.51.100.7/", "kinetic\n    clientid: x", `svc.yaml:8: directory.personio.clientid: unknown key "clientid" (known keys: base_url, client_id, client_secret)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tables.ParseService("svc.yaml", personioYAML(tc.url, tc.id))
			var errs *configs.Errors
			if !errors.As(err, &errs) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want *configs.Errors containing %q", err, tc.want)
			}
		})
	}

	// Without the table line the type and its block are unknown.
	_, err = compose.ParseService("svc.yaml", personioYAML("https://198.51.100.7/", "kinetic"))
	if err == nil || !strings.Contains(err.Error(), `svc.yaml:5: directory.personio: unknown key "personio"`) ||
		!strings.Contains(err.Error(), `unknown directory type "personio" (known: file, bamboohr, workday, scim)`) {
		t.Errorf("without the line: err = %v", err)
	}
}

// The hr: block is decoded by the HR event front end's spec (hrconfig's),
// not by configs: configs.Service.HR holds a *hrconfig.Config.
func TestHRBlockIsDecodedByItsSpec(t *testing.T) {
	t.Setenv("KINETIC_TEST_HR_SECRET", "hr-SECRET")
	svc, err := compose.ParseService("svc.yaml", []byte(`policy: p.yaml
redis: {embedded: true}
hr:
  webhooks:
    bamboohr: {format: bamboohr, secret: {env: KINETIC_TEST_HR_SECRET}}
`))
	if err != nil {
		t.Fatal(err)
	}
	hc := hrconfig.ConfigOf(svc.HR)
	if hc == nil || hc.Webhooks["bamboohr"] == nil || hc.Webhooks["bamboohr"].Secret.Value() != "hr-SECRET" {
		t.Fatalf("hr = %#v", svc.HR)
	}
	_, err = compose.ParseService("svc.yaml", []byte("policy: p.yaml\nredis: {embedded: true}\nhr:\n  webhoks: {}\n"))
	if err == nil || !strings.Contains(err.Error(), `svc.yaml:4: hr.webhoks: unknown key "webhoks"`) {
		t.Errorf("err = %v", err)
	}
}
