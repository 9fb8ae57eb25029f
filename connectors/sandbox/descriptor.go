package sandbox

import (
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the sandbox type for internal/compose's table. An
// instance with url is a client of a sandbox server (which holds and seeds
// its state); one without is in-memory, and the composition seeds it from
// the HR directory (SeedEmployees).
func Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:      TypeName,
			Simulated: true,
			NewBlock:  func() any { return &Config{} },
			Validate:  func(b any) error { return b.(*Config).Validate() },
			Operations: func(b any) ([]string, bool) {
				ops := Operations(b.(*Config).System)
				return connectors.OperationStrings(ops), ops != nil
			},
			URLs: func(b any) map[string]connspec.URL {
				if c := b.(*Config); c.URL != "" && connspec.HTTPURL(c.URL) {
					return map[string]connspec.URL{"url": {Check: c.URL}}
				}
				return nil
			},
			Describe: func(b any) string { return "sandbox system " + b.(*Config).System },
		},
		// As the real systems it simulates: revoke_vpn disables the VPN
		// identity and ends its tunnels, revoke_sessions the identity
		// provider's sessions (m365, okta).
		Revokes: map[connectors.Operation][]connectors.Revocation{
			connectors.OpRevokeVPN:      {connectors.RevokesVPNIdentity, connectors.RevokesVPNSessions},
			connectors.OpRevokeSessions: {connectors.RevokesIdPSessions},
		},
		New: func(name string, b any, deps connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			cfg := *b.(*Config)
			if cfg.URL == "" {
				sc, err := New(name, cfg)
				if err != nil {
					return nil, nil, err
				}
				return sc, Operations(cfg.System), nil
			}
			rc, err := NewRemote(name, cfg, deps.Policy)
			if err != nil {
				return nil, nil, err
			}
			return rc, rc.Type().Operations, nil
		},
	}
}
