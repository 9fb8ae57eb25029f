package desk

import (
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the desk type for internal/compose's table. It
// calls no URL and enables no automated operation: its operations are
// manual-only (connspec.Spec.ManualOnly), so configuration requires every
// step on a desk instance to be manual: true.
func Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:     TypeName,
			NewBlock: func() any { return &Config{} },
			Validate: func(b any) error { return b.(*Config).Validate() },
			Operations: func(any) ([]string, bool) {
				return nil, true
			},
			ManualOnly: func(b any) []string {
				return connectors.OperationStrings(ManualOperations(*b.(*Config)))
			},
			Describe: func(b any) string { return "security desk at " + b.(*Config).Facility },
		},
		New: func(name string, b any, _ connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			c, err := New(name, *b.(*Config))
			if err != nil {
				return nil, nil, err
			}
			return c, nil, nil
		},
	}
}
