package blocks

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/slack-go/slack"
)

// PlanPreview builds the plan shown to the requester before anything runs:
// who, effective time, the systems discovery looked at and what it found,
// the actions per phase with their SLA, equipment to recover, and the
// buttons Confirm (with a confirmation dialog) and Cancel, both carrying the
// case (CaseValue). With more than 40 actions each phase is summarised.
//
// Once the requester has answered, replace it with PlanResolved, which
// shows the same plan without buttons. A plan with actions on simulated
// systems (sandbox connectors) says so in a banner under its header, on
// each such action and, after the name, in its fallback text.
func PlanPreview(plan view.Plan, caseID int64) ([]slack.Block, string) {
	head, body := planBlocks(plan)
	name := planName(plan)
	ok := button(ActionConfirmPlan, CaseValue(caseID), "Confirm", slack.StylePrimary)
	ok.Confirm = confirm("Start this offboarding?",
		fmt.Sprintf("Kinetic will revoke %s's access (%s) starting %s.", data(name, 80), counted(len(plan.Actions), "action"), planWhen(plan)),
		"Start", "Back")
	tail := add([]slack.Block{slack.NewActionBlock("", ok, button(ActionCancelPlan, CaseValue(caseID), "Cancel", ""))},
		ctxBlock(fmt.Sprintf("Nothing runs until you confirm. Case %d · policy `%s`", caseID, esc(hashPrefix(oneLine(plan.PolicyHash))))))
	fb := fmt.Sprintf("Plan to offboard %s%s: %s effective %s — confirm or cancel", oneLine(name), planTag(plan), counted(len(plan.Actions), "action"), utc(plan.EffectiveAt))
	return fit(head, body, tail), fallback(fb)
}

// PlanResolved is PlanPreview once answered: the same plan without
// buttons, saying who confirmed or cancelled it and when. by is a display
// name or HR id.
func PlanResolved(plan view.Plan, caseID int64, confirmed bool, by string, at time.Time) ([]slack.Block, string) {
	head, body := planBlocks(plan)
	verdict, word := ":white_check_mark: *Confirmed*", "confirmed"
	if !confirmed {
		verdict, word = ":no_entry_sign: *Cancelled*", "cancelled"
	}
	tail := add([]slack.Block{section(fmt.Sprintf("%s by %s %s", verdict, data(by, 80), when(at)))},
		ctxBlock(fmt.Sprintf("Case %d · policy `%s`", caseID, esc(hashPrefix(oneLine(plan.PolicyHash))))))
	fb := fmt.Sprintf("Plan to offboard %s%s %s by %s", oneLine(planName(plan)), planTag(plan), word, oneLine(by))
	return fit(head, body, tail), fallback(fb)
}

// planTag is simulatedTag for a plan with actions on simulated systems.
func planTag(p view.Plan) string {
	if p.Simulated() != nil {
		return simulatedTag
	}
	return ""
}

// planZone is the employee's time zone, nil when unknown.
func planZone(p view.Plan) *time.Location {
	if p.Employee.TimeZone == "" {
		return nil
	}
	loc, err := time.LoadLocation(p.Employee.TimeZone)
	if err != nil {
		return nil
	}
	return loc
}

// effectivePlanned is a plan's effective time for each viewer and in the
// employee's zone.
func effectivePlanned(p view.Plan) string {
	s := when(p.EffectiveAt)
	if l := localTime(p.EffectiveAt, planZone(p)); l != "" {
		s += "\n" + l
	}
	return s
}

// planWhen is the effective time for a confirmation dialog, which shows
// plain words: in the employee's zone when known, else UTC.
func planWhen(p view.Plan) string {
	if l := localTime(p.EffectiveAt, planZone(p)); l != "" {
		return l
	}
	return utc(p.EffectiveAt)
}

func planName(p view.Plan) string {
	if strings.TrimSpace(p.Employee.Name) != "" {
		return p.Employee.Name
	}
	return p.Employee.ID
}

// planBlocks returns the plan's head (who, when, how much) and body
// (discovery, actions, equipment), which fit trims when it must.
func planBlocks(plan view.Plan) (head, body []slack.Block) {
	emp := plan.Employee
	who := data(planName(plan), 100) + " · " + data(emp.ID, 60)
	if !blank(emp.Email) {
		who += "\n" + data(emp.Email, 100)
	}
	var role []string
	for _, s := range []string{emp.Type, emp.Department, emp.Location} {
		if strings.TrimSpace(s) != "" {
			role = append(role, data(s, 60))
		}
	}
	systems := map[string]bool{}
	for _, a := range plan.Actions {
		systems[a.Connector] = true
	}
	var clearance string
	if emp.Clearance != "" {
		clearance = data(emp.Clearance, 40)
	}
	head = add([]slack.Block{header("Plan · offboard " + planName(plan))}, fieldsSection(
		"Employee", who,
		"Role", strings.Join(role, " · "),
		"Effective", effectivePlanned(plan),
		"Actions", counted(len(plan.Actions), "action")+" on "+counted(len(systems), "system"),
		"Clearance", clearance,
		"Policy rules", data(strings.Join(plan.Rules, ", "), 300),
	))
	if sim := plan.Simulated(); sim != nil {
		head = append(head, simulatedBanner(sim, true))
	}
	var bs []slack.Block
	if lines := discoveryLines(plan.Discovery); len(lines) > 0 {
		bs = append(bs, sections(append([]string{"*What discovery found*"}, lines...))...)
	}
	bs = append(bs, slack.NewDividerBlock())
	bs = append(bs, plannedPhases(plan.Actions)...)
	if !blank(plan.RemoteAccess) {
		bs = append(bs, sections([]string{"*Remote access*", data(plan.RemoteAccess, 1000)})...)
	}
	if len(plan.Equipment) > 0 {
		lines := []string{"*Equipment to recover*"}
		for i, e := range plan.Equipment {
			if i == 15 {
				lines = append(lines, fmt.Sprintf("_and %d more_", len(plan.Equipment)-i))
				break
			}
			l := "• " + data(e.ID, 80)
			if !blank(e.Detail) {
				l += " — " + data(e.Detail, 120)
			}
			lines = append(lines, l)
		}
		bs = append(bs, sections(lines)...)
	}
	return head, bs
}

func discoveryLines(ds []view.Discovery) []string {
	sorted := slices.Clone(ds)
	slices.SortStableFunc(sorted, func(a, b view.Discovery) int { return cmp.Compare(a.Connector, b.Connector) })
	var lines []string
	for i, d := range sorted {
		if i == 30 {
			lines = append(lines, fmt.Sprintf("_and %d more systems_", len(sorted)-i))
			break
		}
		name := "*" + data(d.Connector, 60) + "*"
		switch {
		case d.Error != "":
			lines = append(lines, ":warning: "+name+": lookup failed ("+data(d.Error, 150)+"); its actions run anyway")
		case len(d.Accounts) == 0:
			lines = append(lines, "• "+name+": nothing found")
		default:
			var accs []string
			for j, a := range d.Accounts {
				if j == 3 {
					accs = append(accs, fmt.Sprintf("and %d more", len(d.Accounts)-j))
					break
				}
				accs = append(accs, accountText(a))
			}
			lines = append(lines, "• "+name+": "+strings.Join(accs, "; "))
		}
	}
	return lines
}

// accountText: "dwhitfield (active, 3 sessions, 5 groups)".
func accountText(a view.Account) string {
	var bits []string
	if a.Kind != "" && a.Kind != "user" {
		bits = append(bits, data(a.Kind, 30))
	}
	if a.Status != "" {
		bits = append(bits, data(a.Status, 30))
	}
	if a.Sessions > 0 {
		bits = append(bits, counted(a.Sessions, "session"))
	}
	if len(a.Groups) > 0 {
		bits = append(bits, counted(len(a.Groups), "group"))
	}
	s := data(a.ID, 80)
	if len(bits) > 0 {
		s += " (" + strings.Join(bits, ", ") + ")"
	}
	return s
}

func plannedPhases(acts []view.PlannedAction) []slack.Block {
	sorted := slices.Clone(acts)
	slices.SortStableFunc(sorted, func(a, b view.PlannedAction) int { return cmp.Compare(a.Phase, b.Phase) })
	var out []slack.Block
	for i := 0; i < len(sorted); {
		j := i
		for j < len(sorted) && sorted[j].Phase == sorted[i].Phase {
			j++
		}
		ph := sorted[i:j]
		name := ""
		for _, a := range ph {
			if !blank(a.PhaseName) {
				name = a.PhaseName
				break
			}
		}
		title := fmt.Sprintf("*%s* — %s", phaseTitle(ph[0].Phase, name), counted(len(ph), "action"))
		var lines []string
		if len(acts) > maxListedActions {
			lines = []string{title, phaseSummary(ph)}
		} else {
			lines = []string{title}
			for _, a := range ph {
				lines = append(lines, plannedLine(a))
			}
		}
		out = append(out, sections(lines)...)
		i = j
	}
	if len(out) == 0 {
		out = append(out, section("_The policy selects no actions for this person._"))
	}
	return out
}

// plannedLine: "• *Disable the Active Directory account* · ad
// (dwhitfield) · SLA 15m · found: account dwhitfield (active)" — the
// policy's description of the action, else its catalog name.
func plannedLine(a view.PlannedAction) string {
	title := a.Description
	if blank(title) {
		title = a.Name
	}
	l := "• *" + data(title, 80) + "* · " + data(a.Connector, 60)
	if !blank(a.TargetAccount) {
		l += " (" + data(a.TargetAccount, 80) + ")"
	}
	if a.Simulated {
		l += simulatedMark
	}
	if a.SLA > 0 {
		l += " · SLA " + span(a.SLA)
	}
	if a.Manual {
		l += " · :raised_hand: by hand"
	}
	if a.RunAt != nil {
		l += " · runs " + when(*a.RunAt)
	}
	if len(a.DependsOn) > 0 {
		l += " · after " + data(strings.Join(a.DependsOn, ", "), 100)
	}
	if a.Ordering != "" {
		l += " (" + data(a.Ordering, 120) + ")"
	}
	if a.Found != "" {
		l += " · found: " + data(a.Found, 120)
	}
	return l
}

// phaseSummary: systems and the longest SLA of a phase too long to list.
func phaseSummary(ph []view.PlannedAction) string {
	seen := map[string]bool{}
	var systems []string
	var maxSLA time.Duration
	manual := 0
	for _, a := range ph {
		if !seen[a.Connector] {
			seen[a.Connector] = true
			systems = append(systems, a.Connector)
		}
		maxSLA = max(maxSLA, a.SLA)
		if a.Manual {
			manual++
		}
	}
	slices.Sort(systems)
	s := "on " + data(strings.Join(systems, ", "), 1500)
	if maxSLA > 0 {
		s += " · SLA up to " + span(maxSLA)
	}
	if manual > 0 {
		s += fmt.Sprintf(" · %d by hand", manual)
	}
	return s
}
