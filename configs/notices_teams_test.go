package configs

import (
	"errors"
	"strings"
	"testing"
)

const noticeTeamsService = `policy: p.yaml
redis: {embedded: true}
ROUTING
approver_groups:
  payroll: [E0002]
connectors:
  mail:
    type: email
    email:
      host: smtp.corp.example
      from: offboarding@corp.example
      teams:
        payroll: [payroll@corp.example]
        benefits: [benefits@corp.example]
`

// Every team an email connector sends notices to needs a route or an
// approver group: benefits has neither, and the error names its file,
// line and key; a route for it (or a group) makes the file load.
func TestNoticeTeamNeedsRouteOrApproverGroup(t *testing.T) {
	_, err := parseServiceT("s.yaml", []byte(strings.Replace(noticeTeamsService, "ROUTING", "", 1)))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want *Errors, got %v", err)
	}
	var found *Error
	for i, e := range errs.List {
		if strings.Contains(e.Msg, "notice team") {
			if found != nil {
				t.Fatalf("more than one notice-team error: %v", err)
			}
			found = &errs.List[i]
		}
	}
	if found == nil {
		t.Fatalf("no notice-team error in %v", err)
	}
	if found.File != "s.yaml" || found.Key != "connectors.mail.email.teams.benefits" || found.Line != 14 ||
		!strings.Contains(found.Msg, "routing.benefits") || !strings.Contains(found.Msg, "approver_groups.benefits") {
		t.Fatalf("error = %+v", *found)
	}

	routed := strings.Replace(noticeTeamsService, "ROUTING", "routing:\n  benefits: {email: {to: [benefits@corp.example]}}\n  payroll: {email: {to: [payroll@corp.example]}}\nchat: {email: {host: smtp.corp.example, from: kinetic@corp.example}}", 1)
	if _, err := parseServiceT("s.yaml", []byte(routed)); err != nil && strings.Contains(err.Error(), "notice team") {
		t.Fatalf("a routed team is still refused: %v", err)
	}
	grouped := strings.Replace(noticeTeamsService, "  payroll: [E0002]\n", "  payroll: [E0002]\n  benefits: [E1027]\n", 1)
	grouped = strings.Replace(grouped, "ROUTING", "", 1)
	if _, err := parseServiceT("s.yaml", []byte(grouped)); err != nil {
		t.Fatalf("a team with an approver group is refused: %v", err)
	}
}
