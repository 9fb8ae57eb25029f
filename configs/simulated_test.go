package configs

import (
	"errors"
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
		svc, err := ParseService("svc.yaml", []byte(allow+base))
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
			"Use a real connector type (webhook, ldap, graph, okta)",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	})
	t.Run("accepted with simulated: true", func(t *testing.T) {
		svc, err := ParseService("svc.yaml", []byte("simulated: true\n"+allow+base))
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
			svc, err := ParseService("svc.yaml", []byte(src))
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
		cfg, err := Default()
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.Service.Simulated || cfg.Service.CheckSimulated() != nil || len(cfg.Service.SandboxConnectors()) == 0 {
			t.Errorf("embedded default: simulated %t, check %v", cfg.Service.Simulated, cfg.Service.CheckSimulated())
		}
	})
	t.Run("the flag must be a boolean", func(t *testing.T) {
		_, err := ParseService("svc.yaml", []byte("simulated: maybe\n"+allow+base))
		if err == nil || !strings.Contains(err.Error(), "svc.yaml:1: simulated") {
			t.Errorf("err = %v", err)
		}
	})
}
