package wireguard

import (
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the wireguard type for internal/compose's table. It
// calls no URL: the interfaces are on this host.
func Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:     TypeName,
			NewBlock: func() any { return &Config{} },
			Validate: func(b any) error { return b.(*Config).Validate() },
			Operations: func(b any) ([]string, bool) {
				return connectors.OperationStrings(Operations(*b.(*Config))), true
			},
			Files: func(b any) []connspec.File {
				if c := b.(*Config); c.PeersFile != "" {
					return []connspec.File{{Key: "peers_file", Path: &c.PeersFile}}
				}
				return nil
			},
		},
		New: func(name string, b any, _ connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			c, err := New(name, *b.(*Config))
			if err != nil {
				return nil, nil, err
			}
			return c, Operations(*b.(*Config)), nil
		},
	}
}
