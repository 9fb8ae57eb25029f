package engine

import (
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/store"
)

func TestRemoteAccessSummary(t *testing.T) {
	decl := map[string]map[connectors.Operation][]connectors.Revocation{
		"fortigate": {connectors.OpRevokeVPN: {connectors.RevokesVPNIdentity, connectors.RevokesVPNSessions}},
		"wg":        {connectors.OpRevokeVPN: {connectors.RevokesVPNIdentity}},
		"okta":      {connectors.OpRevokeSessions: {connectors.RevokesIdPSessions}},
		"m365":      {connectors.OpRevokeSessions: {connectors.RevokesIdPSessions}},
	}
	revokes := func(c string, op connectors.Operation) []connectors.Revocation { return decl[c][op] }
	act := func(name, conn, op, status string, verified bool) store.Action {
		return store.Action{Name: name, Connector: conn, Operation: op, Status: status, Verified: verified}
	}
	for _, tt := range []struct {
		name string
		acts []store.Action
		want string
	}{
		{"everything revoked, each by its action", []store.Action{
			act("revoke_vpn", "fortigate", "revoke_vpn", store.ActionSucceeded, true),
			act("revoke_wg_peers", "wg", "revoke_vpn", store.ActionSucceeded, true),
			act("revoke_okta_sessions", "okta", "revoke_sessions", store.ActionSucceeded, true),
			act("revoke_m365_sessions", "m365", "revoke_sessions", store.ActionSucceeded, false),
			act("disable_ad", "ad", "disable_account", store.ActionSucceeded, true),
		}, "remote access: VPN identities revoked by revoke_vpn (fortigate), revoke_wg_peers (wg); " +
			"VPN sessions revoked by revoke_vpn (fortigate); " +
			"identity-provider sessions revoked by revoke_okta_sessions (okta), revoke_m365_sessions (m365) unverified"},
		{"a failure is stated, never folded into success", []store.Action{
			act("revoke_vpn", "fortigate", "revoke_vpn", store.ActionFailed, false),
			act("revoke_wg_peers", "wg", "revoke_vpn", store.ActionSucceeded, true),
			act("revoke_okta_sessions", "okta", "revoke_sessions", store.ActionSkipped, false),
		}, "remote access: VPN identities revoked by revoke_wg_peers (wg); VPN identities NOT revoked: revoke_vpn (fortigate) failed; " +
			"VPN sessions NOT revoked: revoke_vpn (fortigate) failed; " +
			"identity-provider sessions: none held (revoke_okta_sessions (okta))"},
		{"nothing declared says so", []store.Action{
			act("disable_ad", "ad", "disable_account", store.ActionSucceeded, true),
		}, "remote access: VPN identities: no action revokes them; VPN sessions: no action revokes them; identity-provider sessions: no action revokes them"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := remoteAccessSummary(tt.acts, revokes); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestPlanRemoteAccess(t *testing.T) {
	revokes := func(c string, op connectors.Operation) []connectors.Revocation {
		switch {
		case c == "vpn" && op == connectors.OpRevokeVPN:
			return []connectors.Revocation{connectors.RevokesVPNIdentity, connectors.RevokesVPNSessions}
		case op == connectors.OpRevokeSessions:
			return []connectors.Revocation{connectors.RevokesIdPSessions}
		}
		return nil
	}
	got := planRemoteAccess([]PlannedAction{
		{Name: "revoke_vpn", Connector: "vpn", Operation: "revoke_vpn"},
		{Name: "revoke_okta_sessions", Connector: "okta", Operation: "revoke_sessions"},
		{Name: "disable_ad", Connector: "ad", Operation: "disable_account"},
	}, revokes)
	want := "remote access the plan revokes: VPN identities by revoke_vpn (vpn); VPN sessions by revoke_vpn (vpn); identity-provider sessions by revoke_okta_sessions (okta)"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := planRemoteAccess(nil, revokes); got != "remote access the plan revokes: VPN identities: no action revokes them; VPN sessions: no action revokes them; identity-provider sessions: no action revokes them" {
		t.Errorf("empty plan: %s", got)
	}
}
