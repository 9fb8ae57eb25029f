// Package table is the one list of connector types, HR directory source
// types and HR event front ends: adding a connector is its package plus one
// line in Connectors, an HR system its package under directory/ plus one
// line in Directories, an HR poller format its descriptor in the package
// that owns the HR system's wire format plus one line in PollerFormats, an
// HR webhook format likewise plus one line in WebhookFormats. It imports
// those packages and nothing of configuration, so internal/compose (which
// loads and builds with it) and configs' own tests both use it.
package table

import (
	"github.com/kineticsec/kinetic/bot/hr/hrconfig"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/awsiam"
	"github.com/kineticsec/kinetic/connectors/awsiam/identitycenter"
	"github.com/kineticsec/kinetic/connectors/brivo"
	"github.com/kineticsec/kinetic/connectors/desk"
	"github.com/kineticsec/kinetic/connectors/email"
	"github.com/kineticsec/kinetic/connectors/fortigate"
	"github.com/kineticsec/kinetic/connectors/globalprotect"
	"github.com/kineticsec/kinetic/connectors/graph"
	"github.com/kineticsec/kinetic/connectors/intune"
	"github.com/kineticsec/kinetic/connectors/jamf"
	"github.com/kineticsec/kinetic/connectors/jira"
	"github.com/kineticsec/kinetic/connectors/ldap"
	"github.com/kineticsec/kinetic/connectors/okta"
	"github.com/kineticsec/kinetic/connectors/salesforce"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	scimconn "github.com/kineticsec/kinetic/connectors/scim"
	"github.com/kineticsec/kinetic/connectors/servicenow"
	"github.com/kineticsec/kinetic/connectors/snipeit"
	"github.com/kineticsec/kinetic/connectors/verkada"
	"github.com/kineticsec/kinetic/connectors/webhook"
	"github.com/kineticsec/kinetic/connectors/wireguard"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/bamboohr"
	"github.com/kineticsec/kinetic/directory/scim"
	"github.com/kineticsec/kinetic/directory/workday"
	"github.com/kineticsec/kinetic/internal/hrspec"
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
		identitycenter.Descriptor(),
		salesforce.Descriptor(),
		fortigate.Descriptor(),
		globalprotect.Descriptor(),
		wireguard.Descriptor(),
		scimconn.Descriptor(),
		brivo.Descriptor(),
		verkada.Descriptor(),
		desk.Descriptor(),
		servicenow.Descriptor(),
		jira.Descriptor(),
		snipeit.Descriptor(),
		intune.Descriptor(),
		jamf.Descriptor(),
		email.Descriptor(),
	}
}

// Directories returns the HR directory source types directory.type accepts
// besides file, in the order messages list them: one line per type.
func Directories() []directory.Descriptor {
	return []directory.Descriptor{
		bamboohr.Descriptor(),
		workday.Descriptor(),
		scim.Descriptor(),
	}
}

// PollerFormats returns the HR poller formats the hr: block's pollers may
// name, in the order messages list them: one line per format, each from
// the package that owns its HR system's wire format.
func PollerFormats() []hrconfig.PollerFormat {
	return []hrconfig.PollerFormat{
		workday.PollerFormat(),
		bamboohr.PollerFormat(),
	}
}

// WebhookFormats returns the HR webhook formats the hr: block's webhooks
// may name, in the order messages list them: one line per format, each
// from the package that owns its HR system's wire format (generic's is
// hrconfig's own).
func WebhookFormats() []hrconfig.WebhookFormat {
	return []hrconfig.WebhookFormat{
		bamboohr.WebhookFormat(),
		hrconfig.GenericWebhookFormat(),
	}
}

// HREvents returns the HR event front end: the hr: block's webhooks and
// pollers (bot/hr runs them; described by bot/hr/hrconfig, which links no
// engine), with PollerFormats and WebhookFormats.
func HREvents() hrspec.Events { return hrconfig.Descriptor(PollerFormats(), WebhookFormats()) }
