package okta

import (
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the okta type for internal/compose's table:
// remove_group_memberships only when the credentials can manage groups
// (Operations).
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
				if c := b.(*Config); connspec.HTTPURL(c.OrgURL) {
					return map[string]connspec.URL{"org_url": {Check: c.BaseURL()}}
				}
				return nil
			},
			Files: func(b any) []connspec.File {
				if c := b.(*Config); c.OAuth != nil {
					return []connspec.File{{Key: "oauth.private_key_file", Path: &c.OAuth.PrivateKeyFile}}
				}
				return nil
			},
		},
		// revoke_sessions clears the user's Okta sessions and OAuth
		// tokens and reads back that none is left.
		Revokes: map[connectors.Operation][]connectors.Revocation{
			connectors.OpRevokeSessions: {connectors.RevokesIdPSessions},
		},
		New: func(name string, b any, deps connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			oc, err := New(name, *b.(*Config), deps.Policy, WithLogger(deps.Log))
			if err != nil {
				return nil, nil, err
			}
			return oc, oc.Type().Operations, nil
		},
	}
}
