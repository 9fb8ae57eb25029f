package blocks

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// ApprovalInfo is what an approval card or reason modal shows beyond the
// approval's view.
type ApprovalInfo struct {
	// Names maps HR ids (the requester, approvers, deciders) to display
	// names; people are shown as "Name (HR id)", or as the id when the name
	// is unknown.
	Names map[string]string
	// Description is the policy's description of the exception kind.
	Description string
	// PolicyLimit is the policy's limit for this exception ("at most 30
	// days"), shown as is.
	PolicyLimit string
	// CanDecide says the card's reader may decide the current step now
	// (one of the view's Approvers).
	CanDecide bool
}

// ApprovalCard builds the card an approver decides on: the exception and
// the policy's description of it, for whom, who asked and their note, what
// it requests (forward to, days, action, until), the actions it holds, the
// policy's limit, each step of the chain and every decision so far, people
// by name with their HR id.
//
// Only while the approval is pending and info.CanDecide is set does it end
// with Approve and Deny (value ApprovalValue); Approve reads "Approve…"
// when the step requires a reason (the click then opens
// ApproveReasonModal). Every other reader — one who has decided, an
// approver of an earlier step, anyone once the approval is settled — gets
// the same card without buttons, saying where it stands: whose decision it
// waits on, or who decided what and when. So no stale button stays.
func ApprovalCard(v view.ApprovalView, info ApprovalInfo, now time.Time) ([]slack.Block, string) {
	kind := strings.ReplaceAll(v.Kind, "_", " ")
	open := v.Status == store.ApprovalPending && info.CanDecide
	title := "Approval needed · " + kind
	if !open {
		title = "Approval · " + kind
	}
	name := v.EmployeeName
	if strings.TrimSpace(name) == "" {
		name = v.EmployeeID
	}
	emp := data(name, 100)
	if v.EmployeeID != "" && v.EmployeeID != name {
		emp += " · " + data(v.EmployeeID, 60)
	}
	var expires string
	if v.ExpiresAt != nil && v.Status == store.ApprovalPending {
		expires = approvalWhen(*v.ExpiresAt) + "\n" + relative(*v.ExpiresAt, now)
	}
	head := []slack.Block{header(title)}
	if !blank(info.Description) {
		head = append(head, section("*"+data(kind, 60)+"*: "+para(info.Description, 500)))
	}
	head = add(head, fieldsSection(
		"Employee", emp,
		"Requested by", data(approverName(v.Requester, info.Names), 120),
		"Request", requestText(v.Request),
		"Policy limit", data(info.PolicyLimit, 300),
		"Effect", data(strings.ReplaceAll(v.Effect, "_", " "), 60),
		"Expires", expires,
	))
	var bs []slack.Block
	if !blank(v.Reason) {
		bs = append(bs, section("*Requester's note*\n"+para(v.Reason, 1000)))
	}
	if held := heldText(v.Held); held != "" && v.Status == store.ApprovalPending {
		bs = append(bs, section("*Holds until decided*\n"+held))
	}
	if lines := stepLines(v.Steps, now, info.Names, v.RoleApprovers); len(lines) > 0 {
		bs = append(bs, sections(append([]string{"*Approval chain*"}, lines...))...)
	}
	if lines := decisionLines(v.Decisions, info.Names); len(lines) > 0 {
		bs = append(bs, sections(append([]string{"*Decisions*"}, lines...))...)
	}

	fbName := oneLine(name)
	var fb string
	var tail []slack.Block
	if open {
		approve := "Approve"
		if v.ReasonRequired {
			approve = "Approve…"
		}
		tail = append(tail, slack.NewActionBlock("",
			button(ActionApprove, ApprovalValue(v.ID), approve, slack.StylePrimary),
			button(ActionDeny, ApprovalValue(v.ID), "Deny…", slack.StyleDanger),
		))
		ctx := []string{}
		if v.ReasonRequired {
			ctx = append(ctx, "The policy asks for a reason to approve this step.")
		}
		if len(v.Approvers) > 0 {
			ctx = append(ctx, "May decide now: "+data(people(v.Approvers, info.Names), 500))
		}
		tail = add(tail, ctxBlock(ctx...))
		fb = fmt.Sprintf("Approval needed: %s for %s, requested by %s", kind, fbName, oneLine(approverName(v.Requester, info.Names)))
	} else {
		verdict, word := verdictText(v, info.Names)
		tail = append(tail, section(verdict))
		fb = fmt.Sprintf("Approval %s for %s: %s", kind, fbName, word)
	}
	tail = add(tail, ctxBlock(fmt.Sprintf("Approval %d · case %d", v.ID, v.CaseID)))
	return fit(head, bs, tail), fallback(fb)
}

// approverName names an HR id for an auditor (unescaped; callers escape): "Name (E0100)", or the id alone
// when no name is known.
func approverName(id string, names map[string]string) string {
	if id == "" {
		return "unknown"
	}
	if n := strings.TrimSpace(names[id]); n != "" && n != id {
		return n + " (" + id + ")"
	}
	return id
}

// people names HR ids as approverName does, comma-separated.
func people(ids []string, names map[string]string) string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = approverName(id, names)
	}
	return strings.Join(out, ", ")
}

// approvalWhen is t in Slack's date formatting, so each reader sees their
// own time zone; clients that can't render it show the UTC time.
func approvalWhen(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), utc(t))
}

// verdictText says where an approval stands for a reader who can't
// decide it now, and who decided it.
func verdictText(v view.ApprovalView, names map[string]string) (string, string) {
	at := ""
	if v.DecidedAt != nil {
		at = " " + approvalWhen(*v.DecidedAt)
	}
	// The decision that settled it is on the last decided step: a deny
	// ends the chain where it is made, an approval at its last step.
	last := -1
	for _, s := range v.Steps {
		if s.Status == store.StepApproved || s.Status == store.StepDenied {
			last = max(last, s.Index)
		}
	}
	by := func(decision string) string {
		for i := len(v.Decisions) - 1; i >= 0; i-- {
			d := v.Decisions[i]
			if d.Decision == decision && (last < 0 || d.StepIndex == last) {
				if at == "" {
					at = " " + approvalWhen(d.At)
				}
				return " by " + data(approverName(d.Approver, names), 120)
			}
		}
		return ""
	}
	var s, word string
	switch v.Status {
	case store.ApprovalApproved:
		b := by("approve")
		if b == "" {
			b = " by policy (the step timed out)"
		}
		s, word = ":white_check_mark: *Approved*"+b+at, "approved"
	case store.ApprovalDenied:
		b := by("deny")
		if b == "" {
			b = " by policy (the step timed out)"
		}
		s, word = ":no_entry: *Denied*"+b+at, "denied"
	case store.ApprovalExpired:
		s, word = ":hourglass: *Expired* undecided"+at, "expired"
	case store.ApprovalCancelled:
		s, word = ":no_entry_sign: *Cancelled*"+at, "cancelled"
	case store.ApprovalPending:
		s, word = ":ballot_box_with_check: *Decision recorded.*", "decision recorded"
		step := ""
		for _, st := range v.Steps {
			if st.Status == store.StepPending {
				step = fmt.Sprintf(" step %d *%s*", st.Index+1, data(st.Name, 80))
				break
			}
		}
		if len(v.Approvers) > 0 {
			s += " Waiting on" + step + ": " + data(people(v.Approvers, names), 500) + "."
		} else {
			s += " The rest of the chain decides next."
		}
	default:
		s, word = "*"+data(v.Status, 32)+"*"+at, statusWord(v.Status)
	}
	if !blank(v.Outcome) {
		s += "\n" + para(v.Outcome, 1000)
	}
	return s, word
}

// requestText renders an approval's request JSON (forward_to, days,
// action, until, hold_of, and any other key) for people.
func requestText(raw string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil || len(m) == 0 {
		return ""
	}
	var parts []string
	str := func(v any) string {
		switch v := v.(type) {
		case string:
			return v
		case float64:
			return fmt.Sprintf("%g", v)
		}
		b, _ := json.Marshal(v)
		return string(b)
	}
	if v, ok := m["forward_to"]; ok {
		parts = append(parts, "forward email to "+data(str(v), 120))
		delete(m, "forward_to")
	}
	if v, ok := m["days"]; ok {
		parts = append(parts, "for "+data(str(v), 20)+" days")
		delete(m, "days")
	}
	if v, ok := m["action"]; ok {
		parts = append(parts, "action "+data(str(v), 80))
		delete(m, "action")
	}
	if v, ok := m["until"]; ok {
		parts = append(parts, "until "+data(str(v), 60))
		delete(m, "until")
	}
	if v, ok := m["hold_of"]; ok {
		parts = append(parts, "releases legal hold "+data(str(v), 20))
		delete(m, "hold_of")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, data(k, 40)+": "+data(str(m[k]), 120))
	}
	return fitRunes(strings.Join(parts, "\n"), 1500)
}

// heldText renders the JSON array of held action names.
func heldText(raw string) string {
	var names []string
	if err := json.Unmarshal([]byte(raw), &names); err != nil || len(names) == 0 {
		return ""
	}
	for i, n := range names {
		names[i] = data(n, 60)
	}
	return fitRunes(strings.Join(names, ", "), 1500)
}

// approverRefs renders a step's JSON array of approver references, named
// people by name: user:ID and a role ("manager", "hr_partner") that roles
// resolves as "Name (ID)"; a role nobody holds stays the role.
func approverRefs(raw string, names, roles map[string]string) string {
	var refs []string
	if err := json.Unmarshal([]byte(raw), &refs); err != nil {
		return ""
	}
	for i, r := range refs {
		kind, name, ok := strings.Cut(r, ":")
		switch {
		case ok && kind == "group":
			refs[i] = "group " + data(name, 60)
		case ok && kind == "user":
			refs[i] = data(approverName(name, names), 100)
		case !ok && roles[r] != "":
			refs[i] = data(approverName(roles[r], names), 100)
		default:
			refs[i] = data(strings.ReplaceAll(r, "_", " "), 60)
		}
	}
	return strings.Join(refs, ", ")
}

func stepLines(steps []store.ApprovalStep, now time.Time, names, roles map[string]string) []string {
	var lines []string
	for _, s := range steps {
		var emoji string
		switch s.Status {
		case store.StepApproved:
			emoji = ":white_check_mark:"
		case store.StepDenied:
			emoji = ":no_entry:"
		case store.StepPending:
			emoji = ":hourglass_flowing_sand:"
		default:
			emoji = ":white_circle:"
		}
		l := fmt.Sprintf("%s %d. *%s*", emoji, s.Index+1, data(s.Name, 80))
		mode := ""
		switch s.Mode {
		case "all":
			mode = "all of"
		case "n_of":
			mode = fmt.Sprintf("%d of", s.Required)
		default:
			mode = "any of"
		}
		if refs := approverRefs(s.Approvers, names, roles); refs != "" {
			l += " — " + mode + " " + refs
		}
		if s.Escalated {
			if fb := approverRefs(s.Fallback, names, roles); fb != "" {
				l += ", escalated to " + fb
			} else {
				l += ", escalated"
			}
		}
		switch {
		case s.DecidedAt != nil:
			l += " · " + statusMd(s.Status) + " " + approvalWhen(*s.DecidedAt)
		case s.Status == store.StepPending && s.DueAt != nil:
			l += " · due " + approvalWhen(*s.DueAt) + " (" + relative(*s.DueAt, now) + ")"
		case s.Status == store.StepWaiting:
			l += " · waits for the step before"
		}
		lines = append(lines, l)
	}
	return lines
}

func decisionLines(ds []store.ApprovalDecision, names map[string]string) []string {
	var lines []string
	for _, d := range ds {
		emoji, verb := ":white_check_mark:", "approved"
		if d.Decision == "deny" {
			emoji, verb = ":no_entry:", "denied"
		}
		l := fmt.Sprintf("%s %s %s step %d %s", emoji, data(approverName(d.Approver, names), 120), verb, d.StepIndex+1, approvalWhen(d.At))
		if !blank(d.Via) {
			l += " via " + data(d.Via, 20)
		}
		if !blank(d.Reason) {
			l += ": " + data(d.Reason, 300)
		}
		lines = append(lines, l)
	}
	return lines
}
