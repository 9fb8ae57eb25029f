// Package table is the one list of connector types: adding a type is its
// package plus one line in Connectors. It imports the connector packages
// and nothing of configuration, so internal/compose (which loads and builds
// with it) and configs' own tests both use it.
package table

import (
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/awsiam"
	"github.com/kineticsec/kinetic/connectors/graph"
	"github.com/kineticsec/kinetic/connectors/ldap"
	"github.com/kineticsec/kinetic/connectors/okta"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/connectors/webhook"
)

// Connectors returns the connector types configuration accepts, in the
// order messages list them: one line per type.
func Connectors() []connectors.Descriptor {
	return []connectors.Descriptor{
		sandbox.Descriptor(),
		webhook.Descriptor(),
		ldap.Descriptor(),
		graph.Descriptor(),
		okta.Descriptor(),
		awsiam.Descriptor(),
	}
}
