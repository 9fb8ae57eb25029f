package connectors_test

import (
	"context"
	"slices"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
)

// TestBuildCarriesRevokes: an instance carries its type's declaration of
// what each operation revokes, for the engine's summary.
func TestBuildCarriesRevokes(t *testing.T) {
	desc := connectors.Descriptor{
		New: func(name string, _ any, _ connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			return stubConn{name}, []connectors.Operation{connectors.OpRevokeVPN}, nil
		},
		Revokes: map[connectors.Operation][]connectors.Revocation{
			connectors.OpRevokeVPN: {connectors.RevokesVPNIdentity, connectors.RevokesVPNSessions},
		},
	}
	desc.Type = "vpnbox"
	reg, err := connectors.Build([]connectors.Descriptor{desc}, []connectors.InstanceConfig{{Name: "vpn", Type: "vpnbox", Block: struct{}{}}}, connectors.Deps{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := reg.Get("vpn")
	if got := in.Revokes[connectors.OpRevokeVPN]; !slices.Equal(got, []connectors.Revocation{connectors.RevokesVPNIdentity, connectors.RevokesVPNSessions}) {
		t.Fatalf("Revokes = %v", got)
	}
}

type stubConn struct{ name string }

func (s stubConn) Name() string { return s.name }
func (stubConn) Lookup(context.Context, connectors.Subject) (connectors.LookupResult, error) {
	return connectors.LookupResult{}, nil
}
func (stubConn) Do(context.Context, connectors.Request) (connectors.Result, error) {
	return connectors.Result{Outcome: connectors.OutcomeNoneFound}, nil
}
