package scim

import (
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the scim connector type for internal/compose's
// table: its block, validation, the URLs the outbound policy checks
// (base_url and oauth.token_url) and its constructor.
func Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:     TypeName,
			NewBlock: func() any { return &Config{} },
			Validate: func(b any) error { return b.(*Config).Validate() },
			Operations: func(any) ([]string, bool) {
				return connectors.OperationStrings(Operations()), true
			},
			URLs: func(b any) map[string]connspec.URL {
				out := map[string]connspec.URL{}
				for k, u := range b.(*Config).URLs() {
					out[k] = connspec.URL{Check: u}
				}
				return out
			},
		},
		New: func(name string, b any, deps connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			c, err := New(name, *b.(*Config), deps.Policy, WithLogger(deps.Log))
			if err != nil {
				return nil, nil, err
			}
			return c, Operations(), nil
		},
	}
}
