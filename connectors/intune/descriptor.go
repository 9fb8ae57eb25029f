package intune

import (
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the intune type for internal/compose's table.
// authority_url and graph_url are checked at load when written; their
// defaults (Microsoft's public endpoints) are not looked up, but every
// connection passes the policy's HTTP client.
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
				c := b.(*Config)
				urls := map[string]connspec.URL{}
				if connspec.HTTPURL(c.AuthorityURL) {
					urls["authority_url"] = connspec.URL{Check: c.AuthorityURL}
				}
				if connspec.HTTPURL(c.GraphURL) {
					urls["graph_url"] = connspec.URL{Check: c.GraphURL}
				}
				return urls
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
