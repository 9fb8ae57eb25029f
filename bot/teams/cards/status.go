package cards

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// stateMark is the sign before each state word on a status card.
var stateMark = map[string]string{
	"done": "✅", "running": "🔄", "overdue": "⏰", "failed": "❌", "held": "⏸", "blocked": "🔒",
	"scheduled": "📅", "queued": "⏳", "skipped": "⏭", "cancelled": "🚫",
}

// stateOrder is the order of the counts line.
var stateOrder = []string{"done", "running", "overdue", "failed", "held", "blocked", "scheduled", "queued", "skipped", "cancelled"}

// StatusCard is blocks.StatusCardWith for Teams, the case's live status
// card in the offboarding channel: who, status, effective time (each
// viewer's zone, and the employee's when x.Zone is set), who asked, the
// exceptions pending, each action by phase with its state
// (blocks.ActionStateWord) and the counts. Times are absolute, so a card
// not updated stays true. No buttons: failed actions get their own reply
// (ActionFailed). Over MaxCardBytes the action list is cut, saying so.
func StatusCard(c store.Case, acts []store.Action, now time.Time, x blocks.StatusExtras) *Card {
	name := cmp.Or(strings.TrimSpace(c.EmployeeName), c.EmployeeID)
	emp := fit(name, 100) + " · " + fit(c.EmployeeID, 60)
	if !blank(c.EmployeeEmail) {
		emp += " · " + fit(c.EmployeeEmail, 100)
	}
	var eff string
	if !c.EffectiveAt.IsZero() {
		eff = when(c.EffectiveAt)
	}
	if eff != "" && x.Zone != nil && x.Zone.String() != "UTC" {
		eff += " (" + c.EffectiveAt.In(x.Zone).Format("Mon Jan 2, 15:04") + " " + fit(x.Zone.String(), 40) + ")"
	}
	kind := "Voluntary"
	if c.Involuntary {
		kind = "Involuntary · immediate"
	}
	req := who(c.Requester, x.Names)
	if c.Trigger != "" {
		req += " via " + fit(c.Trigger, 20)
	}
	var deadline string
	if c.ComplianceDeadline != nil {
		deadline = when(*c.ComplianceDeadline)
		if c.ComplianceProfile != "" {
			deadline += " (" + fit(c.ComplianceProfile, 30) + ")"
		}
	}
	head := add([]Element{heading("Offboarding · " + name)}, facts(
		"Employee", emp,
		"Status", fit(strings.ReplaceAll(c.Status, "_", " "), 40),
		"Effective", eff,
		"Requested by", req,
		"Type", kind,
		"Compliance deadline", deadline,
	))
	if c.Simulated {
		head = append(head, text("⚠ Simulated systems: nothing real changes there.", "color", "Warning"))
	}
	var body []Element
	if len(x.Pending) > 0 {
		body = append(body, text("**Waiting for a decision**"))
		for _, ap := range x.Pending {
			l := "- " + data(strings.ReplaceAll(ap.Kind, "_", " "), 60) + " · asked by " + data(who(ap.Requester, x.Names), 120)
			if d := x.Kinds[ap.Kind]; !blank(d) {
				l += " — " + data(d, 200)
			}
			body = append(body, text(l))
		}
	}
	if c.RevokedAt != nil {
		l := "🔒 **Access fully revoked** " + when(*c.RevokedAt)
		if c.ClosedAt != nil {
			l += " · ✅ **Closed** " + when(*c.ClosedAt)
		} else {
			l += " · not closed yet: people's work is still open"
		}
		body = append(body, text(l))
		if c.ClosedAt == nil && len(x.Open) > 0 {
			body = append(body, text(fmt.Sprintf("**Still open** — %d before the case closes", len(x.Open))))
			for _, it := range x.Open {
				l := "- " + data(strings.ReplaceAll(string(it.Kind), "_", " "), 20) + " **" + data(it.Name, 80) + "** — " + data(strings.ReplaceAll(it.Status, "_", " "), 40)
				if key := data(it.Ticket, 40); key != "" {
					if u := view.LinkURL(it.TicketURL); u != "" {
						key = "[" + key + "](" + u + ")"
					}
					l += " · ticket " + key
				}
				if owner, ok := strings.CutPrefix(it.Owner, "channel:"); ok {
					l += " · " + data(owner, 60)
				}
				if it.To != "" {
					l += " · sent to " + data(strings.ReplaceAll(it.To, ",", ", "), 160)
				}
				if it.DueAt != nil {
					l += " · due " + when(*it.DueAt)
				}
				body = append(body, text(l))
			}
		}
	}
	sorted := slices.Clone(acts)
	slices.SortStableFunc(sorted, func(a, b store.Action) int { return cmp.Compare(a.Phase, b.Phase) })
	counts := map[string]int{}
	for i := 0; i < len(sorted); {
		j := i
		for j < len(sorted) && sorted[j].Phase == sorted[i].Phase {
			j++
		}
		title := fmt.Sprintf("**Phase %d", sorted[i].Phase)
		if !blank(sorted[i].PhaseName) {
			title += " · " + data(sorted[i].PhaseName, 40)
		}
		body = append(body, text(title+"**", "separator", true))
		for _, a := range sorted[i:j] {
			st := blocks.ActionStateWord(a, now)
			counts[st]++
			l := stateMark[st] + " " + data(cmp.Or(strings.TrimSpace(a.Description), a.Name), 80) + " · " + data(a.Connector, 60) + " — " + st
			if st == "failed" && !blank(a.LastError) {
				l += ": " + data(a.LastError, 200)
			}
			if st == "blocked" && !blank(a.BlockedReason) {
				l += " (" + data(a.BlockedReason, 120) + ")"
			}
			body = append(body, text(l))
		}
		i = j
	}
	var parts []string
	for _, st := range stateOrder {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	tail := []Element{}
	if len(parts) > 0 {
		tail = append(tail, text(strings.Join(parts, " · ")))
	}
	asOf := c.UpdatedAt
	for _, a := range acts {
		if a.UpdatedAt.After(asOf) {
			asOf = a.UpdatedAt
		}
	}
	foot := fmt.Sprintf("Case %d", c.ID)
	if !asOf.IsZero() {
		foot += " · as of " + when(asOf)
	}
	tail = append(tail, note(foot))
	fb := fmt.Sprintf("Offboarding of %s: %s", name, strings.ReplaceAll(c.Status, "_", " "))
	return newCard(fb).fitBody(head, body, tail)
}
