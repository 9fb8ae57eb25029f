package configs

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"gopkg.in/yaml.v3"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/secret"
)

// exampleEnv sets the variables kinetic.example.yaml references.
func exampleEnv(t *testing.T) {
	t.Helper()
	clearEnv(t)
	t.Setenv("KINETIC_API_TOKEN", "tok-SECRET-api-1")
	t.Setenv("KINETIC_DATABASE_DSN", "postgres://kinetic:pw-SECRET-db-2@db.internal/kinetic")
	t.Setenv("KINETIC_REDIS_PASSWORD", "redis-SECRET-3")
	for name, value := range exampleConnectorSecrets {
		t.Setenv(name, value)
	}
	t.Setenv("KINETIC_SALESFORCE_PRIVATE_KEY", exampleRSAKey(t))
}

var (
	exampleKeyOnce sync.Once
	exampleKeyPEM  string
)

// exampleRSAKey is a PEM RSA key for the example's Salesforce connector,
// generated once per test run (the connector builds only with a real key).
func exampleRSAKey(t *testing.T) string {
	exampleKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		exampleKeyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	})
	return exampleKeyPEM
}

// exampleConnectorSecrets are the connector secrets kinetic.example.yaml
// references, by environment variable.
var exampleConnectorSecrets = map[string]string{
	"KINETIC_AD_BIND_PASSWORD":       "ad-SECRET-4",
	"KINETIC_M365_CLIENT_CREDENTIAL": "m365-SECRET-5",
	"KINETIC_OKTA_TOKEN":             "okta-SECRET-7",
	"KINETIC_FORTIGATE_TOKEN":        "fortigate-SECRET-8",
	"KINETIC_BRIVO_API_KEY":          "brivo-SECRET-11",
	"KINETIC_BRIVO_CLIENT_SECRET":    "brivo-SECRET-14",
	"KINETIC_BRIVO_PASSWORD":         "brivo-SECRET-15",
	"KINETIC_ASSETS_TOKEN":           "assets-SECRET-12",
	"KINETIC_PAYROLL_TOKEN":          "payroll-SECRET-13",
}

func TestExampleFilesLoad(t *testing.T) {
	t.Run("kinetic.example.yaml", func(t *testing.T) {
		exampleEnv(t)
		cfg, err := loadT("kinetic.example.yaml")
		if err != nil {
			t.Fatal(err)
		}
		s := cfg.Service
		if s.File != "kinetic.example.yaml" || s.Database.Driver != "postgres" || s.Redis.Addr != "redis.internal:6379" || s.Redis.Embedded {
			t.Errorf("service = %+v", s)
		}
		if got := s.Database.DSN.Value(); !strings.Contains(got, "pw-SECRET-db-2") {
			t.Errorf("dsn not resolved")
		}
		if s.HTTP.APIClients["hris"].Token.Value() != "tok-SECRET-api-1" || s.Redis.Password.Value() != "redis-SECRET-3" {
			t.Errorf("secrets not resolved")
		}
		if s.Log.Format != "json" || s.Workers.Concurrency != 50 || s.Workers.Lease.D() != 30*time.Second {
			t.Errorf("log/workers = %+v %+v", s.Log, s.Workers)
		}
		// The nine systems of the embedded default, each on its own type.
		if len(s.Connectors) != 9 || s.Connectors["okta"].RateLimit.Burst != 1 || s.Connectors["m365"].RateLimit.Burst != 100 {
			t.Errorf("connectors = %+v", s.Connectors)
		}
		if cfg.Policy == nil || cfg.Policy.Path != "policy.production.yaml" {
			t.Fatalf("policy = %+v", cfg.Policy)
		}
		dir, err := cfg.OpenDirectory()
		if err != nil {
			t.Fatal(err)
		}
		if dir.Len() < 30 {
			t.Errorf("directory has %d people", dir.Len())
		}
	})
	t.Run("Default", func(t *testing.T) {
		clearEnv(t)
		cfg, err := defaultT()
		if err != nil {
			t.Fatal(err)
		}
		s := cfg.Service
		if s.File != "" || s.Database.Driver != "sqlite" || s.Database.Path != "kinetic.db" || !s.Redis.Embedded || s.HTTP.Addr != "127.0.0.1:8080" {
			t.Errorf("service = %+v", s)
		}
		if !slices.Equal(s.Admins, []string{"E0001"}) {
			t.Errorf("admins = %v", s.Admins)
		}
		want := []string{"ad", "assets", "aws", "badge", "m365", "mdm", "okta", "payroll", "salesforce", "vpn"}
		if got := slices.Sorted(maps.Keys(s.Connectors)); !slices.Equal(got, want) {
			t.Errorf("connectors = %v", got)
		}
		for name, ci := range s.Connectors {
			if ci.Type != "sandbox" || sandboxBlock(ci).System != name || sandboxBlock(ci).ErrorRate != 0 {
				t.Errorf("%s = %+v %+v", name, ci, sandboxBlock(ci))
			}
			if l := sandboxBlock(ci).Latency.D(); l < 80*time.Millisecond || l > 200*time.Millisecond || sandboxBlock(ci).Jitter == 0 {
				t.Errorf("%s latency %s jitter %s", name, sandboxBlock(ci).Latency, sandboxBlock(ci).Jitter)
			}
		}
		okta := s.Connectors["okta"]
		if sandboxBlock(okta).RateLimit != 600 || *okta.RateLimit != (RateLimit{Requests: 600, Per: Duration(time.Minute), Burst: 1}) {
			t.Errorf("okta = %+v %+v", okta.RateLimit, sandboxBlock(okta))
		}
		data, _ := EmbeddedFile("policy.example.yaml")
		if cfg.Policy.Hash != LoadHash(t, data) {
			t.Errorf("policy hash %s is not the file's SHA-256", cfg.Policy.Hash)
		}
	})
	t.Run("policy.example.yaml alone", func(t *testing.T) {
		clearEnv(t)
		def, _ := defaultT()
		p, err := LoadPolicy("policy.example.yaml", def.Service)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Actions()) < 15 || len(p.File.Rules) != 7 {
			t.Errorf("actions %v, %d rules", p.Actions(), len(p.File.Rules))
		}
		if _, err := LoadPolicy("policy.example.yaml", nil); err != nil {
			t.Errorf("without a service: %v", err)
		}
	})
	t.Run("directory.sample.json", func(t *testing.T) {
		f, err := directory.LoadFile("directory.sample.json")
		if err != nil {
			t.Fatal(err)
		}
		checkSampleDirectory(t, f)
	})
	t.Run("testdata/min/policy.yaml", func(t *testing.T) {
		def, _ := defaultT()
		if _, err := LoadPolicy("testdata/min/policy.yaml", def.Service); err != nil {
			t.Fatal(err)
		}
	})
}

func LoadHash(t *testing.T, data []byte) string {
	t.Helper()
	p, err := ParsePolicy("x.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.Hash
}

// checkSampleDirectory checks the records the demo relies on.
func checkSampleDirectory(t *testing.T, f *directory.File) {
	t.Helper()
	ctx := context.Background()
	if n := f.Len(); n < 30 || n > 40 {
		t.Errorf("%d employees, want 30–40", n)
	}
	get := func(id string) *directory.Employee {
		e, err := f.ByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	accounts := func(e *directory.Employee) []string { return slices.Sorted(maps.Keys(e.Accounts)) }
	if e := get("E0001"); e.Name != "Priya Raman" || !slices.Contains(e.RoleProfiles, "it-admin") || !e.Active() {
		t.Errorf("E0001 = %+v", e)
	}
	if e := get("E0002"); e.Name != "Marcus Bell" || !e.HRRole || !slices.Contains(e.RoleProfiles, "hr") {
		t.Errorf("E0002 = %+v", e)
	}
	if e := get("E0100"); e.Name != "Sofia Alvarez" || e.Department != "Sales" {
		t.Errorf("E0100 = %+v", e)
	}
	if e := get("E0101"); e.Name != "Wen Li" || e.Department != "Engineering" {
		t.Errorf("E0101 = %+v", e)
	}
	if e := get("E0102"); e.Department != "Finance" {
		t.Errorf("E0102 = %+v", e)
	}
	e := get("E1001")
	if e.Name != "Dana Whitfield" || e.Type != "employee" || e.Department != "Sales" || e.Country != "US" ||
		e.TimeZone != "America/New_York" || e.Manager != "E0100" || e.HRPartner != "E0002" ||
		!slices.Equal(accounts(e), []string{"ad", "badge", "m365", "okta", "payroll", "salesforce", "vpn"}) ||
		!slices.Equal(e.Equipment, []string{"LT-1001", "PH-1001"}) || e.ChatUserID != "U0E1001" || e.Username != "dwhitfield" {
		t.Errorf("E1001 = %+v", e)
	}
	e = get("E1002")
	if e.Name != "Jonas Becker" || e.Type != "contractor" || e.Department != "Engineering" || e.Country != "DE" ||
		e.TimeZone != "Europe/Berlin" || e.Manager != "E0101" ||
		!slices.Equal(accounts(e), []string{"ad", "aws", "badge", "okta", "vpn"}) || !slices.Equal(e.Equipment, []string{"LT-1002"}) {
		t.Errorf("E1002 = %+v", e)
	}
	e = get("E1003")
	if e.Name != "Amara Okafor" || e.Clearance != "top_secret" || e.Department != "Engineering" ||
		!slices.Equal(e.RoleProfiles, []string{"defense-programs"}) || e.TimeZone != "America/Denver" || e.Manager != "E0101" ||
		!slices.Equal(accounts(e), []string{"ad", "aws", "badge", "m365", "okta", "payroll", "vpn"}) || !slices.Equal(e.Equipment, []string{"LT-1003"}) {
		t.Errorf("E1003 = %+v", e)
	}
	e = get("E1004")
	if e.Name != "Tomas Novak" || e.Department != "Marketing" || e.Country != "CZ" || e.TimeZone != "Europe/Prague" || e.Manager != "E0102" ||
		!slices.Equal(accounts(e), []string{"ad", "badge", "m365", "okta", "payroll", "vpn"}) {
		t.Errorf("E1004 = %+v", e)
	}
	e = get("E1005")
	if e.Name != "Keiko Tanaka" || e.Department != "Finance" || e.Country != "JP" || e.TimeZone != "Asia/Tokyo" || e.Manager != "E0102" ||
		!slices.Equal(accounts(e), []string{"ad", "badge", "m365", "okta", "payroll", "vpn"}) || !slices.Equal(e.Equipment, []string{"LT-1005"}) {
		t.Errorf("E1005 = %+v", e)
	}
	if e := get("E1099"); e.Name != "Former Person" || e.Active() {
		t.Errorf("E1099 = %+v", e)
	}
	types := map[string]int{}
	for _, e := range f.All() {
		types[e.Type]++
		if e.ChatUserID != "U0"+e.ID {
			t.Errorf("%s chat_user_id = %q", e.ID, e.ChatUserID)
		}
		if e.Manager != "" {
			if _, err := f.ByID(ctx, e.Manager); err != nil {
				t.Errorf("%s: manager %v", e.ID, err)
			}
		}
		if e.HRPartner != "" {
			if _, err := f.ByID(ctx, e.HRPartner); err != nil {
				t.Errorf("%s: hr_partner %v", e.ID, err)
			}
		}
		if _, err := time.LoadLocation(e.TimeZone); err != nil {
			t.Errorf("%s: time_zone: %v", e.ID, err)
		}
	}
	if types["intern"] < 1 || types["contractor"] < 3 {
		t.Errorf("types = %v", types)
	}
}

func TestServiceDefaults(t *testing.T) {
	svc, err := parseServiceT("min.yaml", []byte("policy: p.yaml\nredis: {embedded: true}\nconnectors:\n  ad: {type: sandbox, rate_limit: {requests: 5, per: 1s}, sandbox: {system: ad}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if svc.HTTP.Addr != "127.0.0.1:8080" || svc.Database.Driver != "sqlite" || svc.Database.Path != "kinetic.db" ||
		svc.Workers.Concurrency != 20 || svc.Workers.Lease.D() != 10*time.Second || svc.Workers.SweepInterval.D() != 5*time.Second ||
		!slices.Equal(svc.HRRoles, []string{"hr"}) || svc.Log.Level != "info" || svc.Log.Format != "auto" {
		t.Errorf("defaults not applied: %+v", svc)
	}
	ad := svc.Connectors["ad"]
	if ad.Name != "ad" || ad.Timeout.D() != 30*time.Second || ad.RateLimit.Burst != 1 {
		t.Errorf("connector defaults not applied: %+v %+v", ad, ad.RateLimit)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	clearEnv(t)
	t.Setenv(EnvHTTPAddr, "0.0.0.0:9999")
	t.Setenv(EnvDatabaseDSN, "postgres://u:pw@db/k")
	t.Setenv(EnvRedisAddr, "redis:6379")
	cfg, err := defaultT()
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Service
	if s.HTTP.Addr != "0.0.0.0:9999" || s.Database.Driver != "postgres" || s.Database.DSN.Value() != "postgres://u:pw@db/k" ||
		s.Redis.Addr != "redis:6379" || s.Redis.Embedded {
		t.Errorf("overrides not applied: %+v", s)
	}
	// ParseService does not read the environment.
	data, _ := EmbeddedFile("embedded.yaml")
	svc, err := parseServiceT("embedded.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if svc.HTTP.Addr != "127.0.0.1:8080" || svc.Database.Driver != "sqlite" || !svc.Redis.Embedded {
		t.Errorf("ParseService applied the environment: %+v", svc)
	}
}

func TestEmbeddedRedisWithPostgresIsAllowed(t *testing.T) {
	t.Setenv("KINETIC_TEST_DSN", "postgres://localhost/k")
	_, err := parseServiceT("s.yaml", []byte("policy: p.yaml\ndatabase: {driver: postgres, dsn: {env: KINETIC_TEST_DSN}}\nredis: {embedded: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecretFileRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("file-SECRET-4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	svcYAML := "policy: p.yaml\nredis: {embedded: true}\nhttp:\n  api_tokens:\n    ops: {file: token}\n    dev: {file: /dev/null}\n    gone: {file: absent}\n"
	_, err := parseServiceT(filepath.Join(dir, "k.yaml"), []byte(svcYAML))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, w := range []string{
		"k.yaml:6: http.api_tokens.dev: secret file /dev/null is not a regular file",
		"k.yaml:7: http.api_tokens.gone: secret file: " + filepath.Join(dir, "absent") + ": no such file or directory",
	} {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in\n%s", w, msg)
		}
	}
	if strings.Contains(msg, "api_tokens.ops") {
		t.Errorf("a readable secret file relative to the config was refused:\n%s", msg)
	}
	svc, err := parseServiceT(filepath.Join(dir, "k.yaml"), []byte("policy: p.yaml\nredis: {embedded: true}\nhttp:\n  api_tokens:\n    ops: {file: token}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if svc.HTTP.APITokens["ops"].Value() != "file-SECRET-4" {
		t.Error("secret file not read")
	}
}

// TestSecretsNeverPrint formats a loaded Service every way it is likely to
// be logged or dumped and finds no secret value.
func TestSecretsNeverPrint(t *testing.T) {
	exampleEnv(t)
	cfg, err := loadT("kinetic.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Service
	if s.HTTP.APIClients["hris"].Token.Value() == "" || s.Database.DSN.Value() == "" || s.Redis.Password.Value() == "" {
		t.Fatal("secrets were not resolved, so this test would prove nothing")
	}
	y, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":     fmt.Sprintf("%v", s),
		"%+v":    fmt.Sprintf("%+v", s),
		"%#v":    fmt.Sprintf("%#v", s),
		"%v Svc": fmt.Sprintf("%v", *s),
		"%s":     fmt.Sprintf("%s", s.HTTP),
		"yaml":   string(y),
		"json":   string(j),
		"cfg %v": fmt.Sprintf("%+v", cfg),
		"logrus": logLine(s),
	}
	for how, out := range outputs {
		if strings.Contains(out, "SECRET") {
			t.Errorf("%s prints a secret value:\n%s", how, out)
		}
	}
	if !strings.Contains(outputs["%+v"], "<secret>") || !strings.Contains(outputs["json"], `"\u003csecret\u003e"`) {
		t.Errorf("secrets do not print as <secret>:\n%s\n%s", outputs["%+v"], outputs["json"])
	}
	if !strings.Contains(outputs["yaml"], "env: KINETIC_API_TOKEN") {
		t.Errorf("yaml does not print the secret's reference:\n%s", outputs["yaml"])
	}
}

func logLine(s *Service) string {
	var b strings.Builder
	l := logrus.New()
	l.SetOutput(&b)
	l.SetFormatter(&logrus.JSONFormatter{})
	l.WithField("http", s.HTTP).WithField("db", s.Database).WithField("redis", s.Redis).Info("config")
	return b.String()
}

func TestBuildConnectors(t *testing.T) {
	clearEnv(t)
	cfg, err := defaultT()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := cfg.OpenDirectory()
	if err != nil {
		t.Fatal(err)
	}
	checkSampleDirectory(t, dir)
	reg, err := cfg.BuildConnectors(dir, logrus.NewEntry(logrus.New()))
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.Names(); len(got) != 10 {
		t.Fatalf("registry = %v", got)
	}
	okta, _ := reg.Get("okta")
	if okta.Type != "sandbox" || okta.RateLimit != (connectors.RateLimit{Requests: 600, Per: time.Minute, Burst: 1}) ||
		okta.Timeout != 30*time.Second || !connectors.Supports(okta.Operations, connectors.OpDeactivateUser) {
		t.Errorf("okta = %+v", okta)
	}
	ad, _ := reg.Get("ad")
	if ad.Concurrency != 10 || ad.RateLimit != (connectors.RateLimit{}) {
		t.Errorf("ad = %+v", ad)
	}
	// Seeded from the directory: Dana has an AD account.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := ad.Connector.Lookup(ctx, connectors.Subject{EmployeeID: "E1001", Email: "dana.whitfield@example.com", Username: "dwhitfield"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Accounts) != 1 {
		t.Errorf("ad lookup = %+v, want Dana's account", res)
	}

	// Construction errors are all reported.
	bad := &Config{Service: &Service{Connectors: map[string]*ConnectorInstance{
		"x": {Type: "zendesk"},
		"y": {Type: "sandbox"},
		"z": nil,
	}}}
	_, err = bad.BuildConnectors(nil, nil)
	for _, w := range []string{`"x": unknown type "zendesk"`, `"y": type sandbox needs a sandbox block`, `"z": empty`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want %q", err, w)
		}
	}
}

func TestOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	csv := "id,email,type,status\nE1,a@x,employee,active\n"
	if err := os.WriteFile(filepath.Join(dir, "people.csv"), []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{Service: &Service{Directory: DirectorySource{File: "people.csv"}}, dir: dir}
	f, err := cfg.OpenDirectory()
	if err != nil || f.Len() != 1 {
		t.Fatalf("OpenDirectory = %v, %v", f, err)
	}
	// No file configured: the bundled sample.
	cfg = &Config{Service: &Service{}, dir: dir}
	f, err = cfg.OpenDirectory()
	if err != nil || f.Len() < 30 {
		t.Fatalf("bundled sample: %v", err)
	}
}

func TestURLPolicyCheck(t *testing.T) {
	d := &doc{file: "k.yaml", paths: map[string]int{"connectors.x.okta.base_url": 12}, bad: map[string]bool{}, errs: &Errors{}}
	checkURLs(d, Outbound{}, []urlTarget{
		{path: "connectors.x.okta.base_url", url: "http://169.254.169.254/latest"},
		{path: "connectors.y.okta.base_url", url: "https://203.0.113.10/api"},
	})
	err := d.errs.err()
	if err == nil || !strings.Contains(err.Error(), "k.yaml:12: connectors.x.okta.base_url: outbound URL refused") || strings.Contains(err.Error(), "connectors.y") {
		t.Errorf("err = %v", err)
	}
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.List) != 1 {
		t.Errorf("want exactly one error, got %v", err)
	}
	d = &doc{file: "k.yaml", paths: map[string]int{}, bad: map[string]bool{}, errs: &Errors{}}
	checkURLs(d, Outbound{AllowCIDRs: []string{"169.254.169.254/32"}}, []urlTarget{{path: "connectors.x.okta.base_url", url: "http://169.254.169.254/"}})
	if err := d.errs.err(); err != nil {
		t.Errorf("allowed CIDR refused: %v", err)
	}
}

// Two API clients with one token: refused at the second client's key, and
// the token itself is never printed.
func TestDuplicateAPITokensRefused(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{"a": "tok-SECRET-dup\n", "b": "tok-SECRET-dup\n", "c": "tok-SECRET-other\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	svcYAML := "policy: p.yaml\nredis: {embedded: true}\nhttp:\n  api_tokens:\n    hris: {file: a}\n    ops: {file: b}\n    siem: {file: c}\n"
	_, err := parseServiceT(filepath.Join(dir, "k.yaml"), []byte(svcYAML))
	if err == nil {
		t.Fatal("two clients with one token were accepted")
	}
	msg := err.Error()
	if want := `k.yaml:6: http.api_tokens.ops: same token as client "hris"`; !strings.Contains(msg, want) {
		t.Errorf("missing %q in\n%s", want, msg)
	}
	if strings.Contains(msg, "SECRET") || strings.Contains(msg, "siem") {
		t.Errorf("the error prints a token or blames a distinct one:\n%s", msg)
	}
}

// TestOpenSecretFileRefusedAtItsKey: a {file:} secret that group or others
// may read (0644, 0640) is refused at file:line:key; 0600 loads, and so
// does an open file with KINETIC_ALLOW_OPEN_SECRET_FILES=1.
func TestOpenSecretFileRefusedAtItsKey(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes mean nothing on Windows")
	}
	t.Setenv(secret.EnvAllowOpenFiles, "")
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"world": 0o644, "group": 0o640, "private": 0o600} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("tok-SECRET-"+name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	svcYAML := "policy: p.yaml\nredis: {embedded: true}\nhttp:\n  api_tokens:\n    hris: {file: world}\n    ops: {file: group}\n    siem: {file: private}\n"
	_, err := parseServiceT(filepath.Join(dir, "k.yaml"), []byte(svcYAML))
	if err == nil {
		t.Fatal("secret files open to group and others were accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		"k.yaml:5: http.api_tokens.hris: secret file is open to group or others: " + filepath.Join(dir, "world") + " has mode 0644",
		"k.yaml:6: http.api_tokens.ops: secret file is open to group or others: " + filepath.Join(dir, "group") + " has mode 0640",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "siem") || strings.Contains(msg, "tok-SECRET") {
		t.Errorf("the private file was refused, or a value printed:\n%s", msg)
	}
	t.Setenv(secret.EnvAllowOpenFiles, "1")
	svc, err := parseServiceT(filepath.Join(dir, "k.yaml"), []byte(svcYAML))
	if err != nil {
		t.Fatalf("with %s=1: %v", secret.EnvAllowOpenFiles, err)
	}
	if svc.HTTP.APITokens["hris"].Value() != "tok-SECRET-world" {
		t.Error("the open file was not read with the override")
	}
}
