package email

import (
	"net"
	"strconv"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/connspec"
)

// Descriptor describes the email type for internal/compose's table.
func Descriptor() connectors.Descriptor {
	return connectors.Descriptor{
		Spec: connspec.Spec{
			Type:     TypeName,
			NewBlock: func() any { return &Config{} },
			Validate: func(b any) error { return b.(*Config).Validate() },
			Operations: func(any) ([]string, bool) {
				return connectors.OperationStrings(Operations), true
			},
			// The outbound policy judges http(s) URLs by host: the SMTP
			// server is checked as https://host:port/ and named as
			// smtp://host:port.
			URLs: func(b any) map[string]connspec.URL {
				c := b.(*Config)
				if strings.TrimSpace(c.Host) == "" {
					return nil
				}
				hp := net.JoinHostPort(strings.Trim(c.Host, "[]"), strconv.Itoa(c.port()))
				return map[string]connspec.URL{"host": {Check: "https://" + hp + "/", Shown: "smtp://" + hp}}
			},
			NoticeTeams: func(b any) map[string]string {
				out := map[string]string{}
				for team := range b.(*Config).Teams {
					out["teams."+team] = team
				}
				return out
			},
			Files: func(b any) []connspec.File {
				c := b.(*Config)
				if c.CAFile == "" {
					return nil
				}
				return []connspec.File{{Key: "ca_file", Path: &c.CAFile}}
			},
		},
		New: func(name string, b any, deps connectors.Deps) (connectors.Connector, []connectors.Operation, error) {
			c, err := New(name, *b.(*Config), deps.Policy)
			if err != nil {
				return nil, nil, err
			}
			return c, Operations, nil
		},
	}
}
