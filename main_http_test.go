package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/configs"
)

// TestServeMetricsListener: with http.metrics_addr, /metrics leaves the API
// listener for its own, and with http.metrics_token it needs that token.
func TestServeMetricsListener(t *testing.T) {
	dir := inTempDir(t)
	const metricsToken = "metrics-token-c4a7e2"
	t.Setenv("KINETIC_TEST_METRICS_TOKEN", metricsToken)
	maddr := freeAddr(t)
	cfg := kitConfig(t, dir, "  metrics_addr: "+maddr+"\n  metrics_token: {env: KINETIC_TEST_METRICS_TOKEN}\n  read_timeout: 5s\n  idle_timeout: 5s\n")
	addr := freeAddr(t)
	t.Setenv(configs.EnvHTTPAddr, addr)
	stop, done := background(t, "serve", "--config", cfg)
	waitHTTP(t, "http://"+addr+"/readyz", done, stop)

	if code, _ := call(t, "GET", "http://"+addr+"/metrics", metricsToken, ""); code != http.StatusNotFound {
		t.Errorf("/metrics on the API listener: %d, want 404", code)
	}
	if code, _ := call(t, "GET", "http://"+maddr+"/metrics", "", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", code)
	}
	if code, body := call(t, "GET", "http://"+maddr+"/metrics", metricsToken, ""); code != http.StatusOK || !strings.Contains(string(body), "kinetic_queue_tasks") {
		t.Errorf("/metrics with the token: %d", code)
	}
	if code, _ := call(t, "GET", "http://"+maddr+"/readyz", "", ""); code != http.StatusNotFound {
		t.Errorf("the metrics listener serves /readyz: %d, want 404", code)
	}
	r := stop()
	r.want(t, 0, `"metrics_addr":"`+maddr+`"`, "kinetic serve listening")
	if strings.Contains(r.stdout+r.stderr, metricsToken) {
		t.Errorf("serve's output carries the metrics token:\n%s", r)
	}
}
