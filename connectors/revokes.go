package connectors

// Revocation names one kind of remote access an operation takes away.
// A connector type declares, per operation, which it revokes
// (Descriptor.Revokes); the case's closing summary then states which of
// them were revoked, and by which action (or that none was).
type Revocation string

// The kinds of remote access a departure must end.
const (
	// RevokesVPNIdentity: the person's VPN identity can no longer connect
	// (user disabled or removed from the VPN group, peer key removed,
	// certificate revoked).
	RevokesVPNIdentity Revocation = "vpn_identity"
	// RevokesVPNSessions: the person's live VPN tunnels were terminated.
	RevokesVPNSessions Revocation = "vpn_sessions"
	// RevokesIdPSessions: the identity provider's sessions and refresh
	// tokens were revoked (Okta, Entra ID), so no app can be re-entered
	// with them.
	RevokesIdPSessions Revocation = "idp_sessions"
)

// AllRevocations lists every Revocation, in the order summaries state
// them.
var AllRevocations = []Revocation{RevokesVPNIdentity, RevokesVPNSessions, RevokesIdPSessions}

// Label is how a summary names the kind: "VPN identities", "VPN
// sessions", "identity-provider sessions".
func (r Revocation) Label() string {
	switch r {
	case RevokesVPNIdentity:
		return "VPN identities"
	case RevokesVPNSessions:
		return "VPN sessions"
	case RevokesIdPSessions:
		return "identity-provider sessions"
	}
	return string(r)
}
