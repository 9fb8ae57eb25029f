package connectors_test

import (
	"fmt"

	"github.com/kineticsec/kinetic/connectors"
)

func ExampleRevocation_Label() {
	for _, r := range connectors.AllRevocations {
		fmt.Println(r, "=", r.Label())
	}
	// Output:
	// vpn_identity = VPN identities
	// vpn_sessions = VPN sessions
	// idp_sessions = identity-provider sessions
}
