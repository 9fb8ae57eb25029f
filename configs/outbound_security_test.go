package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadRefusesInternalConnectorURLsUnlessAllowlisted loads a service
// file whose webhook connector's base_url is an internal address, spelled
// every way that needs no DNS: Load refuses it naming the file, line, key,
// address and class, and loads it once outbound.allow_cidrs lists the exact
// address (or outbound.allow_hosts the exact host) — except for link-local
// and cloud metadata addresses (never: true), which no allowlist may open:
// the allowlist entry itself is refused at its key, and the URL still is.
func TestLoadRefusesInternalConnectorURLsUnlessAllowlisted(t *testing.T) {
	clearEnv(t)
	policy, err := filepath.Abs("testdata/min/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const ll = "link-local/cloud metadata"
	table := []struct {
		url, addr, class, allowCIDR, allowHost string
		never                                  bool
	}{
		{"http://169.254.169.254/latest", "169.254.169.254", ll, "169.254.169.254/32", "", true},
		{"http://169.254.169.254:80/computeMetadata/v1", "169.254.169.254", ll, "169.254.0.0/16", "169.254.169.254", true},
		{"http://169.254.170.2/v2", "169.254.170.2", ll, "169.254.170.2", "", true},
		{"http://[fe80::1]/api", "fe80::1", ll, "fe80::/10", "", true},
		{"http://[fd00:ec2::254]/latest", "fd00:ec2::254", "private/cloud metadata", "fd00:ec2::254/128", "", true},
		{"http://100.100.100.200/latest", "100.100.100.200", "carrier-grade NAT/cloud metadata", "100.100.100.200/32", "", false},
		{"https://10.0.0.1/api", "10.0.0.1", "private", "10.0.0.0/8", "10.0.0.1", false},
		{"https://172.16.4.5/api", "172.16.4.5", "private", "172.16.0.0/12", "", false},
		{"https://192.168.1.1/api", "192.168.1.1", "private", "192.168.1.1/32", "", false},
		// fc00::/7 is shorter than /16 and holds fd00:ec2::254: a /16 of it.
		{"https://[fc00::1]/api", "fc00::1", "private", "fc00::/16", "", false},
		{"http://127.0.0.1:8080/api", "127.0.0.1", "loopback", "127.0.0.1/32", "127.0.0.1", false},
		{"http://[::1]:8080/api", "::1", "loopback", "::1/128", "", false},
		{"http://0.0.0.0/api", "0.0.0.0", "unspecified", "0.0.0.0/32", "", false},
		{"http://[::ffff:169.254.169.254]/latest", "::ffff:169.254.169.254", ll, "169.254.169.254/32", "", true},
		{"http://[::ffff:a9fe:a9fe]/latest", "::ffff:169.254.169.254", ll, "::ffff:169.254.169.254/128", "", true},
		{"http://[64:ff9b::a9fe:a9fe]/latest", "64:ff9b::a9fe:a9fe", "NAT64 of 169.254.169.254", "64:ff9b::a9fe:a9fe/128", "", true},
		{"http://[2002:a9fe:a9fe::1]/latest", "2002:a9fe:a9fe::1", "6to4 of 169.254.169.254", "2002:a9fe:a9fe::/48", "", true},
		{"HTTP://169.254.169.254/latest", "169.254.169.254", ll, "169.254.169.254/32", "", true},
	}
	dir := t.TempDir()
	load := func(baseURL, outbound string) error {
		svc := fmt.Sprintf(`redis: {embedded: true}
policy: %s
%sconnectors:
  ad:
    type: sandbox
    sandbox: {system: ad}
  badges:
    type: webhook
    webhook:
      base_url: %q
      lookup:
        path: "/people?email={{.Email}}"
`, policy, outbound, baseURL)
		path := filepath.Join(dir, "kinetic.yaml")
		if err := os.WriteFile(path, []byte(svc), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadT(path)
		return err
	}
	loads := 0
	for _, tc := range table {
		err := load(tc.url, "")
		loads++
		if err == nil {
			t.Errorf("%s: loaded, want refused", tc.url)
			continue
		}
		for _, want := range []string{"kinetic.yaml:10: connectors.badges.webhook.base_url: outbound URL refused by policy", tc.addr, tc.class, "outbound.allow_cidrs"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", tc.url, err, want)
			}
		}
		// never: the entry is refused at its key, and the URL still is.
		wantAllowed := func(key, entry string, err error) {
			t.Helper()
			switch {
			case !tc.never && err != nil:
				t.Errorf("%s with %s [%s]: %v, want loaded", tc.url, key, entry, err)
			case tc.never && err == nil:
				t.Errorf("%s with %s [%s]: loaded, want the allowlist refused", tc.url, key, entry)
			case tc.never:
				for _, want := range []string{"kinetic.yaml:3: outbound." + key + "[0]: ", "which no allowlist may open",
					"kinetic.yaml:11: connectors.badges.webhook.base_url: outbound URL refused by policy"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s with %s [%s]: error %q does not say %q", tc.url, key, entry, err, want)
					}
				}
			}
		}
		wantAllowed("allow_cidrs", tc.allowCIDR, load(tc.url, fmt.Sprintf("outbound: {allow_cidrs: [%q]}\n", tc.allowCIDR)))
		loads++
		if tc.allowHost != "" {
			wantAllowed("allow_hosts", tc.allowHost, load(tc.url, fmt.Sprintf("outbound: {allow_hosts: [%q]}\n", tc.allowHost)))
			loads++
		}
		// An allowlist that names something else does not help.
		if err := load(tc.url, "outbound: {allow_cidrs: [\"198.51.100.0/24\"], allow_hosts: [\"okta.com\"]}\n"); err == nil {
			t.Errorf("%s loaded with an unrelated allowlist", tc.url)
		}
		loads++
	}
	t.Logf("configuration load: %d base URLs, %d loads", len(table), loads)
}
