package configs

import (
	"strings"
	"testing"
	"time"
)

func TestHTTPLimits(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		svc, err := parseServiceT("s.yaml", []byte("policy: p.yaml\nredis: {embedded: true}\n"))
		if err != nil {
			t.Fatal(err)
		}
		h := svc.HTTP
		if h.ReadHeaderTimeout.D() != 10*time.Second || h.ReadTimeout.D() != 15*time.Second || h.WriteTimeout.D() != 60*time.Second ||
			h.IdleTimeout.D() != 60*time.Second || h.MaxConnections != 1000 || h.MaxConnectionsPerClient != 100 {
			t.Errorf("defaults = %+v", h)
		}
		if h.MetricsAddr != "" || h.MetricsToken.IsSet() {
			t.Errorf("metrics listener or token by default: %+v", h)
		}
	})
	t.Run("set", func(t *testing.T) {
		t.Setenv("KINETIC_TEST_METRICS_TOKEN", "metrics-SECRET-1")
		svc, err := parseServiceT("s.yaml", []byte(`policy: p.yaml
redis: {embedded: true}
http:
  addr: 127.0.0.1:8080
  metrics_addr: 127.0.0.1:9090
  metrics_token: {env: KINETIC_TEST_METRICS_TOKEN}
  read_timeout: 5s
  read_header_timeout: 2s
  write_timeout: 30s
  idle_timeout: 2m
  max_connections: 50
  max_connections_per_client: 50
`))
		if err != nil {
			t.Fatal(err)
		}
		h := svc.HTTP
		if h.MetricsAddr != "127.0.0.1:9090" || h.MetricsToken.Value() != "metrics-SECRET-1" || h.ReadTimeout.D() != 5*time.Second ||
			h.ReadHeaderTimeout.D() != 2*time.Second || h.IdleTimeout.D() != 2*time.Minute || h.MaxConnectionsPerClient != 50 {
			t.Errorf("http = %+v", h)
		}
	})
	t.Run("a short read timeout shortens the default header timeout", func(t *testing.T) {
		svc, err := parseServiceT("s.yaml", []byte("policy: p.yaml\nredis: {embedded: true}\nhttp:\n  read_timeout: 5s\n"))
		if err != nil {
			t.Fatal(err)
		}
		if svc.HTTP.ReadHeaderTimeout.D() != 5*time.Second {
			t.Errorf("read_header_timeout = %s, want 5s", svc.HTTP.ReadHeaderTimeout)
		}
	})
	t.Run("negative caps are refused", func(t *testing.T) {
		_, err := parseServiceT("s.yaml", []byte("policy: p.yaml\nredis: {embedded: true}\nhttp:\n  max_connections: -1\n  max_connections_per_client: -2\n"))
		for _, want := range []string{"s.yaml:4: http.max_connections: must not be negative", "s.yaml:5: http.max_connections_per_client: must not be negative"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want %q", err, want)
			}
		}
	})
}
