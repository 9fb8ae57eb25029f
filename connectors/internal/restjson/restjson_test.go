package restjson

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// A transport failure names the endpoint but not its query (a search), and
// is a retryable transient error.
func TestTransportErrorDropsTheQuery(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	c := &Client{Name: "x", HTTP: (&outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}).HTTPClient(0), Auth: Basic("u", "pw-S3CR3T")}
	_, err = c.Do(context.Background(), "op", http.MethodGet, "http://"+addr+"/api/now/table/incident?sysparm_query=correlation_id=kinetic-abc", nil)
	if connectors.KindOf(err) != connectors.KindTransient || !connectors.IsRetryable(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	if msg := err.Error(); strings.Contains(msg, "sysparm_query") || strings.Contains(msg, "pw-S3CR3T") || !strings.Contains(msg, "/api/now/table/incident") {
		t.Fatalf("err = %q: want the path without the query or the password", msg)
	}
}
