package hrconfig_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/compose/table"
	"github.com/kineticsec/kinetic/internal/secret"
)

func keys(err error) []string {
	var out []string
	for _, fe := range hrconfig.FieldErrors(err) {
		out = append(out, fe.Field)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestValidateReportsEachProblemAtItsKey(t *testing.T) {
	key := secret.FromValue("k")
	generic := func() *hrconfig.Webhook {
		return &hrconfig.Webhook{Format: "generic", Secret: key, SignatureHeader: "X-Signature", TimestampHeader: "X-Timestamp",
			Fields: &hrconfig.Fields{Kind: "type", EmployeeID: "userId", Date: "endDate"}}
	}
	raas := func() *hrconfig.Poller {
		return &hrconfig.Poller{Format: "workday_raas", URL: "https://wd5-services1.myworkday.com/ccx/service/customreport2/acme/ISU/T?format=json",
			Username: "ISU", Password: key, Fields: &hrconfig.Fields{EmployeeID: "Employee_ID", Date: "Date"}, Kind: "terminate"}
	}
	cases := []struct {
		name string
		cfg  hrconfig.Config
		want []string
	}{
		{"valid", hrconfig.Config{
			Timing:   hrconfig.Timing{RevokeAt: "18:30"},
			Webhooks: map[string]*hrconfig.Webhook{"bamboohr": {Format: "bamboohr", Secret: key}, "sf": generic()},
			Pollers: map[string]*hrconfig.Poller{"workday": raas(),
				"bamboohr-poll": {Format: "bamboohr_changed", Company: "acme", APIKey: key, Every: 5 * 60e9}},
		}, nil},
		{"bad revoke time", hrconfig.Config{Timing: hrconfig.Timing{RevokeAt: "5pm"}}, []string{"timing.revoke_at"}},
		{"webhook without format or secret", hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"x": {}}},
			[]string{"webhooks.x.format", "webhooks.x.secret"}},
		{"unknown format", hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"x": {Format: "xml", Secret: key}}}, []string{"webhooks.x.format"}},
		{"bad source name", hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"a/b": {Format: "bamboohr", Secret: key}}}, []string{"webhooks.a/b"}},
		{"tolerance too wide", hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"b": {Format: "bamboohr", Secret: key, Tolerance: 2 * 3600e9}}},
			[]string{"webhooks.b.tolerance"}},
		{"bamboohr with generic keys", hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"b": {Format: "bamboohr", Secret: key,
			SignatureHeader: "X-S", Kind: "terminate", Kinds: map[string]string{"a": "terminate"}, Fields: &hrconfig.Fields{Kind: "k", Time: "t"}}}},
			[]string{"webhooks.b.fields.kind", "webhooks.b.fields.time", "webhooks.b.kind", "webhooks.b.kinds", "webhooks.b.signature_header"}},
		{"generic without headers or fields", hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"g": {Format: "generic", Secret: key}}},
			[]string{"webhooks.g.fields", "webhooks.g.fields.date", "webhooks.g.fields.kind", "webhooks.g.signature_header", "webhooks.g.timestamp_header"}},
		{"generic with a bad header name", func() hrconfig.Config {
			w := generic()
			w.SignatureHeader, w.IDHeader = "X Signature", "X:Id"
			return hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"g": w}}
		}(), []string{"webhooks.g.id_header", "webhooks.g.signature_header"}},
		{"generic with kind and fields.kind", func() hrconfig.Config {
			w := generic()
			w.Kind = "terminate"
			return hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"g": w}}
		}(), []string{"webhooks.g.kind"}},
		{"generic mapping an unknown kind", func() hrconfig.Config {
			w := generic()
			w.Kinds = map[string]string{"EmployeeTermination": "fire"}
			return hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"g": w}}
		}(), []string{"webhooks.g.kinds.EmployeeTermination"}},
		{"generic without employee", func() hrconfig.Config {
			w := generic()
			w.Fields.EmployeeID = ""
			w.Fields.Reason = "a..b"
			return hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"g": w}}
		}(), []string{"webhooks.g.fields", "webhooks.g.fields.reason"}},
		{"a fixed rescind kind needs no date", func() hrconfig.Config {
			w := generic()
			w.Fields.Kind, w.Fields.Date, w.Kind = "", "", "rescind"
			return hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"g": w}}
		}(), nil},
		{"poller every under a minute", func() hrconfig.Config {
			p := raas()
			p.Every = 30e9
			return hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"w": p}}
		}(), []string{"pollers.w.every"}},
		{"workday url", func() hrconfig.Config {
			p := raas()
			p.URL = "ftp://user:pw@wd5/x"
			return hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"w": p}}
		}(), []string{"pollers.w.url"}},
		{"workday with basic and oauth", func() hrconfig.Config {
			p := raas()
			p.OAuth = &hrconfig.OAuth{}
			return hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"w": p}}
		}(), []string{"pollers.w"}},
		{"workday oauth incomplete", func() hrconfig.Config {
			p := raas()
			p.Username, p.Password = "", secret.Secret{}
			p.OAuth = &hrconfig.OAuth{TokenURL: "https://wd5/token?x=1"}
			return hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"w": p}}
		}(), []string{"pollers.w.oauth.client_id", "pollers.w.oauth.client_secret", "pollers.w.oauth.refresh_token", "pollers.w.oauth.token_url"}},
		{"workday without credentials", func() hrconfig.Config {
			p := raas()
			p.Username, p.Password, p.APIKey = "", secret.Secret{}, key
			return hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"w": p}}
		}(), []string{"pollers.w.api_key", "pollers.w.password", "pollers.w.username"}},
		{"bamboohr poller", hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"b": {Format: "bamboohr_changed", Company: "acme.bamboohr.com",
			BaseURL: "https://api.bamboohr.com/?x=1", URL: "https://x", Kind: "terminate"}}},
			[]string{"pollers.b.api_key", "pollers.b.base_url", "pollers.b.company", "pollers.b.kind", "pollers.b.url"}},
		{"poller without format", hrconfig.Config{Pollers: map[string]*hrconfig.Poller{"p": {}}}, []string{"pollers.p.format"}},
		{"a poller and a webhook with one name", hrconfig.Config{
			Webhooks: map[string]*hrconfig.Webhook{"bamboohr": {Format: "bamboohr", Secret: key}},
			Pollers:  map[string]*hrconfig.Poller{"bamboohr": {Format: "bamboohr_changed", Company: "acme", APIKey: key}}},
			[]string{"pollers.bamboohr"}},
		{"empty entries", hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{"w": nil}, Pollers: map[string]*hrconfig.Poller{"p": nil}},
			[]string{"pollers.p", "webhooks.w"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Use(table.PollerFormats()...).UseWebhooks(table.WebhookFormats()...).Validate()
			if got := keys(err); !slices.Equal(got, c.want) {
				t.Fatalf("problems at %v, want %v:\n%v", got, c.want, err)
			}
			for _, fe := range hrconfig.FieldErrors(err) {
				var target *hrconfig.FieldError
				if !errors.As(fe, &target) || fe.Err == nil {
					t.Fatalf("not a FieldError: %v", fe)
				}
			}
		})
	}
}

const serviceHead = `redis: {embedded: true}
policy: policy.yaml
`

func TestServiceFileHRBlockLoads(t *testing.T) {
	t.Setenv("KINETIC_TEST_BAMBOO_SECRET", "bamboo-secret")
	t.Setenv("KINETIC_TEST_SF_SECRET", "sf-secret")
	t.Setenv("KINETIC_TEST_WD_PASSWORD", "wd-password")
	t.Setenv("KINETIC_TEST_BAMBOO_KEY", "bamboo-key")
	svc, err := compose.ParseService("kinetic.yaml", []byte(serviceHead+`hr:
  timing: {revoke_at: "17:00", max_future: 365d, max_past: 30d}
  webhooks:
    bamboohr:
      format: bamboohr
      secret: {env: KINETIC_TEST_BAMBOO_SECRET}
      tolerance: 5m
    successfactors:
      format: generic
      secret: {env: KINETIC_TEST_SF_SECRET}
      signature_header: X-Signature
      timestamp_header: X-Timestamp
      id_header: X-Event-Id
      fields: {event_id: eventId, kind: eventType, employee_id: userId, email: email, date: endDate, time: endTime, involuntary: involuntary, reason: reason}
      kinds: {EmployeeTermination: terminate, TerminationRescinded: rescind, Rehire: rehire}
  pollers:
    workday:
      format: workday_raas
      url: https://wd5-services1.myworkday.com/ccx/service/customreport2/acme/ISU_Kinetic/Terminations?format=json
      username: ISU_Kinetic
      password: {env: KINETIC_TEST_WD_PASSWORD}
      every: 15m
      fields: {event_id: Event_WID, employee_id: Employee_ID, email: Email, date: Termination_Date, involuntary: Involuntary, reason: Reason}
      kind: terminate
    bamboohr-poll:
      format: bamboohr_changed
      company: acme
      api_key: {env: KINETIC_TEST_BAMBOO_KEY}
      every: 30m
`))
	if err != nil {
		t.Fatal(err)
	}
	hr := hrconfig.ConfigOf(svc.HR)
	if hr == nil || hr.Timing.MaxFuture.D().Hours() != 365*24 || len(hr.Webhooks) != 2 || len(hr.Pollers) != 2 {
		t.Fatalf("hr block: %+v", hr)
	}
	if hr.Webhooks["bamboohr"].Secret.Value() != "bamboo-secret" || hr.Pollers["workday"].Password.Value() != "wd-password" ||
		hr.Pollers["bamboohr-poll"].APIKey.Value() != "bamboo-key" {
		t.Fatal("secrets inside the hr block were not resolved")
	}
	if hr.Webhooks["successfactors"].Kinds["EmployeeTermination"] != "terminate" || hr.Pollers["bamboohr-poll"].EffectiveBaseURL() != hrconfig.DefaultBambooHRBaseURL {
		t.Fatalf("hr block: %+v", hr)
	}
}

func TestServiceFileHRBlockErrorsNameTheirKeys(t *testing.T) {
	_, err := compose.ParseService("kinetic.yaml", []byte(serviceHead+`hr:
  webhooks:
    bamboohr:
      format: bamboohr
      secret: {env: KINETIC_TEST_SURELY_UNSET}
      colour: green
    sf:
      format: generic
      secret: {env: KINETIC_TEST_SURELY_UNSET}
      fields: {kind: eventType, employee_id: userId, date: endDate}
      kinds: {EmployeeTermination: fire}
  pollers:
    metadata:
      format: workday_raas
      url: http://169.254.169.254/latest/meta-data/?format=json
      username: ISU
      password: {env: KINETIC_TEST_SURELY_UNSET}
      every: 10s
      fields: {employee_id: Employee_ID, date: Date}
      kind: terminate
`))
	var errs *configs.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want *configs.Errors, got %v", err)
	}
	got := map[string]string{}
	for _, e := range errs.List {
		got[e.Key] = e.Msg
		if e.Line == 0 {
			t.Errorf("%s has no line: %s", e.Key, e.Msg)
		}
	}
	for key, part := range map[string]string{
		"hr.webhooks.bamboohr.colour":              "unknown key",
		"hr.webhooks.bamboohr.secret":              "KINETIC_TEST_SURELY_UNSET",
		"hr.webhooks.sf.signature_header":          "required",
		"hr.webhooks.sf.timestamp_header":          "required",
		"hr.webhooks.sf.kinds.EmployeeTermination": "unknown kind",
		"hr.pollers.metadata.every":                "at least 1m",
		"hr.pollers.metadata.url":                  "link-local",
	} {
		if msg, ok := got[key]; !ok || !strings.Contains(msg, part) {
			t.Errorf("%s: %q, want a message containing %q (all: %v)", key, msg, part, got)
		}
	}
}

func TestURLsListsThePollersURLs(t *testing.T) {
	c := &hrconfig.Config{Pollers: map[string]*hrconfig.Poller{
		"w": {Format: "workday_raas", URL: "https://wd5/x?format=json", OAuth: &hrconfig.OAuth{TokenURL: "https://wd5/token"}},
		"b": {Format: "bamboohr_changed", BaseURL: "https://bamboo.internal"},
		"d": {Format: "bamboohr_changed"},
		"x": {Format: "workday_raas", URL: "not a url"},
	}}
	got := c.Use(table.PollerFormats()...).UseWebhooks(table.WebhookFormats()...).URLs()
	want := map[string]string{"pollers.w.url": "https://wd5/x?format=json", "pollers.w.oauth.token_url": "https://wd5/token", "pollers.b.base_url": "https://bamboo.internal"}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: %q, want %q", k, got[k], v)
		}
	}
}

// TestTheDocumentedExampleLoads keeps docs/hr.md's configuration honest.
func TestTheDocumentedExampleLoads(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/hr.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i := strings.Index(s, "```yaml\nhr:")
	if i < 0 {
		t.Fatal("docs/hr.md has no ```yaml hr: block")
	}
	block := s[i+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	for _, env := range []string{"BAMBOOHR_WEBHOOK_SECRET", "SF_WEBHOOK_SECRET", "WORKDAY_PASSWORD", "BAMBOOHR_API_KEY"} {
		t.Setenv(env, "value-of-"+env)
	}
	svc, err := compose.ParseService("kinetic.yaml", []byte(serviceHead+block))
	if err != nil {
		t.Fatal(err)
	}
	hc := hrconfig.ConfigOf(svc.HR)
	if hc == nil || len(hc.Webhooks) != 2 || len(hc.Pollers) != 2 || hc.Pollers["workday"].Kinds["Terminate Employee"] != "terminate" {
		t.Fatalf("%+v", svc.HR)
	}
}

// The webhook formats come from the table (one line each) and keep the
// messages they had when they were a switch here.
func TestWebhookFormatMessages(t *testing.T) {
	key := secret.FromValue("k")
	c := hrconfig.Config{Webhooks: map[string]*hrconfig.Webhook{
		"none": {Secret: key},
		"xml":  {Format: "xml", Secret: key},
		"bamb": {Format: hrconfig.FormatBambooHR, Secret: key, IDHeader: "X-Id"},
		"gen":  {Format: hrconfig.FormatGeneric, Secret: key, SignatureHeader: "X-Sig", Kind: "terminate", Fields: &hrconfig.Fields{EmployeeID: "id", Date: "d"}},
	}}
	got := map[string]string{}
	for _, p := range c.Use(table.PollerFormats()...).UseWebhooks(table.WebhookFormats()...).Problems() {
		got[p.Field] = p.Err.Error()
	}
	for field, want := range map[string]string{
		"webhooks.none.format":          "format is required (bamboohr or generic)",
		"webhooks.xml.format":           `unknown format "xml" (want bamboohr or generic)`,
		"webhooks.bamb.id_header":       "format bamboohr has fixed headers and kinds: remove id_header",
		"webhooks.gen.timestamp_header": "timestamp_header is required for format generic (e.g. X-Timestamp)",
	} {
		if got[field] != want {
			t.Errorf("%s: %q, want %q", field, got[field], want)
		}
	}
	if len(got) != 4 {
		t.Errorf("problems = %v, want exactly those 4", got)
	}
}
