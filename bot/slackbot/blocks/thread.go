package blocks

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	txt "github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// ActionFailed builds the thread reply for a failed action: what failed,
// where, after how many attempts, the error, and the buttons Retry, Skip
// (only when skippable — the policy lets the owning team skip it — and
// never in phase 1, the critical revocations), Mark done (only when manual,
// a step people do by hand) and Escalate now. Every button's value is the
// action (ActionValue).
//
// Once the action is no longer failed (retried, skipped, marked done),
// rebuild the reply from the current action: it shows the new state and no
// buttons.
func ActionFailed(a store.Action, caseID int64, skippable, manual bool) ([]slack.Block, string) {
	where := "*" + data(a.Connector, 60) + "*"
	if !blank(a.TargetAccount) {
		where += " (" + data(a.TargetAccount, 80) + ")"
	}
	failed := a.Status == store.ActionFailed
	var first string
	if failed {
		first = fmt.Sprintf(":x: *%s* failed on %s", data(actionTitle(a), 80), where)
		if a.MaxAttempts > 0 {
			first += fmt.Sprintf(" after %d of %d attempts", a.Attempts, a.MaxAttempts)
		}
		if a.ErrorKind != "" {
			first += " · " + data(a.ErrorKind, 32) + " error"
		}
	} else {
		first = fmt.Sprintf("%s *%s* on %s failed earlier and is now *%s*", stateEmoji[stateOf(a)], data(actionTitle(a), 80), where, statusMd(a.Status))
	}
	bs := []slack.Block{section(first)}
	if !blank(a.LastError) {
		bs = append(bs, section(code(a.LastError, 1500)))
	}
	if failed {
		els := []slack.BlockElement{button(ActionRetry, ActionValue(a.ID), "Retry", slack.StylePrimary)}
		if skippable && a.Phase > 1 {
			els = append(els, button(ActionSkip, ActionValue(a.ID), "Skip…", ""))
		}
		if manual {
			b := button(ActionMarkDone, ActionValue(a.ID), "Mark done", "")
			b.Confirm = confirm("Mark "+txt.Fit(oneLine(actionTitle(a)), 60)+" done?",
				"Only if it was done by hand. Kinetic records you as having done it; it stays unverified.", "Mark done", "Back")
			els = append(els, b)
		}
		els = append(els, button(ActionEscalateNow, ActionValue(a.ID), "Escalate now", ""))
		bs = append(bs, slack.NewActionBlock("", els...))
	}
	bs = add(bs, ctxBlock(actionContext(a, caseID)))

	fb := fmt.Sprintf("%s on %s failed (case %d)", oneLine(actionTitle(a)), oneLine(a.Connector), caseID)
	if !failed {
		fb = fmt.Sprintf("%s on %s is now %s (case %d)", oneLine(actionTitle(a)), oneLine(a.Connector), statusWord(a.Status), caseID)
	}
	return bs, fallback(fb)
}

// actionContext is the context line under an action's reply: "Case 42 ·
// action 903 `revoke_vpn` (revoke_vpn on vpn) · Phase 1 · critical" — the
// catalog name and operation, which the audit trail and the CLI use.
func actionContext(a store.Action, caseID int64) string {
	return fmt.Sprintf("Case %d · action %d `%s` (%s on %s) · %s", caseID, a.ID, esc(txt.Fit(oneLine(strings.ReplaceAll(a.Name, "`", "'")), 60)),
		data(a.Operation, 40), data(a.Connector, 40), phaseTitle(a.Phase, a.PhaseName))
}

// stateOf is actionState without overdue, for replies that do not know now.
func stateOf(a store.Action) state {
	return actionState(store.Action{Status: a.Status}, time.Time{})
}

// ManualStep builds the thread reply asking the owning team to do a manual
// step by hand (engine event manual_step): Mark done (with a confirmation)
// and, when skippable and not phase 1, Skip. Once the step is no longer
// pending, rebuild it: the buttons go.
func ManualStep(a store.Action, caseID int64, skippable bool) ([]slack.Block, string) {
	what := fmt.Sprintf("*%s* on %s", data(actionTitle(a), 80), data(a.Connector, 60))
	if !blank(a.TargetAccount) {
		what += " for " + data(a.TargetAccount, 80)
	}
	pending := a.Status == store.ActionPending
	var first string
	if pending {
		first = ":raised_hand: " + what + " is a manual step: do it by hand, then mark it done."
		if a.DueAt != nil {
			first += "\nDue " + when(*a.DueAt) + "."
		}
	} else {
		first = stateEmoji[stateOf(a)] + " Manual step " + what + " is *" + statusMd(a.Status) + "*."
		if !blank(a.Verification) {
			first += "\n" + data(a.Verification, 300)
		}
	}
	bs := []slack.Block{section(first)}
	if pending {
		b := button(ActionMarkDone, ActionValue(a.ID), "Mark done", slack.StylePrimary)
		b.Confirm = confirm("Mark "+txt.Fit(oneLine(actionTitle(a)), 60)+" done?",
			"Kinetic records you as having done it by hand; it stays unverified.", "Mark done", "Back")
		els := []slack.BlockElement{b}
		if skippable && a.Phase > 1 {
			els = append(els, button(ActionSkip, ActionValue(a.ID), "Skip…", ""))
		}
		bs = append(bs, slack.NewActionBlock("", els...))
	}
	bs = add(bs, ctxBlock(actionContext(a, caseID)))
	fb := fmt.Sprintf("Manual step %s on %s needs doing by hand (case %d)", oneLine(actionTitle(a)), oneLine(a.Connector), caseID)
	if !pending {
		fb = fmt.Sprintf("Manual step %s on %s is %s (case %d)", oneLine(actionTitle(a)), oneLine(a.Connector), statusWord(a.Status), caseID)
	}
	return bs, fallback(fb)
}

// Escalation builds the thread reply for an escalation event: the level,
// the overdue action — or, for a person's escalation (ev.Actor), who
// escalated it, named from names (HR id → display name) — the engine's
// detail and who was told.
func Escalation(ev view.Event, names map[string]string) ([]slack.Block, string) {
	first, fb := escalationHead(ev, names)
	if ev.Status != "" {
		first += " (" + statusMd(ev.Status) + ")"
	}
	bs := []slack.Block{section(first)}
	if !blank(ev.Detail) {
		bs = append(bs, section(para(ev.Detail, 2000)))
	}
	bs = add(bs, ctxBlock(eventContext(ev)...))
	return bs, fallback(fmt.Sprintf("%s (case %d)", fb, ev.CaseID))
}

// ApprovalDecided builds the thread reply for an approval_decided (or
// approval_expired) event: the exception, its new status and the detail.
// Status pending means one step was approved and the chain goes on.
func ApprovalDecided(ev view.Event) ([]slack.Block, string) {
	kind := data(ev.Name, 80)
	var first, fb string
	switch ev.Status {
	case store.ApprovalApproved:
		first, fb = ":white_check_mark: Exception *"+kind+"* approved", "approved"
	case store.ApprovalDenied:
		first, fb = ":no_entry: Exception *"+kind+"* denied", "denied"
	case store.ApprovalExpired:
		first, fb = ":hourglass: Exception *"+kind+"* expired undecided", "expired"
	case store.ApprovalCancelled:
		first, fb = ":no_entry_sign: Exception *"+kind+"* cancelled", "cancelled"
	case store.ApprovalPending:
		first, fb = ":ballot_box_with_check: A step of exception *"+kind+"* was approved; the next step decides now", "step approved"
	default:
		first, fb = ":grey_question: Exception *"+kind+"* is now "+data(ev.Status, 32), statusWord(ev.Status)
	}
	bs := []slack.Block{section(first)}
	if !blank(ev.Detail) {
		bs = append(bs, section(para(ev.Detail, 2000)))
	}
	bs = add(bs, ctxBlock(eventContext(ev)...))
	return bs, fallback(fmt.Sprintf("Exception %s %s (case %d)", oneLine(ev.Name), fb, ev.CaseID))
}

// CaseClosed builds the thread reply for a closed case: its outcome, the
// engine's summary, the actions a legal hold keeps from running (still
// held: they never ran, and run when the hold is released), how long it
// took, and a line on the audit record — the
// number of audit events and the chain's head hash (shown to 12
// characters), which `kinetic audit verify` checks.
func CaseClosed(c store.Case, auditEvents int, headHash string) ([]slack.Block, string) {
	name := data(nameOf(c), 100)
	var first, word string
	switch c.Status {
	case store.CaseCompleted:
		first, word = ":white_check_mark: *Offboarding of "+name+" completed*", "completed"
	case store.CaseCompletedWithExceptions:
		first, word = ":warning: *Offboarding of "+name+" completed with exceptions*", "completed with exceptions"
	case store.CaseFailed:
		first, word = ":x: *Offboarding of "+name+" failed*", "failed"
	case store.CaseCancelled:
		first, word = ":no_entry_sign: *Offboarding of "+name+" was cancelled*", "cancelled"
	default:
		first, word = "*Offboarding of "+name+" closed* ("+data(c.Status, 32)+")", statusWord(c.Status)
	}
	bs := []slack.Block{section(first)}
	if c.Simulated {
		bs = append(bs, simulatedBanner(nil, false))
	}
	if !blank(c.Summary) {
		bs = append(bs, section(para(c.Summary, 2500)))
	}
	if kept := keptLines(c); len(kept) > 0 {
		bs = append(bs, sections(append([]string{"*Not run: preserved under legal hold until released*"}, kept...))...)
	}
	var took, started, closed string
	if c.StartedAt != nil {
		started = when(*c.StartedAt)
	}
	if c.ClosedAt != nil {
		closed = when(*c.ClosedAt)
		if c.StartedAt != nil {
			took = span(c.ClosedAt.Sub(*c.StartedAt))
		}
	}
	bs = add(bs, fieldsSection("Effective", when(c.EffectiveAt), "Started", started, "Closed", closed, "Took", took))
	audit := fmt.Sprintf(":lock: Audit record: %s", counted(auditEvents, "event"))
	if headHash != "" {
		audit += " · chain head `" + esc(hashPrefix(oneLine(headHash))) + "`"
	}
	audit += " · check it with `kinetic audit verify`"
	bs = add(bs, ctxBlock(audit, fmt.Sprintf("Case %d", c.ID)))
	tag := ""
	if c.Simulated {
		tag = simulatedTag
	}
	fb := fmt.Sprintf("Offboarding of %s%s %s (case %d)", oneLine(nameOf(c)), tag, word, c.ID)
	return bs, fallback(fb)
}

// keptLines are a closed case's held actions, one line each: an approved
// legal hold preserves them until released (the engine closes no case
// with an action held for a pending approval).
func keptLines(c store.Case) []string {
	var lines []string
	for _, a := range c.Actions {
		if a.Status != store.ActionHeld {
			continue
		}
		l := stateEmoji[stHeld] + " *" + data(actionTitle(a), 80) + "* · " + data(a.Connector, 40)
		if !blank(a.TargetAccount) {
			l += " (" + data(a.TargetAccount, 60) + ")"
		}
		if !blank(a.BlockedReason) {
			l += " — " + data(a.BlockedReason, 100)
		}
		lines = append(lines, l)
	}
	return lines
}

// eventContext is the context line under an event reply: case, and who
// was told.
func eventContext(ev view.Event) []string {
	parts := []string{}
	if ev.CaseID != 0 {
		parts = append(parts, fmt.Sprintf("Case %d", ev.CaseID))
	}
	if ev.ApprovalID != 0 {
		parts = append(parts, fmt.Sprintf("approval %d", ev.ApprovalID))
	}
	if ev.ActionID != 0 {
		parts = append(parts, fmt.Sprintf("action %d", ev.ActionID))
	}
	line := strings.Join(parts, " · ")
	if t := targets(ev.Targets); t != "" {
		if line != "" {
			line += " · "
		}
		line += "notified " + t
	}
	if line == "" {
		return nil
	}
	return []string{line}
}

// targets renders engine notification targets for people: channel:NAME
// as #NAME, group:NAME as "group NAME", user:ID as the id.
func targets(ts []string) string {
	var out []string
	for i, t := range ts {
		if i == 8 {
			out = append(out, fmt.Sprintf("and %d more", len(ts)-i))
			break
		}
		kind, name, ok := strings.Cut(t, ":")
		switch {
		case !ok:
			out = append(out, data(t, 60))
		case kind == "channel":
			out = append(out, "#"+data(name, 60))
		case kind == "group":
			out = append(out, "group "+data(name, 60))
		case kind == "user":
			out = append(out, data(name, 60))
		default:
			out = append(out, data(t, 60))
		}
	}
	return strings.Join(out, ", ")
}
