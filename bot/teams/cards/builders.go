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

// Input ids on Kinetic's cards: a deny's or skip's reason arrives in
// Invoke.Inputs[InputReason], an approve-with-reason's in
// InputApproveReason (a card's input ids must be unique, and the approval
// card has both forms); ParseReason picks the right one.
const (
	InputReason        = "reason"
	InputApproveReason = "approveReason"
)

func reasonInput(verb string) string {
	if verb == VerbApproveWithReason {
		return InputApproveReason
	}
	return InputReason
}

func planName(p view.Plan) string { return cmp.Or(strings.TrimSpace(p.Employee.Name), p.Employee.ID) }

func planHead(plan view.Plan) (head, body []Element) {
	emp := plan.Employee
	who := fit(planName(plan), 100) + " · " + fit(emp.ID, 60)
	if !blank(emp.Email) {
		who += " · " + fit(emp.Email, 100)
	}
	var role []string
	for _, s := range []string{emp.Type, emp.Department, emp.Location} {
		if !blank(s) {
			role = append(role, fit(s, 60))
		}
	}
	systems := map[string]bool{}
	for _, a := range plan.Actions {
		systems[a.Connector] = true
	}
	eff := when(plan.EffectiveAt)
	if emp.TimeZone != "" {
		if loc, err := time.LoadLocation(emp.TimeZone); err == nil && loc.String() != "UTC" {
			eff += " (" + plan.EffectiveAt.In(loc).Format("Mon Jan 2, 15:04") + " " + fit(loc.String(), 40) + ")"
		}
	}
	head = add([]Element{heading("Plan · offboard " + planName(plan))}, facts(
		"Employee", who,
		"Role", strings.Join(role, " · "),
		"Effective", eff,
		"Actions", counted(len(plan.Actions), "action")+" on "+counted(len(systems), "system"),
		"Clearance", fit(emp.Clearance, 40),
		"Policy rules", fit(strings.Join(plan.Rules, ", "), 300),
	))
	if sim := plan.Simulated(); sim != nil {
		head = append(head, text("⚠ Simulated systems: "+data(strings.Join(sim, ", "), 300)+" — nothing real changes there.", "color", "Warning"))
	}
	if lines := discoveryLines(plan.Discovery); len(lines) > 0 {
		body = append(body, text("**What discovery found**", "separator", true))
		for _, l := range lines {
			body = append(body, text(l))
		}
	}
	acts := slices.Clone(plan.Actions)
	slices.SortStableFunc(acts, func(a, b view.PlannedAction) int { return cmp.Compare(a.Phase, b.Phase) })
	for i := 0; i < len(acts); {
		j := i
		for j < len(acts) && acts[j].Phase == acts[i].Phase {
			j++
		}
		name := ""
		for _, a := range acts[i:j] {
			if !blank(a.PhaseName) {
				name = a.PhaseName
				break
			}
		}
		title := fmt.Sprintf("**Phase %d", acts[i].Phase)
		if name != "" {
			title += " · " + data(name, 40)
		}
		body = append(body, text(title+"** — "+counted(j-i, "action")))
		for _, a := range acts[i:j] {
			body = append(body, text(plannedLine(a)))
		}
		i = j
	}
	if len(acts) == 0 {
		body = append(body, text("_The policy selects no actions for this person._"))
	}
	if len(plan.Equipment) > 0 {
		body = append(body, text("**Equipment to recover**"))
		for _, e := range plan.Equipment {
			l := "- " + data(e.ID, 80)
			if !blank(e.Detail) {
				l += " — " + data(e.Detail, 120)
			}
			body = append(body, text(l))
		}
	}
	return head, body
}

func discoveryLines(ds []view.Discovery) []string {
	sorted := slices.Clone(ds)
	slices.SortStableFunc(sorted, func(a, b view.Discovery) int { return cmp.Compare(a.Connector, b.Connector) })
	var lines []string
	for _, d := range sorted {
		name := "**" + data(d.Connector, 60) + "**"
		switch {
		case d.Error != "":
			lines = append(lines, "⚠ "+name+": lookup failed ("+data(d.Error, 150)+"); its actions run anyway")
		case len(d.Accounts) == 0:
			lines = append(lines, "- "+name+": nothing found")
		default:
			var accs []string
			for j, a := range d.Accounts {
				if j == 3 {
					accs = append(accs, fmt.Sprintf("and %d more", len(d.Accounts)-j))
					break
				}
				s := data(a.ID, 80)
				if a.Status != "" {
					s += " (" + data(a.Status, 30) + ")"
				}
				accs = append(accs, s)
			}
			lines = append(lines, "- "+name+": "+strings.Join(accs, "; "))
		}
	}
	return lines
}

func plannedLine(a view.PlannedAction) string {
	l := "- **" + data(cmp.Or(strings.TrimSpace(a.Description), a.Name), 80) + "** · " + data(a.Connector, 60)
	if !blank(a.TargetAccount) {
		l += " (" + data(a.TargetAccount, 80) + ")"
	}
	if a.Simulated {
		l += " · simulated"
	}
	if a.SLA > 0 {
		l += " · SLA " + a.SLA.String()
	}
	if a.Manual {
		l += " · by hand"
	}
	if a.RunAt != nil {
		l += " · runs " + when(*a.RunAt)
	}
	if a.Found != "" {
		l += " · found: " + data(a.Found, 120)
	}
	return l
}

// PlanPreview is blocks.PlanPreview for Teams: the plan with Confirm and
// Cancel (verbs confirmPlan and cancelPlan, data naming the case). Answer
// the invoke with PlanResolved, which has no buttons.
func PlanPreview(plan view.Plan, caseID int64) *Card {
	head, body := planHead(plan)
	tail := []Element{
		actionSet(execute(VerbConfirmPlan, "Confirm", caseData(caseID), "positive"), execute(VerbCancelPlan, "Cancel", caseData(caseID), "")),
		note(fmt.Sprintf("Nothing runs until you confirm. Case %d · policy %s", caseID, data(hashPrefix(plan.PolicyHash), 12))),
	}
	fb := fmt.Sprintf("Plan to offboard %s: %s effective %s — confirm or cancel", planName(plan), counted(len(plan.Actions), "action"),
		plan.EffectiveAt.UTC().Format("2006-01-02 15:04")+" UTC")
	return newCard(fb).fitBody(head, body, tail)
}

// PlanResolved is PlanPreview once answered: no buttons, who confirmed or
// cancelled it and when.
func PlanResolved(plan view.Plan, caseID int64, confirmed bool, by string, at time.Time) *Card {
	head, body := planHead(plan)
	verdict, word := "✅ **Confirmed**", "confirmed"
	if !confirmed {
		verdict, word = "🚫 **Cancelled**", "cancelled"
	}
	tail := []Element{text(verdict + " by " + data(by, 80) + " " + when(at)),
		note(fmt.Sprintf("Case %d · policy %s", caseID, data(hashPrefix(plan.PolicyHash), 12)))}
	return newCard(fmt.Sprintf("Plan to offboard %s %s by %s", planName(plan), word, by)).fitBody(head, body, tail)
}

func hashPrefix(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// who names an HR id: "Name (E0002)", or the id alone.
func who(id string, names map[string]string) string {
	if id == "" {
		return "unknown"
	}
	if n := strings.TrimSpace(names[id]); n != "" && n != id {
		return fit(n, 80) + " (" + fit(id, 40) + ")"
	}
	return fit(id, 80)
}

// reasonCard is a ShowCard action whose card asks for a reason and sends
// verb with it: Teams checks isRequired and maxLength before sending.
func reasonAction(title, verb, label string, d *Data, style string) Element {
	ex := execute(verb, title, d, style)
	ex.AssociatedInputs = "auto"
	return Element{"type": "Action.ShowCard", "title": fit(title+"…", 40), "card": Element{
		"type": "AdaptiveCard",
		"body": []Element{{"type": "Input.Text", "id": reasonInput(verb), "label": label, "isMultiline": true, "isRequired": true,
			"maxLength": blocks.MaxReasonLen, "errorMessage": "Say why (up to " + fmt.Sprint(blocks.MaxReasonLen) + " characters)."}},
		"actions": []any{ex},
	}}
}

// markDoneAction is Mark done behind a confirmation, as Slack's button
// has: Adaptive Cards have no confirm dialog, so an Action.ShowCard says
// what it means and holds the Action.Execute.
func markDoneAction(id int64) Element {
	return Element{"type": "Action.ShowCard", "title": "Mark done…", "card": Element{
		"type":    "AdaptiveCard",
		"body":    []Element{text("Only if it was done by hand. Kinetic records you as having done it; it stays unverified.")},
		"actions": []any{execute(VerbMarkDone, "Mark done", actionData(id), "positive")},
	}}
}

// ApprovalCard is blocks.ApprovalCard for Teams. While the approval is
// pending and info.CanDecide, it ends with Approve (verb approve, or a
// reason form sending approveWithReason when the step needs a reason) and
// Deny… (a reason form sending deny); others get the card without buttons
// and where it stands. approverMRIs, when given, are the Teams users whose
// client asks for their own view (refresh, verb refresh), so a card shared
// in a channel shows each approver their buttons and no one else any.
func ApprovalCard(v view.ApprovalView, info blocks.ApprovalInfo, now time.Time, approverMRIs []string) *Card {
	kind := strings.ReplaceAll(v.Kind, "_", " ")
	open := v.Status == store.ApprovalPending && info.CanDecide
	title := "Approval · " + kind
	if open {
		title = "Approval needed · " + kind
	}
	name := cmp.Or(strings.TrimSpace(v.EmployeeName), v.EmployeeID)
	var expires string
	if v.ExpiresAt != nil && v.Status == store.ApprovalPending {
		expires = when(*v.ExpiresAt)
	}
	head := []Element{heading(title)}
	if !blank(info.Description) {
		head = append(head, text("**"+data(kind, 60)+"**: "+para(info.Description, 500)))
	}
	head = add(head, facts(
		"Employee", fit(name, 100)+" · "+fit(v.EmployeeID, 60),
		"Requested by", who(v.Requester, info.Names),
		"Policy limit", fit(info.PolicyLimit, 300),
		"Effect", fit(strings.ReplaceAll(v.Effect, "_", " "), 60),
		"Expires", expires,
	))
	var body []Element
	if !blank(v.Reason) {
		body = append(body, text("**Requester's note**\n\n"+para(v.Reason, 1000)))
	}
	if len(v.Steps) > 0 {
		body = append(body, text("**Approval chain**"))
		for _, s := range v.Steps {
			body = append(body, text(fmt.Sprintf("%d. %s — %s", s.Index+1, data(s.Name, 80), data(s.Status, 20))))
		}
	}
	if len(v.Decisions) > 0 {
		body = append(body, text("**Decisions**"))
		for _, d := range v.Decisions {
			l := fmt.Sprintf("- %s: %s %s", data(who(d.Approver, info.Names), 120), data(d.Decision, 20), when(d.At))
			if !blank(d.Reason) {
				l += " — " + data(d.Reason, 300)
			}
			body = append(body, text(l))
		}
	}
	var tail []Element
	fb := fmt.Sprintf("Approval %s for %s: %s", kind, name, v.Status)
	if open {
		var approve any = execute(VerbApprove, "Approve", approvalData(v.ID), "positive")
		if v.ReasonRequired {
			approve = reasonAction("Approve", VerbApproveWithReason, "Why do you approve?", approvalData(v.ID), "positive")
		}
		tail = append(tail, actionSet(approve, reasonAction("Deny", VerbDeny, "Why do you deny? The requester sees this.", approvalData(v.ID), "destructive")))
		if len(v.Approvers) > 0 {
			var ps []string
			for _, a := range v.Approvers {
				ps = append(ps, who(a, info.Names))
			}
			tail = append(tail, note("May decide now: "+data(strings.Join(ps, ", "), 500)))
		}
		fb = fmt.Sprintf("Approval needed: %s for %s, requested by %s", kind, name, who(v.Requester, info.Names))
	} else {
		tail = append(tail, text("Status: **"+data(v.Status, 20)+"**"))
	}
	tail = append(tail, note(fmt.Sprintf("Approval %d · case %d", v.ID, v.CaseID)))
	c := newCard(fb).fitBody(head, body, tail)
	if v.Status == store.ApprovalPending && len(approverMRIs) > 0 {
		c.Refresh = &Refresh{Action: execute(VerbRefresh, "Refresh", approvalData(v.ID), ""), UserIDs: firstN(approverMRIs, 60)}
	}
	return c
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ActionFailed is blocks.ActionFailed for Teams: the failure and, while
// the action is failed, Retry, Skip… (with a reason; when skippable and
// not phase 1), Mark done (manual) and Escalate now.
func ActionFailed(a store.Action, caseID int64, skippable, manual bool) *Card {
	title := cmp.Or(strings.TrimSpace(a.Description), a.Name)
	where := "**" + data(a.Connector, 60) + "**"
	if !blank(a.TargetAccount) {
		where += " (" + data(a.TargetAccount, 80) + ")"
	}
	failed := a.Status == store.ActionFailed
	first := fmt.Sprintf("❌ **%s** failed on %s", data(title, 80), where)
	if failed && a.MaxAttempts > 0 {
		first += fmt.Sprintf(" after %d of %d attempts", a.Attempts, a.MaxAttempts)
	}
	if !failed {
		first = fmt.Sprintf("**%s** on %s failed earlier and is now **%s**", data(title, 80), where, data(a.Status, 20))
	}
	body := []Element{text(first)}
	if !blank(a.LastError) {
		body = append(body, text(fit(a.LastError, 1500), "fontType", "Monospace"))
	}
	if failed {
		acts := []any{execute(VerbRetry, "Retry", actionData(a.ID), "positive")}
		if skippable && a.Phase > 1 {
			acts = append(acts, reasonAction("Skip", VerbSkip, "Why skip it? Kinetic will not do it.", actionData(a.ID), ""))
		}
		if manual {
			acts = append(acts, markDoneAction(a.ID))
		}
		acts = append(acts, execute(VerbEscalate, "Escalate now", actionData(a.ID), ""))
		body = append(body, actionSet(acts...))
	}
	body = append(body, note(fmt.Sprintf("Case %d · action %d %s (%s on %s) · phase %d", caseID, a.ID, data(a.Name, 60), data(a.Operation, 40), data(a.Connector, 40), a.Phase)))
	fb := fmt.Sprintf("%s on %s failed (case %d)", title, a.Connector, caseID)
	return newCard(fb).fitBody(nil, body, nil)
}

// ManualStep is blocks.ManualStep for Teams: do it by hand, then Mark
// done; Skip… when skippable and not phase 1.
func ManualStep(a store.Action, caseID int64, skippable bool) *Card {
	title := cmp.Or(strings.TrimSpace(a.Description), a.Name)
	body := []Element{text("✋ **Manual step**: **" + data(title, 80) + "** on " + data(a.Connector, 60) + " waits to be done by hand, then marked done.")}
	if !blank(a.Detail) {
		body = append(body, text(para(a.Detail, 1500)))
	}
	if a.Status == store.ActionPending || a.Status == store.ActionFailed {
		acts := []any{markDoneAction(a.ID)}
		if skippable && a.Phase > 1 {
			acts = append(acts, reasonAction("Skip", VerbSkip, "Why skip it? Kinetic will not do it.", actionData(a.ID), ""))
		}
		body = append(body, actionSet(acts...))
	} else {
		body = append(body, text("Now **"+data(a.Status, 20)+"**."))
	}
	body = append(body, note(fmt.Sprintf("Case %d · action %d", caseID, a.ID)))
	return newCard(fmt.Sprintf("Manual step: %s (case %d)", title, caseID)).fitBody(nil, body, nil)
}

// CaseClosed is blocks.CaseClosed for Teams: the outcome, the summary and
// the audit trail's length and head hash, with Open case.
func CaseClosed(c store.Case, auditEvents int, headHash string) *Card {
	name := cmp.Or(strings.TrimSpace(c.EmployeeName), c.EmployeeID)
	var first string
	switch c.Status {
	case store.CaseCompleted:
		first = "✅ **Offboarding of " + data(name, 100) + " completed**"
	case store.CaseCompletedWithExceptions:
		first = "⚠ **Offboarding of " + data(name, 100) + " completed with exceptions**"
	case store.CaseFailed:
		first = "❌ **Offboarding of " + data(name, 100) + " failed**"
	case store.CaseCancelled:
		first = "🚫 **Offboarding of " + data(name, 100) + " was cancelled**"
	default:
		first = "**Offboarding of " + data(name, 100) + " closed** (" + data(c.Status, 32) + ")"
	}
	body := []Element{text(first)}
	if !blank(c.Summary) {
		body = append(body, text(para(c.Summary, 2500)))
	}
	var started, closed string
	if c.StartedAt != nil {
		started = when(*c.StartedAt)
	}
	if c.ClosedAt != nil {
		closed = when(*c.ClosedAt)
	}
	body = add(body, facts("Started", started, "Closed", closed, "Audit trail", fmt.Sprintf("%d events · head %s", auditEvents, fit(hashPrefix(headHash), 12))))
	body = append(body, actionSet(execute(VerbOpenCase, "Open case", caseData(c.ID), "")), note(fmt.Sprintf("Case %d", c.ID)))
	return newCard(fmt.Sprintf("Offboarding of %s closed: %s (case %d)", name, c.Status, c.ID)).fitBody(nil, body, nil)
}

// ReasonCard asks for a reason in a card of its own (a 1:1 or a dialog),
// sending verb with d's id: deny, approveWithReason or skip. intro is
// plain text, shown as written.
func ReasonCard(verb, intro string, d *Data) *Card {
	body := []Element{text(para(intro, 1000)),
		{"type": "Input.Text", "id": reasonInput(verb), "label": "Why?", "isMultiline": true, "isRequired": true,
			"maxLength": blocks.MaxReasonLen, "errorMessage": "Say why (up to " + fmt.Sprint(blocks.MaxReasonLen) + " characters)."},
		note("Recorded in the audit trail.")}
	ex := execute(verb, "Send", d, "positive")
	ex.AssociatedInputs = "auto"
	c := newCard(intro)
	c.Body = body
	c.Actions = []any{ex}
	return c
}

// MarkDoneCard is blocks.MarkDoneModal for Teams: a manual badge step's
// task (engine.ManualTask) and a required answer saying who collected or
// disabled the badge, sent with verb markDoneWho and read by
// ParseMarkDone.
func MarkDoneCard(actionID int64, task string) *Card {
	ex := execute(VerbMarkDoneWho, "Mark done", actionData(actionID), "positive")
	ex.AssociatedInputs = "auto"
	c := newCard("Mark done: " + task)
	c.Body = []Element{text(para(task, 2000)), note("Kinetic records you as having done it; it stays unverified."),
		{"type": "Input.Text", "id": reasonInput(VerbMarkDoneWho), "label": "Who collected or disabled it?", "isRequired": true,
			"placeholder": "Name, and how: collected at the desk, disabled in the panel",
			"maxLength":   blocks.MaxReasonLen, "errorMessage": "Say who collected or disabled it (up to " + fmt.Sprint(blocks.MaxReasonLen) + " characters)."},
		note("Recorded in the audit trail.")}
	c.Actions = []any{ex}
	return c
}

// ParseMarkDone reads who collected or disabled the badge from a
// MarkDoneCard's invoke, with blocks.CheckReason's rule: an empty answer
// is refused, the problem keyed by the input's id.
func ParseMarkDone(inv Invoke) (string, map[string]string) {
	who, errs := ParseReason(inv)
	for k, m := range errs {
		if m == "Say why." {
			errs[k] = "Say who collected or disabled it."
		}
	}
	return who, errs
}

// ParseReason reads the reason of an invoke from a reason form (deny,
// skip, approveWithReason), with blocks.CheckReason's rule: the problem
// keyed by the input's id, if any.
func ParseReason(inv Invoke) (string, map[string]string) {
	id := reasonInput(inv.Verb)
	r := strings.TrimSpace(inv.Inputs[id])
	errs := map[string]string{}
	if msg := blocks.CheckReason(r); msg != "" {
		errs[id] = msg
	}
	return r, errs
}

// AlertMessage is blocks.AlertMessage for Teams: a headline for the
// event's kind, its detail and, for a case, Open case; residual access
// found by reconciliation also gets Remediate (verb remediate).
func AlertMessage(ev view.Event) *Card {
	head := "ℹ **" + data(strings.ReplaceAll(string(ev.Kind), "_", " "), 60) + "**"
	switch ev.Kind {
	case view.EventBreach:
		head = "🚨 **Compliance deadline breached**: critical access was not removed in time"
	case view.EventBatchHeld:
		head = fmt.Sprintf("⏸ **Mass-termination guard**: offboarding held in batch %d", ev.BatchID)
	case view.EventSecurityOfficerNotice:
		head = "🛡 **Offboarding of a cleared employee opened**"
	case view.EventHRUnknownEmployee:
		head = "❔ **HR event for an employee Kinetic does not know**; no case was opened"
	case view.EventHRLateChange:
		head = "⚠ **HR changed an offboarding after it began**"
	case view.EventResidualAccess:
		head = "⚠ **Residual access after offboarding** on **" + data(ev.Name, 80) + "**"
	case view.EventEscalation:
		head = fmt.Sprintf("⏫ **Escalation** (level %d): **%s**", ev.Level, data(ev.Name, 80))
	case view.EventAction:
		if ev.Status == store.ActionFailed {
			head = "❌ **Critical revocation failed**: **" + data(ev.Name, 80) + "**"
		}
	}
	if ev.Kind != view.EventEscalation && ev.Kind != view.EventAction && ev.Kind != view.EventResidualAccess && !blank(ev.Name) {
		head += ": " + data(ev.Name, 80)
	}
	body := []Element{text(head)}
	if !blank(ev.Detail) {
		body = append(body, text(para(ev.Detail, 2500)))
	}
	if ev.Kind == view.EventResidualAccess && ev.ResidualID != 0 {
		// Security and admins only; the engine checks who clicked.
		body = append(body, actionSet(execute(VerbRemediate, "Remediate", residualData(ev.ResidualID), "destructive"),
			execute(VerbOpenCase, "Open case", caseData(ev.CaseID), "")), note(fmt.Sprintf("Case %d", ev.CaseID)))
	} else if ev.CaseID != 0 {
		body = append(body, actionSet(execute(VerbOpenCase, "Open case", caseData(ev.CaseID), "")), note(fmt.Sprintf("Case %d", ev.CaseID)))
	}
	fb := strings.ReplaceAll(oneLine(string(ev.Kind)), "_", " ")
	if ev.CaseID != 0 {
		fb += fmt.Sprintf(" (case %d)", ev.CaseID)
	}
	return newCard(fb).fitBody(nil, body, nil)
}

// DeliveryFailure is blocks.DeliveryFailure for Teams: who could not be
// told of ev, and why.
func DeliveryFailure(ev view.Event, problems []string) *Card {
	body := []Element{text(fmt.Sprintf("⚠ **Kinetic could not deliver a notice** (%s)", data(strings.ReplaceAll(string(ev.Kind), "_", " "), 60)))}
	for _, p := range problems {
		body = append(body, text("- "+data(p, 300)))
	}
	if ev.CaseID != 0 {
		body = append(body, note(fmt.Sprintf("Case %d", ev.CaseID)))
	}
	return newCard("Kinetic could not deliver a notice").fitBody(nil, body, nil)
}

// Help is the help card: blocks.HelpText's commands, as Teams users type
// them (@Kinetic in a channel, or in a chat with the bot).
func Help(now time.Time) *Card {
	body := []Element{heading("Kinetic · offboarding"),
		text("Mention a person with @ in each command:"),
		text("- offboard @person [reason] — plan an offboarding at the end of today (" + blocks.DefaultTime + " in their zone)\n" +
			"- offboard @person --now [reason] — start as soon as you confirm\n" +
			"- offboard @person --effective " + now.UTC().AddDate(0, 0, 7).Format("2006-01-02") + " 17:00 [reason] — a given last day and time\n" +
			"- status @person — where their offboarding stands\n" +
			"- cancel @person — cancel it before it has started\n" +
			"- help — this card"),
		note("Nothing runs until you confirm the plan.")}
	c := newCard("Kinetic commands: offboard, status, cancel, help")
	c.Body = body
	return c
}
