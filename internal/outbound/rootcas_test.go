package outbound

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestRootCAs: RootCAs replaces the roots the policy's client verifies
// servers with (tests trust their https fakes this way); without it an
// unknown certificate is refused, and the address checks apply either way.
func TestRootCAs(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	get := func(p *URLPolicy) error {
		res, err := p.HTTPClient(10 * time.Second).Get(srv.URL)
		if err == nil {
			res.Body.Close()
		}
		return err
	}
	if err := get(&URLPolicy{AllowHosts: []string{"127.0.0.1"}}); err == nil {
		t.Fatal("a certificate from no trusted root was accepted")
	}
	if err := get(&URLPolicy{AllowHosts: []string{"127.0.0.1"}, RootCAs: pool}); err != nil {
		t.Fatalf("with the fake's root: %v", err)
	}
	if err := get(&URLPolicy{RootCAs: pool}); err == nil {
		t.Fatal("RootCAs let a loopback address through the policy")
	}
}
