package identitycenter

import (
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the aws_identity_center type for internal/compose's
// table. The endpoint overrides, when set, are checked by the outbound URL
// policy at load; the SDK's own endpoints (*.amazonaws.com) are public.
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
				for key, raw := range map[string]string{"sso_admin_endpoint": c.SSOAdminEndpoint, "identity_store_endpoint": c.IdentityStoreEndpoint, "sts_endpoint": c.STSEndpoint, "organizations_endpoint": c.OrganizationsEndpoint} {
					if raw = strings.TrimSpace(raw); connspec.HTTPURL(raw) {
						out[key] = connspec.URL{Check: raw}
					}
				}
				if len(out) == 0 {
					return nil
				}
				return out
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
