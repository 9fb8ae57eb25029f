package configs

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ticketService is a service file with a ServiceNow and a Jira instance
// (from kinetic.example.yaml) beside a sandbox one.
func ticketService(t *testing.T) *Service {
	t.Helper()
	clearEnv(t)
	t.Setenv("KINETIC_SNOW_PASSWORD", "snow-SECRET-example")
	t.Setenv("KINETIC_JIRA_TOKEN", "jira-SECRET-example")
	var src strings.Builder
	src.WriteString("policy: p.yaml\nredis: {embedded: true}\nsimulated: true\noutbound:\n  allow_hosts: [example.service-now.com, example.atlassian.net]\nconnectors:\n")
	src.WriteString("  ad: {type: sandbox, sandbox: {system: ad}}\n")
	for _, name := range []string{"snow-itsm", "jira-itsm"} {
		src.WriteString(strings.Join(exampleInstance(t, name), "\n") + "\n")
	}
	svc, err := parseServiceT(filepath.Join(t.TempDir(), "example.yaml"), []byte(src.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, src.String())
	}
	return svc
}

const ticketPolicyHead = "version: 1\nactions:\n  disable_ad: {connector: ad, operation: disable_account, phase: critical}\nrules:\n  - {name: everyone, add: [disable_ad]}\n"

func TestTicketRouting(t *testing.T) {
	svc := ticketService(t)
	pol, err := ParsePolicy("p.yaml", []byte(ticketPolicyHead+`tickets:
  connector: snow-itsm
  teams:
    it-assets: {assignment_group: d625dccec0a8016700a222a0f7900d06}
    it-berlin: {}
    facilities: {connector: jira-itsm, project: FAC, issue_type: Task}
`), svc)
	if err != nil {
		t.Fatal(err)
	}
	tp := pol.File.Tickets
	for team, want := range map[string]struct {
		conn   string
		params map[string]string
	}{
		"it-assets":  {"snow-itsm", map[string]string{"assignment_group": "d625dccec0a8016700a222a0f7900d06"}},
		"it-berlin":  {"snow-itsm", map[string]string{}},
		"facilities": {"jira-itsm", map[string]string{"project": "FAC", "issue_type": "Task"}},
	} {
		conn, params, ok := tp.TicketRoute(team)
		if !ok || conn != want.conn || !maps.Equal(params, want.params) {
			t.Errorf("TicketRoute(%s) = %s %v %t; want %s %v", team, conn, params, ok, want.conn, want.params)
		}
	}
	if _, _, ok := tp.TicketRoute("payroll"); ok {
		t.Error("a team not listed gets tickets")
	}
	var none *TicketPolicy
	if _, _, ok := none.TicketRoute("it-assets"); ok {
		t.Error("no tickets block files tickets")
	}
}

// A parameter of the other ticket system is refused at its key: project
// on a ServiceNow team, assignment_group on a Jira team.
func TestTicketParamsFitTheirSystem(t *testing.T) {
	svc := ticketService(t)
	_, err := ParsePolicy("p.yaml", []byte(ticketPolicyHead+`tickets:
  connector: snow-itsm
  teams:
    it-assets: {project: OPS}
    facilities: {connector: jira-itsm, assignment_group: Facilities}
`), svc)
	for _, want := range []string{
		"p.yaml:9: tickets.teams.it-assets.project: project does not apply to a servicenow connector",
		"p.yaml:10: tickets.teams.facilities.assignment_group: assignment_group does not apply to a jira connector",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}

// The commented tickets block of policy.example.yaml loads against the
// example's ticket instances.
func TestExampleTicketsBlock(t *testing.T) {
	svc := ticketService(t)
	data, err := os.ReadFile("policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case len(block) == 0 && line == "# tickets:":
			block = append(block, "tickets:")
		case len(block) == 0:
		case strings.HasPrefix(line, "#   "):
			block = append(block, strings.TrimPrefix(line, "# "))
		default:
			goto done
		}
	}
done:
	if len(block) < 4 {
		t.Fatalf("no commented tickets block in policy.example.yaml: %q", block)
	}
	pol, err := ParsePolicy("p.yaml", []byte(ticketPolicyHead+strings.Join(block, "\n")+"\n"), svc)
	if err != nil {
		t.Fatal(err)
	}
	if conn, params, ok := pol.File.Tickets.TicketRoute("it-facilities"); !ok || conn != "jira-itsm" || params["project"] != "FAC" {
		t.Errorf("it-facilities → %s %v %t", conn, params, ok)
	}
}
