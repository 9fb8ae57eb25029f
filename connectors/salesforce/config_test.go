package salesforce

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/kineticsec/kinetic/connectors"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{InstanceURL: "https://example.my.salesforce.com", ClientID: "3MVG9x", Username: "k@example.com", PrivateKeyFile: "k.pem"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if got := ok.TokenURL(); got != "https://login.salesforce.com/services/oauth2/token" {
		t.Errorf("TokenURL = %q", got)
	}
	for name, tc := range map[string]struct {
		mut  func(*Config)
		want string
	}{
		"no instance":      {func(c *Config) { c.InstanceURL = "" }, "instance_url is required"},
		"http instance":    {func(c *Config) { c.InstanceURL = "http://example.my.salesforce.com" }, "instance_url must use https"},
		"instance path":    {func(c *Config) { c.InstanceURL = "https://example.my.salesforce.com/services/data" }, "instance_url must be the host alone"},
		"instance user":    {func(c *Config) { c.InstanceURL = "https://u:pw@example.my.salesforce.com" }, "user info"},
		"login path":       {func(c *Config) { c.LoginURL = "https://login.salesforce.com/services/oauth2/token" }, "login_url must be the host alone"},
		"audience scheme":  {func(c *Config) { c.Audience = "login.salesforce.com" }, "audience has no scheme"},
		"no client":        {func(c *Config) { c.ClientID = " " }, "client_id is required"},
		"no username":      {func(c *Config) { c.Username = "" }, "username is required"},
		"no key":           {func(c *Config) { c.PrivateKeyFile = "" }, "private_key_file or private_key is required"},
		"api version":      {func(c *Config) { c.APIVersion = "v62" }, "api_version"},
		"match on":         {func(c *Config) { c.MatchOn = []string{"username"} }, "match_on[0]"},
		"match twice":      {func(c *Config) { c.MatchOn = []string{"email", "email"} }, "match_on[1]: \"email\" is listed twice"},
		"object injection": {func(c *Config) { c.TransferObjects = []string{"Account WHERE Id != null"} }, "transfer_objects[0]"},
		"object twice":     {func(c *Config) { c.TransferObjects = []string{"Account", "account"} }, "transfer_objects[1]"},
		"max records":      {func(c *Config) { c.MaxTransferRecords = -1 }, "max_transfer_records"},
		"ttl short":        {func(c *Config) { c.TokenTTL = 1 }, "token_ttl must be at least 1m"},
		"timeout":          {func(c *Config) { c.Timeout = -1 }, "timeout"},
	} {
		cfg := ok
		tc.mut(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("%s: error repeats user info: %v", name, err)
		}
	}
	if (Config{InstanceURL: "http://127.0.0.1:8080", ClientID: "c", Username: "u", PrivateKeyFile: "k"}).Validate() != nil {
		t.Error("http on loopback should be accepted for tests")
	}
}

func TestNewReadsTheKey(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{InstanceURL: "https://example.my.salesforce.com", ClientID: "c", Username: "u"}
	for name, tc := range map[string]struct{ content, want string }{
		"missing":   {"", "private_key_file"},
		"not pem":   {"hello", "no PEM block"},
		"encrypted": {"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted keys are not supported"},
		"garbage":   {"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "cannot parse"},
	} {
		p := filepath.Join(dir, name+".pem")
		if tc.content != "" {
			os.WriteFile(p, []byte(tc.content), 0o600)
		}
		cfg.PrivateKeyFile = p
		_, err := New("x", cfg, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "AAAA") {
			t.Errorf("%s: error repeats key content: %v", name, err)
		}
	}
	cfg.PrivateKeyFile = writeKey(t, rsaKey(t))
	c, err := New("", cfg, nil)
	if err != nil || c.Name() != TypeName || !slices.Equal(c.Type().Operations, Operations(cfg)) {
		t.Fatalf("New = %v, %v", c, err)
	}
}

// TestConfigYAML decodes the example blocks in testdata the way the configs
// package does (unknown keys are errors) and checks they validate.
func TestConfigYAML(t *testing.T) {
	decode := func(t *testing.T, name string) (Config, error) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var cfg Config
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		dec.KnownFields(true)
		return cfg, dec.Decode(&cfg)
	}
	cfg, err := decode(t, "jwt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.ClientID != "3MVG9example.ConsumerKey" || cfg.MaxTransferRecords != 500 || !slices.Equal(cfg.transferObjects(), []string{"Account", "Opportunity", "Lead"}) ||
		cfg.TokenTTL.D().Minutes() != 20 || cfg.audience() != LoginProduction {
		t.Errorf("decoded %+v", cfg)
	}
	d := Descriptor()
	block := d.NewBlock().(*Config)
	*block = cfg
	urls := d.URLs(block)
	if urls["instance_url"].Check != "https://example.my.salesforce.com" || urls["login_url"].Check != "https://login.salesforce.com" {
		t.Errorf("URLs = %+v", urls)
	}
	if files := d.Files(block); len(files) != 1 || files[0].Key != "private_key_file" {
		t.Errorf("Files = %+v", files)
	}
	if ops, ok := d.Operations(block); !ok || !slices.Equal(ops, connectors.OperationStrings(Operations(cfg))) {
		t.Errorf("Operations = %v", ops)
	}
	if _, err := decode(t, "unknown-key.yaml"); err == nil || !strings.Contains(err.Error(), "client_secret") {
		t.Fatalf("unknown key: %v", err)
	}
}

// FuzzSOQLQuote checks that any value becomes one SOQL string literal that
// reads back as the value (control characters SOQL cannot escape
// dropped): nothing a subject's email or employee number holds can end the
// literal and add to the query.
func FuzzSOQLQuote(f *testing.F) {
	f.Add("o'brien@example.com")
	f.Add(`a\b` + "\n" + `"c' OR Id != 'x`)
	f.Fuzz(func(t *testing.T, v string) {
		if !utf8.ValidString(v) {
			t.Skip()
		}
		lit := soqlQuote(v)
		if len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' {
			t.Fatalf("soqlQuote(%q) = %q: not a quoted literal", v, lit)
		}
		inner := lit[1 : len(lit)-1]
		var got strings.Builder
		for i := 0; i < len(inner); i++ {
			switch inner[i] {
			case '\'':
				t.Fatalf("soqlQuote(%q) = %q: an unescaped quote ends the literal early", v, lit)
			case '\\':
				i++
				if i == len(inner) {
					t.Fatalf("soqlQuote(%q) = %q: a trailing backslash escapes the closing quote", v, lit)
				}
				e, ok := map[byte]string{'\\': `\`, '\'': `'`, '"': `"`, 'n': "\n", 'r': "\r", 't': "\t", 'b': "\b", 'f': "\f"}[inner[i]]
				if !ok {
					t.Fatalf("soqlQuote(%q) = %q: unknown escape \\%c", v, lit, inner[i])
				}
				got.WriteString(e)
			default:
				got.WriteByte(inner[i])
			}
		}
		want := strings.Map(func(r rune) rune {
			if r < 0x20 && !strings.ContainsRune("\n\r\t\b\f", r) {
				return -1
			}
			return r
		}, v)
		if got.String() != want {
			t.Fatalf("soqlQuote(%q) reads back as %q, want %q", v, got.String(), want)
		}
	})
}
