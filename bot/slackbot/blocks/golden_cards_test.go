package blocks

import (
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// lagos is the employee's zone in the cards that state it.
var lagos = func() *time.Location {
	loc, err := time.LoadLocation("Africa/Lagos")
	if err != nil {
		panic(err)
	}
	return loc
}()

// describedCase is a running case whose actions carry the policy's
// descriptions, with a forwarding removal scheduled 30 days out and a
// legal hold pending, for an employee in Lagos.
func describedCase() (store.Case, []store.Action, StatusExtras) {
	c := runningCase()
	c.Requester = "E0002"
	c.EffectiveAt = time.Date(2026, 12, 14, 16, 0, 0, 0, time.UTC) // 17:00 in Lagos
	c.StartedAt = at(c.EffectiveAt)
	acts := runningActions()[:4]
	descs := []string{"Disable the Active Directory account", "Revoke every Okta session", "Revoke VPN certificates and profiles", "Block Microsoft 365 sign-in"}
	for i := range acts {
		acts[i].Description = descs[i]
	}
	runAt := time.Date(2027, 1, 6, 16, 0, 0, 0, time.UTC)
	acts = append(acts,
		store.Action{ID: 930, Name: "remove_forwarding", Description: "Remove the mail forwarding", Connector: "m365", Operation: "remove_forwarding",
			Phase: 2, PhaseName: "entitlements", Status: store.ActionQueued, RunAt: &runAt, NotBefore: &runAt, DueAt: at(runAt.Add(4 * time.Hour))},
		store.Action{ID: 931, Name: "delete_mailbox", Description: "Delete the mailbox", Connector: "m365", Operation: "delete_mailbox",
			Phase: 3, PhaseName: "notifications", Status: store.ActionHeld, BlockedReason: "held for approval 8 (legal_hold)"})
	x := StatusExtras{
		Names: map[string]string{"E0002": "Mia Manager", "E0003": "Hal HR"},
		Zone:  lagos,
		Pending: []store.Approval{{ID: 8, CaseID: 42, Kind: "legal_hold", Effect: "legal_hold", Status: store.ApprovalPending, Requester: "E0003",
			Held: `["delete_mailbox"]`, CreatedAt: started, ExpiresAt: at(started.Add(72 * time.Hour))}},
		Kinds: map[string]string{"legal_hold": "Preserve the mailbox for litigation"},
	}
	return c, acts, x
}

// stillOpen is what a case waits for after access is revoked: a device
// and a manual step with their tickets (ServiceNow, Jira), one whose link
// is not http(s) (shown unlinked), and a notice.
func stillOpen() []view.OpenItem {
	due := time.Date(2026, 12, 21, 16, 0, 0, 0, time.UTC)
	return []view.OpenItem{
		{Kind: view.OpenEquipment, ID: 9, Name: "LT-1003", Status: store.EquipmentReturnRequested, Owner: "channel:it-assets", DueAt: &due,
			Ticket: "INC0010012", TicketURL: "https://corp.service-now.com/incident.do?sys_id=9d385017c611228701d22104cc95c371"},
		{Kind: view.OpenEquipment, ID: 10, Name: "PH-2001", Status: store.EquipmentOpen, Owner: "channel:it-assets", DueAt: &due,
			Ticket: "INC0010013", TicketURL: "javascript:alert(1)"},
		{Kind: view.OpenManualStep, ID: 12, Name: "collect_badge", Status: store.ActionPending, Owner: "channel:facilities",
			Ticket: "FAC-42", TicketURL: "https://corp.atlassian.net/browse/FAC-42"},
		{Kind: view.OpenNotice, ID: 4, Name: "to payroll", Status: "unacknowledged", Owner: "channel:payroll", To: "payroll@corp.example"},
	}
}

func TestGoldenCards(t *testing.T) {
	m := func(name string, f func() ([]slack.Block, string)) goldenCase {
		return goldenCase{name, surfaceMessage, func() any { return toMessage(f()) }}
	}
	for _, gc := range []goldenCase{
		m("status_described", func() ([]slack.Block, string) {
			c, acts, x := describedCase()
			return StatusCardWith(c, acts, now, x)
		}),
		m("status_still_open", func() ([]slack.Block, string) {
			c, acts, x := describedCase()
			c.RevokedAt = at(c.EffectiveAt.Add(3 * time.Minute))
			x.Open = stillOpen()
			return StatusCardWith(c, acts, now, x)
		}),
		m("action_failed_described", func() ([]slack.Block, string) {
			_, acts, _ := describedCase()
			return ActionFailed(acts[2], 42, false, false)
		}),
		m("plan_preview_described", func() ([]slack.Block, string) {
			p := testPlan()
			p.Employee.TimeZone = "Africa/Lagos"
			p.EffectiveAt = time.Date(2026, 12, 14, 16, 0, 0, 0, time.UTC)
			p.Actions[0].Description = "Disable the Active Directory account"
			p.Actions[1].Description = "Revoke every Okta session"
			return PlanPreview(p, 42)
		}),
	} {
		t.Run(gc.name, func(t *testing.T) {
			raw := encode(t, gc.build())
			checkLimits(t, gc.surface, raw)
			golden(t, gc.name, raw)
		})
	}
}

// TestCardsSpeakInNamesLocalTimesAndDescriptions: the status card names
// the requester with their HR id, states the effective time in Slack's
// date formatting and in the employee's zone, shows actions by the
// policy's description, a timed action as "scheduled for" its day, and
// the pending legal hold; no raw RFC 3339 time.
func TestCardsSpeakInNamesLocalTimesAndDescriptions(t *testing.T) {
	c, acts, x := describedCase()
	bs, _ := StatusCardWith(c, acts, now, x)
	got := string(encode(t, toMessage(bs, "")))
	got = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(got)
	for _, want := range []string{
		"Mia Manager (E0002)",
		"<!date^" + "1797264000" + "^{date_short_pretty} {time}|2026-12-14 16:00 UTC>",
		"Mon Dec 14, 17:00 Lagos time (WAT)",
		"*Block Microsoft 365 sign-in* · aws",
		"scheduled for <!date^1799251200^{date_short_pretty}|Jan 6, 2027>",
		"*Pending exceptions*",
		"*Preserve the mailbox for litigation* (legal_hold)",
		"requested by Hal HR (E0003)",
		"holds delete_mailbox",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status card lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"2026-12-14T", "E0002 via", "block_m365"} {
		if strings.Contains(got, bad) {
			t.Errorf("status card shows %q", bad)
		}
	}
}

func TestLocalTime(t *testing.T) {
	at := time.Date(2026, 12, 14, 16, 0, 0, 0, time.UTC)
	ny, _ := time.LoadLocation("America/New_York")
	for _, tc := range []struct {
		loc  *time.Location
		want string
	}{
		{lagos, "Mon Dec 14, 17:00 Lagos time (WAT)"},
		{ny, "Mon Dec 14, 11:00 New York time (EST)"},
		{time.FixedZone("", 5*3600+1800), "Mon Dec 14, 21:30 (UTC+0530)"},
		{time.UTC, ""},
		{nil, ""},
	} {
		if got := localTime(at, tc.loc); got != tc.want {
			t.Errorf("localTime in %v = %q, want %q", tc.loc, got, tc.want)
		}
	}
	if got := person("E0002", map[string]string{"E0002": "Mia <Manager>"}); got != "Mia &lt;Manager&gt; (E0002)" {
		t.Errorf("person = %q", got)
	}
	if got := person("hr:workday", nil); got != "hr:workday" {
		t.Errorf("person without a name = %q", got)
	}
}
