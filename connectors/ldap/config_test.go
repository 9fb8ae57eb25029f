package ldap_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"gopkg.in/yaml.v3"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/ldap"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

// These tests need no directory server.

func validConfig() ldap.Config {
	return ldap.Config{
		URL:          "ldaps://dc1.corp.example",
		BindDN:       "CN=svc,DC=corp,DC=example",
		BindPassword: secret.FromValue("s3cret-bind-pw"),
		BaseDN:       "DC=corp,DC=example",
	}
}

func TestValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	tests := []struct {
		name   string
		modify func(c *ldap.Config)
		want   string // substring of the error
	}{
		{"url is required", func(c *ldap.Config) { c.URL = "" }, "url is required"},
		{"url must be ldap or ldaps", func(c *ldap.Config) { c.URL = "https://dc1" }, `scheme "https"`},
		{"url without host", func(c *ldap.Config) { c.URL = "ldaps://" }, "no host"},
		{"url with a path", func(c *ldap.Config) { c.URL = "ldaps://dc1/DC=corp" }, "only scheme, host and port"},
		{"url with user info", func(c *ldap.Config) { c.URL = "ldaps://admin:hunter2@dc1" }, "user info"},
		{"plain ldap is refused", func(c *ldap.Config) { c.URL = "ldap://dc1" }, "allow_insecure_plain_ldap"},
		{"start_tls on ldaps", func(c *ldap.Config) { c.StartTLS = true }, "already TLS"},
		{"ca_file missing", func(c *ldap.Config) { c.CAFile = "testdata/nope.pem" }, "ca_file"},
		{"ca_file without certificates", func(c *ldap.Config) { c.CAFile = "testdata/example.yaml" }, "no PEM certificate"},
		{"bind_dn is required", func(c *ldap.Config) { c.BindDN = "" }, "bind_dn is required"},
		{"bind_dn must be a DN", func(c *ldap.Config) { c.BindDN = "svc-kinetic" }, "bind_dn: not a DN"},
		{"bind_password is required", func(c *ldap.Config) { c.BindPassword = secret.Secret{} }, "bind_password is required"},
		{"base_dn is required", func(c *ldap.Config) { c.BaseDN = "" }, "base_dn is required"},
		{"base_dn must be a DN", func(c *ldap.Config) { c.BaseDN = "corp.example" }, "base_dn: not a DN"},
		{"user_filter must compile", func(c *ldap.Config) { c.UserFilter = "objectClass=user" }, "user_filter"},
		{"unknown match_field", func(c *ldap.Config) { c.MatchField = "upn" }, `unknown field "upn"`},
		{"bad match_attribute", func(c *ldap.Config) { c.MatchAttribute = "mail)(x" }, "not an attribute name"},
		{"bad keep_groups DN", func(c *ldap.Config) { c.KeepGroups = []string{"CN=a,,DC=x="} }, "keep_groups[0]"},
		{"empty keep_groups entry", func(c *ldap.Config) { c.KeepGroups = []string{" "} }, "keep_groups[0]"},
		{"disabled_ou outside base_dn", func(c *ldap.Config) { c.DisabledOU = "OU=Disabled,DC=other,DC=example" }, "inside base_dn"},
		{"unknown disable mode", func(c *ldap.Config) { c.Disable.Mode = "delete" }, `unknown mode "delete"`},
		{"attribute mode needs an attribute", func(c *ldap.Config) { c.Disable = ldap.Disable{Mode: "attribute", Value: "TRUE"} }, "disable.attribute"},
		{"attribute mode needs a value", func(c *ldap.Config) { c.Disable = ldap.Disable{Mode: "attribute", Attribute: "nsAccountLock"} }, "disable.value"},
		{"uac mode takes no attribute", func(c *ldap.Config) { c.Disable = ldap.Disable{Attribute: "nsAccountLock"} }, "mode attribute"},
		{"reset_password needs uac", func(c *ldap.Config) {
			c.ResetPassword = true
			c.Disable = ldap.Disable{Mode: "attribute", Attribute: "nsAccountLock", Value: "TRUE"}
		}, "needs disable mode uac"},
		{"reset_password needs TLS", func(c *ldap.Config) {
			c.ResetPassword, c.URL, c.AllowInsecurePlainLDAP = true, "ldap://dc1", true
		}, "encrypted connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := validConfig()
			tt.modify(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret-bind-pw") {
				t.Fatalf("error repeats a password: %q", err)
			}
			if _, nerr := ldap.New("ad", cfg); connectors.KindOf(nerr) != connectors.KindInvalid {
				t.Fatalf("New() error = %v, want a KindInvalid error", nerr)
			}
		})
	}
	t.Run("every problem is reported", func(t *testing.T) {
		err := ldap.Config{URL: "ldap://dc1", MatchField: "upn"}.Validate()
		for _, want := range []string{"allow_insecure_plain_ldap", "bind_dn", "bind_password", "base_dn", "match_field"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Validate() = %v, want it to mention %s", err, want)
			}
		}
	})
	t.Run("non-AD directories", func(t *testing.T) {
		for _, d := range []ldap.Disable{
			{Mode: "attribute", Attribute: "nsAccountLock", Value: "TRUE"},
			{Mode: "attribute", Attribute: "pwdAccountLockedTime", Value: "000001010000Z"},
		} {
			cfg := validConfig()
			cfg.URL, cfg.StartTLS = "ldap://ldap.corp.example", true
			cfg.Disable, cfg.MatchField = d, "username"
			if err := cfg.Validate(); err != nil {
				t.Errorf("%+v: %v", d, err)
			}
		}
	})
	t.Run("New needs a resolved password", func(t *testing.T) {
		cfg := validConfig()
		cfg.BindPassword = secret.Secret{Env: "KINETIC_TEST_UNSET_VARIABLE"}
		_, err := ldap.New("ad", cfg)
		if connectors.KindOf(err) != connectors.KindInvalid || !strings.Contains(err.Error(), "bind_password") {
			t.Fatalf("New() = %v, want KindInvalid about bind_password", err)
		}
	})
}

func TestBaseURL(t *testing.T) {
	for url, want := range map[string]string{
		"ldaps://dc1.corp.example":      "https://dc1.corp.example:636/",
		"ldap://dc1.corp.example":       "https://dc1.corp.example:389/",
		"ldaps://10.0.0.5:3269":         "https://10.0.0.5:3269/",
		"ldaps://[fd00::5]":             "https://[fd00::5]:636/",
		"ldaps://169.254.169.254:636/":  "https://169.254.169.254:636/",
		"ldaps://admin:pw@dc1.example/": "",
		"not a url":                     "",
	} {
		if got := (ldap.Config{URL: url}).BaseURL(); got != want {
			t.Errorf("BaseURL(%q) = %q, want %q", url, got, want)
		}
	}
	// The form is one the outbound URL policy can judge.
	err := (&outbound.URLPolicy{}).CheckURL(context.Background(), ldap.Config{URL: "ldaps://169.254.169.254"}.BaseURL())
	if !errors.Is(err, outbound.ErrURLRefused) {
		t.Fatalf("CheckURL(metadata address) = %v, want a refusal", err)
	}
}

// TestExampleConfig decodes testdata/example.yaml strictly, as the configs
// package does, and validates it.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var cfg ldap.Config
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if cfg.BindPassword.Env != "KINETIC_TEST_EXAMPLE_AD_PASSWORD" || cfg.Timeout != dur.Duration(20*time.Second) ||
		len(cfg.KeepGroups) != 2 || cfg.Disable.Mode != "uac" || !cfg.ResetPassword {
		t.Fatalf("decoded %+v", cfg)
	}
	t.Setenv("KINETIC_TEST_EXAMPLE_AD_PASSWORD", "example-pw")
	if err := cfg.BindPassword.Resolve(); err != nil {
		t.Fatal(err)
	}
	c, err := ldap.New("ad", cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got := connectors.OperationNames(c.Type().Operations); got != "disable_account, remove_group_memberships" {
		t.Fatalf("operations = %s", got)
	}
	// An inline password is refused by the secret type.
	bad := strings.Replace(string(b), "{env: KINETIC_TEST_EXAMPLE_AD_PASSWORD}", "hunter2", 1)
	dec = yaml.NewDecoder(strings.NewReader(bad))
	dec.KnownFields(true)
	if err := dec.Decode(&ldap.Config{}); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("inline bind_password: err = %v, want a refusal that does not repeat it", err)
	}
}

// TestFilterEscaping checks that a match value cannot change the filter.
func TestFilterEscaping(t *testing.T) {
	c, err := ldap.New("ad", validConfig())
	if err != nil {
		t.Fatal(err)
	}
	for value, want := range map[string]string{
		"dana@example.com":          `(&(objectClass=user)(mail=dana@example.com))`,
		"x*)(mail=*":                `(&(objectClass=user)(mail=x\2a\29\28mail=\2a))`,
		`a*)(|(objectClass=*)\@e.t`: `(&(objectClass=user)(mail=a\2a\29\28|\28objectClass=\2a\29\5c@e.t))`,
		"nul\x00byte@example.com":   `(&(objectClass=user)(mail=nul\00byte@example.com))`,
	} {
		got := ldap.FilterFor(c, value)
		if got != want {
			t.Errorf("filter for %q = %s, want %s", value, got, want)
		}
		f, err := goldap.CompileFilter(got)
		if err != nil {
			t.Errorf("filter for %q does not compile: %v", value, err)
			continue
		}
		// Exactly one AND of two items: the value did not add any.
		if n := len(f.Children); n != 2 {
			t.Errorf("filter for %q has %d clauses, want 2", value, n)
		}
	}
}

// offlineConnector returns a connector whose connections go to dial.
func offlineConnector(t *testing.T, cfg ldap.Config, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *ldap.Connector {
	t.Helper()
	c, err := ldap.New("ad", cfg, ldap.WithDialer(dial))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// stalledServer accepts connections and never answers.
func stalledServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestTimeoutsAndCancellation(t *testing.T) {
	addr := stalledServer(t)
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	subj := connectors.Subject{Email: "dana@example.com"}

	t.Run("the caller's deadline stops a stalled call", func(t *testing.T) {
		c := offlineConnector(t, validConfig(), dial)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Lookup(ctx, subj)
		if el := time.Since(start); el > 3*time.Second {
			t.Fatalf("Lookup took %s after a 200ms deadline", el)
		}
		if !errors.Is(err, context.DeadlineExceeded) || connectors.KindOf(err) != connectors.KindCanceled || !connectors.IsRetryable(err) {
			t.Fatalf("Lookup = %v (kind %s), want a retryable canceled error wrapping DeadlineExceeded", err, connectors.KindOf(err))
		}
	})
	t.Run("cancelling stops a call in flight", func(t *testing.T) {
		c := offlineConnector(t, validConfig(), dial)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := c.Do(ctx, connectors.Request{Operation: connectors.OpDisableAccount, Subject: subj})
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("Do returned before it was cancelled: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) || connectors.KindOf(err) != connectors.KindCanceled {
				t.Fatalf("Do = %v, want a canceled error", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Do did not return within 5s of cancellation")
		}
	})
	t.Run("the configured timeout is a transient error", func(t *testing.T) {
		cfg := validConfig()
		cfg.Timeout = dur.Duration(150 * time.Millisecond)
		c := offlineConnector(t, cfg, dial)
		_, err := c.Lookup(context.Background(), subj)
		if connectors.KindOf(err) != connectors.KindTransient || !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("Lookup = %v (kind %s), want transient timeout", err, connectors.KindOf(err))
		}
	})
	t.Run("a refused connection is transient", func(t *testing.T) {
		cfg := validConfig()
		cfg.URL = "ldaps://127.0.0.1:1"
		c, err := ldap.New("ad", cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Lookup(context.Background(), subj)
		if connectors.KindOf(err) != connectors.KindTransient || !connectors.IsRetryable(err) {
			t.Fatalf("Lookup = %v (kind %s), want transient", err, connectors.KindOf(err))
		}
	})
	t.Run("the outbound URL policy is obeyed", func(t *testing.T) {
		cfg := validConfig()
		cfg.URL = "ldaps://127.0.0.1:1"
		c, err := ldap.New("ad", cfg, ldap.WithURLPolicy(&outbound.URLPolicy{}))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Lookup(context.Background(), subj)
		if !errors.Is(err, outbound.ErrURLRefused) || connectors.KindOf(err) != connectors.KindInvalid {
			t.Fatalf("Lookup = %v, want an invalid refusal by the URL policy", err)
		}
		pol, err := outbound.NewURLPolicy([]string{"127.0.0.0/8"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, _ = ldap.New("ad", cfg, ldap.WithURLPolicy(pol))
		_, err = c.Lookup(context.Background(), subj)
		if connectors.KindOf(err) != connectors.KindTransient {
			t.Fatalf("Lookup with 127/8 allowed = %v, want transient (connection refused)", err)
		}
	})
	t.Run("calls after Close fail retryably", func(t *testing.T) {
		c := offlineConnector(t, validConfig(), dial)
		c.Close()
		_, err := c.Lookup(context.Background(), subj)
		if connectors.KindOf(err) != connectors.KindTransient {
			t.Fatalf("Lookup after Close = %v, want transient", err)
		}
	})
}

func TestUnsupportedOperation(t *testing.T) {
	c, err := ldap.New("ad", validConfig())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Do(context.Background(), connectors.Request{Operation: connectors.OpRevokeSessions})
	if connectors.KindOf(err) != connectors.KindInvalid {
		t.Fatalf("Do(revoke_sessions) = %v, want invalid", err)
	}
	_, err = c.Verify(context.Background(), connectors.Request{Operation: connectors.OpRevokeSessions})
	if connectors.KindOf(err) != connectors.KindInvalid {
		t.Fatalf("Verify(revoke_sessions) = %v, want invalid", err)
	}
}
