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

// ApprovalCard builds the card an approver decides on: the exception, for
// whom, who asked and why, what it requests (forward to, days, action,
// until), the actions it holds, policyLimit (the policy's limit for this
// exception, e.g. "at most 30 days", shown as is), each step of the chain
// and every decision so far.
//
// While the approval is pending and decided is false it ends with Approve
// and Deny (value ApprovalValue). After a decision — decided is true (the
// person looking has just decided) or Status is no longer pending — it is
// the same card without buttons, saying who decided what and when, so no
// stale button stays clickable.
func ApprovalCard(view view.ApprovalView, policyLimit string, now time.Time, decided bool) ([]slack.Block, string) {
	kind := strings.ReplaceAll(view.Kind, "_", " ")
	open := view.Status == store.ApprovalPending && !decided
	title := "Approval needed · " + kind
	if !open {
		title = "Approval · " + kind
	}
	name := view.EmployeeName
	if strings.TrimSpace(name) == "" {
		name = view.EmployeeID
	}
	emp := data(name, 100)
	if view.EmployeeID != "" && view.EmployeeID != name {
		emp += " · " + data(view.EmployeeID, 60)
	}
	var expires string
	if view.ExpiresAt != nil && open {
		expires = utc(*view.ExpiresAt) + "\n" + relative(*view.ExpiresAt, now)
	}
	head := []slack.Block{header(title)}
	head = add(head, fieldsSection(
		"Employee", emp,
		"Requested by", data(view.Requester, 100),
		"Request", requestText(view.Request),
		"Policy limit", data(policyLimit, 300),
		"Effect", data(strings.ReplaceAll(view.Effect, "_", " "), 60),
		"Expires", expires,
	))
	var bs []slack.Block
	if !blank(view.Reason) {
		bs = append(bs, section("*Reason*\n"+para(view.Reason, 1000)))
	}
	if held := heldText(view.Held); held != "" && open {
		bs = append(bs, section("*Holds until decided*\n"+held))
	}
	if lines := stepLines(view.Steps, now); len(lines) > 0 {
		bs = append(bs, sections(append([]string{"*Approval chain*"}, lines...))...)
	}
	if lines := decisionLines(view.Decisions); len(lines) > 0 {
		bs = append(bs, sections(append([]string{"*Decisions*"}, lines...))...)
	}

	fbName := oneLine(name)
	var fb string
	var tail []slack.Block
	if open {
		tail = append(tail, slack.NewActionBlock("",
			button(ActionApprove, ApprovalValue(view.ID), "Approve", slack.StylePrimary),
			button(ActionDeny, ApprovalValue(view.ID), "Deny…", slack.StyleDanger),
		))
		if len(view.Approvers) > 0 {
			tail = add(tail, ctxBlock("May decide now: "+data(strings.Join(view.Approvers, ", "), 500)))
		}
		fb = fmt.Sprintf("Approval needed: %s for %s, requested by %s", kind, fbName, oneLine(view.Requester))
	} else {
		verdict, word := verdictText(view, now)
		tail = append(tail, section(verdict))
		fb = fmt.Sprintf("Approval %s for %s: %s", kind, fbName, word)
	}
	tail = add(tail, ctxBlock(fmt.Sprintf("Approval %d · case %d", view.ID, view.CaseID)))
	return fit(head, bs, tail), fallback(fb)
}

// verdictText says where a decided approval stands and who decided it.
func verdictText(v view.ApprovalView, now time.Time) (string, string) {
	at := ""
	if v.DecidedAt != nil {
		at = " at " + utc(*v.DecidedAt)
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
					at = " at " + utc(d.At)
				}
				return " by " + data(d.Approver, 100)
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
		s, word = ":ballot_box_with_check: *Decision recorded.* The rest of the chain decides next.", "decision recorded"
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

// approverRefs renders a step's JSON array of approver references.
func approverRefs(raw string) string {
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
			refs[i] = data(name, 60)
		default:
			refs[i] = data(strings.ReplaceAll(r, "_", " "), 60)
		}
	}
	return strings.Join(refs, ", ")
}

func stepLines(steps []store.ApprovalStep, now time.Time) []string {
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
		if refs := approverRefs(s.Approvers); refs != "" {
			l += " — " + mode + " " + refs
		}
		if s.Escalated {
			if fb := approverRefs(s.Fallback); fb != "" {
				l += ", escalated to " + fb
			} else {
				l += ", escalated"
			}
		}
		switch {
		case s.DecidedAt != nil:
			l += " · " + statusMd(s.Status) + " " + utc(*s.DecidedAt)
		case s.Status == store.StepPending && s.DueAt != nil:
			l += " · due " + utc(*s.DueAt) + " (" + relative(*s.DueAt, now) + ")"
		case s.Status == store.StepWaiting:
			l += " · waits for the step before"
		}
		lines = append(lines, l)
	}
	return lines
}

func decisionLines(ds []store.ApprovalDecision) []string {
	var lines []string
	for _, d := range ds {
		emoji, verb := ":white_check_mark:", "approved"
		if d.Decision == "deny" {
			emoji, verb = ":no_entry:", "denied"
		}
		l := fmt.Sprintf("%s %s %s step %d at %s", emoji, data(d.Approver, 80), verb, d.StepIndex+1, utc(d.At))
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
