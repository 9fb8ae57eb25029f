package ldap

import (
	"net/url"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the ldap type for internal/compose's table. The
// server is checked by the outbound policy as https://host:port/ (BaseURL)
// and named as written; ca_file is read by the block's own validation.
func Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:     TypeName,
			NewBlock: func() any { return &Config{} },
			Validate: func(b any) error { return b.(*Config).Validate() },
			Operations: func(b any) ([]string, bool) {
				return connectors.OperationStrings(Operations(*b.(*Config))), true
			},
			URLs: func(b any) map[string]connspec.URL {
				c := b.(*Config)
				// BaseURL is "" when url does not parse (the block's
				// validation says why).
				check := c.BaseURL()
				if check == "" {
					return nil
				}
				u, _ := url.Parse(strings.TrimSpace(c.URL))
				return map[string]connspec.URL{"url": {Check: check, Shown: u.Scheme + "://" + strings.TrimPrefix(check, "https://")}}
			},
			Files: func(b any) []connspec.File {
				return []connspec.File{{Key: "ca_file", Path: &b.(*Config).CAFile, Validated: true}}
			},
		},
		New: func(name string, b any, deps connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			lc, err := New(name, *b.(*Config), WithURLPolicy(deps.Policy), WithLogger(deps.Log))
			if err != nil {
				return nil, nil, err
			}
			return lc, lc.Type().Operations, nil
		},
	}
}
