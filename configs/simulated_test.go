package configs

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestCheckSimulated: sandbox connectors simulate their systems, so a
// service file with one must say simulated: true, or CheckSimulated (which
// kinetic serve and worker call) refuses it, naming each sandbox instance
// at its file, line and key. Load itself accepts the file.
func TestCheckSimulated(t *testing.T) {
	const base = "policy: p.yaml\nredis: {embedded: true}\nconnectors:\n" +
		"  okta:\n    type: sandbox\n    sandbox: {system: okta}\n" +
		"  ad: {type: sandbox, sandbox: {system: ad}}\n" +
		"  badges:\n    type: webhook\n    webhook:\n      base_url: https://10.20.1.2/api\n      lookup: {path: \"/u?email={{.Email}}\"}\n"
	const allow = "outbound: {allow_cidrs: [10.20.0.0/16]}\n"

	t.Run("refused without the flag, at file:line:key", func(t *testing.T) {
		svc, err := parseServiceT("svc.yaml", []byte(allow+base))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(svc.SandboxConnectors(), ","); got != "ad,okta" {
			t.Errorf("SandboxConnectors = %q", got)
		}
		err = svc.CheckSimulated()
		var list *Errors
		if !errors.Is(err, ErrSimulatedNotDeclared) || !errors.As(err, &list) || len(list.List) != 2 {
			t.Fatalf("err = %v", err)
		}
		for _, want := range []string{
			"svc.yaml:8: connectors.ad.type: sandbox simulates its system: nothing real is revoked",
			"svc.yaml:6: connectors.okta.type: sandbox simulates its system",
			"write simulated: true at the top of the file",
			"Use a real connector type (webhook, ldap, graph, okta",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	})
	t.Run("accepted with simulated: true", func(t *testing.T) {
		svc, err := parseServiceT("svc.yaml", []byte("simulated: true\n"+allow+base))
		if err != nil {
			t.Fatal(err)
		}
		if !svc.Simulated || svc.CheckSimulated() != nil {
			t.Errorf("simulated %t, check %v", svc.Simulated, svc.CheckSimulated())
		}
	})
	t.Run("no sandbox connector needs no flag, and the flag alone is fine", func(t *testing.T) {
		real := "policy: p.yaml\nredis: {embedded: true}\n" + allow + "connectors:\n" +
			"  badges:\n    type: webhook\n    webhook:\n      base_url: https://10.20.1.2/api\n      lookup: {path: \"/u?email={{.Email}}\"}\n"
		for _, src := range []string{real, "simulated: true\n" + real} {
			svc, err := parseServiceT("svc.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.CheckSimulated(); err != nil || svc.SandboxConnectors() != nil {
				t.Errorf("%s: check %v, sandboxes %v", src, err, svc.SandboxConnectors())
			}
		}
	})
	t.Run("the embedded default says simulated: true", func(t *testing.T) {
		clearEnv(t)
		cfg, err := defaultT()
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.Service.Simulated || cfg.Service.CheckSimulated() != nil || len(cfg.Service.SandboxConnectors()) == 0 {
			t.Errorf("embedded default: simulated %t, check %v", cfg.Service.Simulated, cfg.Service.CheckSimulated())
		}
	})
	t.Run("the flag must be a boolean", func(t *testing.T) {
		_, err := parseServiceT("svc.yaml", []byte("simulated: maybe\n"+allow+base))
		if err == nil || !strings.Contains(err.Error(), "svc.yaml:1: simulated") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestShippedConfigsAreNotSimulated: the production example and the
// Kubernetes ConfigMap (deployments/kubernetes, loaded by the main
// package's tests) never run a system on the sandbox, and never say
// simulated: true; the demo file does both, and says so. Every connector
// of the example builds.
func TestShippedConfigsAreNotSimulated(t *testing.T) {
	t.Run("kinetic.example.yaml", func(t *testing.T) {
		exampleEnv(t)
		cfg, err := loadT("kinetic.example.yaml")
		if err != nil {
			t.Fatal(err)
		}
		s := cfg.Service
		if s.Simulated || s.SandboxConnectors() != nil || s.CheckSimulated() != nil {
			t.Errorf("the production example is simulated: flag %t, sandbox connectors %v", s.Simulated, s.SandboxConnectors())
		}
		want := map[string]string{"ad": "ldap", "m365": "graph", "okta": "okta", "vpn": "fortigate", "aws": "awsiam",
			"salesforce": "salesforce", "badge": "brivo", "assets": "webhook", "payroll": "webhook"}
		for name, ci := range s.Connectors {
			if want[name] != ci.Type {
				t.Errorf("connector %s is of type %s, want %s", name, ci.Type, want[name])
			}
		}
		reg, err := cfg.BuildConnectors(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		for _, name := range reg.Names() {
			if in, _ := reg.Get(name); in.Simulated {
				t.Errorf("connector %s is built as a simulation", name)
			}
		}
	})
	t.Run("kinetic.demo.yaml", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("KINETIC_API_TOKEN", "tok-SECRET-demo")
		t.Setenv("KINETIC_DATABASE_DSN", "postgres://kinetic:pw-SECRET-demo@postgres:5432/kinetic")
		t.Setenv("KINETIC_REDIS_PASSWORD", "redis-SECRET-demo")
		t.Setenv(EnvRedisAddr, "redis:6379")
		cfg, err := loadT("kinetic.demo.yaml")
		if err != nil {
			t.Fatal(err)
		}
		s := cfg.Service
		if !s.Simulated || len(s.SandboxConnectors()) != len(s.Connectors) || s.CheckSimulated() != nil {
			t.Errorf("the demo file: simulated %t, sandbox connectors %v of %d", s.Simulated, s.SandboxConnectors(), len(s.Connectors))
		}
		if cfg.Policy == nil || cfg.Policy.Path != "policy.example.yaml" || s.Database.Driver != "postgres" {
			t.Errorf("demo: policy %+v, database %s", cfg.Policy, s.Database.Driver)
		}
	})
}

// TestProductionPolicyFollowsExample: policy.production.yaml is
// policy.example.yaml with convert_mailbox a manual step (and its own
// header); a change to one policy that is not made to the other fails here.
func TestProductionPolicyFollowsExample(t *testing.T) {
	body := func(name string) string {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		i := strings.Index(s, "\nversion: 1\n")
		if i < 0 {
			t.Fatalf("%s has no version: 1 line", name)
		}
		return s[i:]
	}
	example, production := body("policy.example.yaml"), body("policy.production.yaml")
	for _, act := range []string{"convert_mailbox"} {
		re := regexp.MustCompile(`(?m)^(  ` + act + `:\n)    description: .*\n((?:    .*\n)*?    depends_on: .*\n)`)
		if !re.MatchString(example) {
			t.Fatalf("policy.example.yaml has no %s with a depends_on", act)
		}
		m := regexp.MustCompile(`(?m)^  ` + act + `:\n    (description: .*)\n`).FindStringSubmatch(production)
		if m == nil {
			t.Fatalf("policy.production.yaml has no %s with a description", act)
		}
		example = re.ReplaceAllString(example, "${1}    "+strings.ReplaceAll(m[1], "$", "$$")+"\n${2}    manual: true\n")
	}
	if example != production {
		el, pl := strings.Split(example, "\n"), strings.Split(production, "\n")
		for i := range min(len(el), len(pl)) {
			if el[i] != pl[i] {
				t.Fatalf("policy.production.yaml differs from policy.example.yaml (convert_mailbox manual) at line %d of the policy body:\nexample:    %q\nproduction: %q", i+1, el[i], pl[i])
			}
		}
		t.Fatalf("policy.production.yaml and policy.example.yaml differ in length (%d and %d lines)", len(pl), len(el))
	}
}
