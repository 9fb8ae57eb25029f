package salesforce

import (
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the salesforce type for internal/compose's table:
// instance_url (every REST call and the token revocation endpoint) and
// login_url (the token endpoint) are checked by the outbound URL policy at
// load.
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
				out := map[string]connspec.URL{}
				if connspec.HTTPURL(c.InstanceURL) {
					out["instance_url"] = connspec.URL{Check: c.BaseURL()}
				}
				if connspec.HTTPURL(c.loginURL()) {
					out["login_url"] = connspec.URL{Check: c.loginURL()}
				}
				if len(out) == 0 {
					return nil
				}
				return out
			},
			Files: func(b any) []connspec.File {
				if c := b.(*Config); strings.TrimSpace(c.PrivateKeyFile) != "" {
					return []connspec.File{{Key: "private_key_file", Path: &c.PrivateKeyFile}}
				}
				return nil
			},
		},
		New: func(name string, b any, deps connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			c, err := New(name, *b.(*Config), deps.Policy, WithLogger(deps.Log))
			if err != nil {
				return nil, nil, err
			}
			return c, c.Type().Operations, nil
		},
	}
}
