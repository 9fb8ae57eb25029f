package jira

import (
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the jira type for internal/compose's table. It
// enables no operation: the engine files tickets through
// connectors.Ticketer.
func Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:       TypeName,
			NewBlock:   func() any { return &Config{} },
			Validate:   func(b any) error { return b.(*Config).Validate() },
			Operations: func(any) ([]string, bool) { return []string{}, true },
			Ticketer:   true,
			URLs: func(b any) map[string]connspec.URL {
				if c := b.(*Config); connspec.HTTPURL(c.SiteURL) {
					return map[string]connspec.URL{"site_url": {Check: c.BaseURL()}}
				}
				return nil
			},
		},
		New: func(name string, b any, deps connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			c, err := New(name, *b.(*Config), deps.Policy)
			if err != nil {
				return nil, nil, err
			}
			return c, nil, nil
		},
	}
}
