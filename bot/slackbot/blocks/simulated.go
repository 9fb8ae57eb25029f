package blocks

import (
	"strings"

	"github.com/slack-go/slack"
)

// simulatedMark follows the connector of an action on a simulated system
// (a sandbox connector) on status cards and plans.
const simulatedMark = " :test_tube: _simulated_"

// simulatedBanner is the notice at the top of a card about a case or plan
// with actions on simulated systems: what it shows was not (or will not
// be) done for real there. connectors are the sandbox instances; nil when
// they are not known (a closing reply has only the case).
func simulatedBanner(connectors []string, planned bool) slack.Block {
	verb := "was"
	if planned {
		verb = "will be"
	}
	if len(connectors) == 0 {
		return section(":test_tube: *Simulated* — this case ran on sandbox simulations: nothing real " + verb + " revoked, whatever this card says.")
	}
	return section(":test_tube: *Simulated* — " + data(strings.Join(connectors, ", "), 300) +
		" are sandbox simulations: nothing real " + verb + " revoked there, whatever this card says.")
}

// simulatedTag follows the person's name in the plain text (notification)
// of a card about simulated systems. It is not a prefix, so the text still
// starts like every other card's and stays recognisable at a glance.
const simulatedTag = " (SIMULATED)"
