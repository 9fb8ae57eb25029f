package configs

import (
	"strings"
	"testing"
)

// A routed service: the security channel and the ad connector's owner have
// routes; a policy escalation level naming an unrouted channel is refused at
// its key, and one naming a routed channel or the security channel loads.
func TestRoutingAndPolicyChannels(t *testing.T) {
	clearEnv(t)
	svc, err := parseServiceT("kinetic.yaml", []byte(`redis: {embedded: true}
policy: p.yaml
alerts: {security_channel: security-alerts}
routing:
  security-alerts: {slack: {channel: C0SEC}}
  it-identity: {slack: {user_group: S0ID, people: [E1]}}
connectors:
  ad:
    type: sandbox
    owner: it-identity
    sandbox: {system: ad}
`))
	if err != nil {
		t.Fatal(err)
	}
	if r := svc.Routing["it-identity"]; r == nil || r.Slack.UserGroup != "S0ID" || r.Slack.People[0] != "E1" {
		t.Fatalf("routing: %+v", svc.Routing)
	}
	policy := func(notify string) string {
		return `version: 1
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
rules:
  - name: everyone
    add: [disable_ad]
escalation:
  levels:
    - after: 0s
      notify: [owner, ` + notify + `]
`
	}
	for _, ok := range []string{`"channel:it-identity"`, `"channel:security-alerts"`, "security_alerts"} {
		if _, err := ParsePolicy("p.yaml", []byte(policy(ok)), svc); err != nil {
			t.Errorf("notify %s: %v", ok, err)
		}
	}
	_, err = ParsePolicy("p.yaml", []byte(policy(`"channel:facilities"`)), svc)
	if err == nil || !strings.Contains(err.Error(), `p.yaml:10: escalation.levels[0].notify[1]: "channel:facilities" has no route in the service file: add routing.facilities`) {
		t.Fatalf("unrouted channel: %v", err)
	}
}
