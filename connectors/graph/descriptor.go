package graph

import (
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the graph type for internal/compose's table.
// authority_url and graph_url are checked at load when they are written;
// their defaults (Microsoft's public endpoints) are not looked up, but every
// connection the connector makes passes the policy's HTTP client.
func Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:     TypeName,
			NewBlock: func() any { return &Config{} },
			Validate: func(b any) error { return b.(*Config).Validate() },
			Operations: func(b any) ([]string, bool) {
				return connectors.OperationStrings(b.(*Config).Operations()), true
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
				if connspec.HTTPURL(c.SharePointURL) {
					urls["sharepoint_url"] = connspec.URL{Check: c.SharePointURL}
				}
				return urls
			},
			Files: func(b any) []connspec.File {
				c := b.(*Config)
				return []connspec.File{{Key: "certificate_file", Path: &c.CertificateFile}, {Key: "private_key_file", Path: &c.PrivateKeyFile}}
			},
		},
		New: func(name string, b any, deps connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			gc, err := New(name, *b.(*Config), deps.Policy)
			if err != nil {
				return nil, nil, err
			}
			return gc, gc.Type().Operations, nil
		},
	}
}
