package webhook

import (
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the webhook type for internal/compose's table. Its
// operations are exactly the configured ones (an unknown key is reported by
// the block's validation).
func Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:     TypeName,
			NewBlock: func() any { return &Config{} },
			Validate: func(b any) error { return b.(*Config).Validate() },
			Operations: func(b any) ([]string, bool) {
				return connectors.OperationStrings(b.(*Config).OperationList()), true
			},
			URLs: func(b any) map[string]connspec.URL {
				if c := b.(*Config); ValidateBaseURL(c.BaseURL) == nil {
					return map[string]connspec.URL{"base_url": {Check: c.BaseURL}}
				}
				return nil
			},
		},
		New: func(name string, b any, deps connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			wc, err := New(name, *b.(*Config), deps.Policy)
			if err != nil {
				return nil, nil, err
			}
			return wc, wc.Operations(), nil
		},
	}
}
