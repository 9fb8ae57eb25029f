package configs

import (
	"strings"
	"testing"
)

// Every problem in approval chains, exception kinds, escalation levels and
// the guard is reported at once, each with its file, line and key.
func TestApprovalPolicyErrorsNameFileLineKey(t *testing.T) {
	_, err := loadT("testdata/approvals/service.yaml")
	if err == nil {
		t.Fatal("a policy with broken chains loaded")
	}
	p := "testdata/approvals/policy.yaml:"
	for _, want := range []string{
		p + `12: chains.broken.steps[0].approvers[0]: undefined approver group "legal"`,
		p + `12: chains.broken.steps[0].approvers[2]: unknown approver "boss"`,
		p + `13: chains.broken.steps[0].mode: unknown mode "some"`,
		p + `14: chains.broken.steps[0].on_timeout: escalate needs fallback approvers`,
		p + `15: chains.empty: a chain needs at least one step`,
		p + `19: exceptions.email_forwarding.chain: unknown chain "nowhere"`,
		p + `20: exceptions.email_forwarding.holds[1]: unknown action "shred_everything"`,
		`exceptions.email_forwarding.max_days: forwarding needs max_days`,
		`exceptions.email_forwarding.at_expiry: forwarding needs the action that removes it at expiry`,
		p + `22: exceptions.late_laptop.effect: unknown effect "teleport"`,
		p + `26: escalation.levels[1].after: levels must come later one after another`,
		`escalation.levels[1].notify[0]: undefined approver group "ghosts"`,
		`escalation.levels[1].notify[1]: "manager" only makes sense in an approval chain step`,
		`mass_termination: max_cases and window must be positive`,
		`mass_termination.approvers[0]: "hr_partner" only makes sense in an approval chain step`,
		p + `28: two_person_rule_when: CEL must return a bool, not string`,
		p + `4: actions.disable_early.lead: a critical revocation cannot run before the effective time`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q", want)
		}
	}
	if t.Failed() {
		t.Logf("errors:\n%s", err)
	}
}
