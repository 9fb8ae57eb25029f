package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/store"
)

// remoteAccessSummary states which kinds of remote access the case
// revoked — VPN identities, VPN sessions, identity-provider sessions —
// and by which action, from what each action's connector type declares
// its operation revokes (connectors.Descriptor.Revokes):
//
//	remote access: VPN identities revoked by revoke_vpn (vpn); VPN
//	sessions revoked by revoke_vpn (vpn); identity-provider sessions
//	revoked by revoke_okta_sessions (okta), revoke_m365_sessions (m365)
//
// An action that did not succeed is named as not having revoked it
// ("NOT revoked: revoke_vpn (vpn) failed"), one that found no account as
// "none held", and a kind no action of the case declares as "no action
// revokes them", so a reader never takes silence for revocation.
// revokes returns the declaration for an action's connector and
// operation.
func remoteAccessSummary(acts []store.Action, revokes func(connector string, op connectors.Operation) []connectors.Revocation) string {
	parts := make([]string, 0, len(connectors.AllRevocations))
	for _, kind := range connectors.AllRevocations {
		var by, none, notDone []string
		for _, a := range acts {
			declared := false
			for _, r := range revokes(a.Connector, connectors.Operation(a.Operation)) {
				declared = declared || r == kind
			}
			if !declared {
				continue
			}
			who := fmt.Sprintf("%s (%s)", a.Name, a.Connector)
			switch {
			case a.Status == store.ActionSucceeded && a.Verified:
				by = append(by, who)
			case a.Status == store.ActionSucceeded:
				by = append(by, who+" unverified")
			case a.Status == store.ActionSkipped:
				none = append(none, who)
			default:
				notDone = append(notDone, who+" "+a.Status)
			}
		}
		var s string
		switch {
		case len(by) > 0:
			s = kind.Label() + " revoked by " + strings.Join(by, ", ")
		case len(none) > 0:
			s = kind.Label() + ": none held (" + strings.Join(none, ", ") + ")"
		case len(notDone) == 0:
			s = kind.Label() + ": no action revokes them"
		}
		if len(notDone) > 0 {
			if s != "" {
				s += "; "
			}
			s += kind.Label() + " NOT revoked: " + strings.Join(notDone, ", ")
		}
		parts = append(parts, s)
	}
	return "remote access: " + strings.Join(parts, "; ")
}

// revokesOf is the registry's declaration for a connector instance's
// operation; nil for an unknown instance or an undeclared operation.
func (e *Engine) revokesOf(connector string, op connectors.Operation) []connectors.Revocation {
	in, ok := e.reg.Get(connector)
	if !ok {
		return nil
	}
	return in.Revokes[op]
}

// planRemoteAccess states, before anything runs, which action of the plan
// revokes each kind of remote access: "remote access the plan revokes:
// VPN identities by revoke_vpn (vpn); VPN sessions: no action revokes
// them; …".
func planRemoteAccess(acts []PlannedAction, revokes func(connector string, op connectors.Operation) []connectors.Revocation) string {
	parts := make([]string, 0, len(connectors.AllRevocations))
	for _, kind := range connectors.AllRevocations {
		var by []string
		for _, a := range acts {
			if slices.Contains(revokes(a.Connector, connectors.Operation(a.Operation)), kind) {
				by = append(by, fmt.Sprintf("%s (%s)", a.Name, a.Connector))
			}
		}
		if len(by) == 0 {
			parts = append(parts, kind.Label()+": no action revokes them")
			continue
		}
		parts = append(parts, kind.Label()+" by "+strings.Join(by, ", "))
	}
	return "remote access the plan revokes: " + strings.Join(parts, "; ")
}
