package blocks

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// IsAlert reports whether an engine event of this kind is an alert:
// escalation, breach, batch_held, security_officer_notice,
// hr_unknown_employee, hr_late_change and residual_access. The Slack notifier delivers an
// alert that names targets to them (Notice) and posts the others to the
// security alerts channel. A failed critical revocation
// (kind "action", status failed, phase 1) is an alert too, but the event
// does not carry the phase: the caller checks the action before calling
// AlertMessage.
func IsAlert(kind view.EventKind) bool {
	switch kind {
	case view.EventEscalation, view.EventBreach, view.EventBatchHeld, view.EventSecurityOfficerNotice, view.EventHRUnknownEmployee, view.EventHRLateChange,
		view.EventResidualAccess:
		return true
	}
	return false
}

// AlertMessage builds the security alerts channel's message for an engine
// event: a headline by kind (escalation, compliance breach, batch held by
// the mass-termination guard, security officer notice, HR event for an
// unknown employee, late HR change, failed critical revocation; anything
// else gets a generic headline), the engine's detail, who else was told,
// and an Open case button (value CaseValue) when the event names a case.
func AlertMessage(ev view.Event) ([]slack.Block, string) {
	return alertMessage(ev, nil)
}

// alertMessage is AlertMessage naming ev's actor from names (HR id →
// display name).
func alertMessage(ev view.Event, names map[string]string) ([]slack.Block, string) {
	name := data(ev.Name, 80)
	var head, fb string
	switch ev.Kind {
	case view.EventEscalation:
		head, fb = escalationHead(ev, names)
	case view.EventManualStep:
		head = fmt.Sprintf(":raised_hand: *Manual step*: *%s* waits to be done by hand, then marked done", name)
		fb = fmt.Sprintf("Manual step: %s waits to be done by hand", oneLine(ev.Name))
	case view.EventResidualAccess:
		head = fmt.Sprintf(":warning: *Residual access after offboarding* on *%s*", name)
		fb = fmt.Sprintf("Residual access after offboarding on %s", oneLine(ev.Name))
	case view.EventBreach:
		head = ":rotating_light: *Compliance deadline breached*: critical access was not removed in time"
		fb = "Compliance deadline breached"
	case view.EventBatchHeld:
		head = fmt.Sprintf(":double_vertical_bar: *Mass-termination guard*: offboarding held in batch %d", ev.BatchID)
		fb = fmt.Sprintf("Offboarding held in batch %d by the mass-termination guard", ev.BatchID)
	case view.EventSecurityOfficerNotice:
		head = ":shield: *Offboarding of a cleared employee opened*"
		fb = "Offboarding of a cleared employee opened"
	case view.EventHRUnknownEmployee:
		head = ":grey_question: *HR event for an employee Kinetic does not know*; no case was opened"
		fb = "HR event for an unknown employee"
	case view.EventHRLateChange:
		head = ":warning: *HR changed an offboarding after it began*"
		fb = "HR changed an offboarding after it began"
	case view.EventAction:
		if ev.Status == store.ActionFailed {
			head = fmt.Sprintf(":x: *Critical revocation failed*: *%s*", name)
			fb = fmt.Sprintf("Critical revocation failed: %s", oneLine(ev.Name))
			break
		}
		fallthrough
	default:
		head = ":information_source: *" + data(strings.ReplaceAll(string(ev.Kind), "_", " "), 60) + "*"
		if !blank(ev.Name) {
			head += ": " + name
		}
		fb = strings.ReplaceAll(oneLine(string(ev.Kind)), "_", " ")
	}
	if ev.CaseID != 0 {
		fb += fmt.Sprintf(" (case %d)", ev.CaseID)
	}
	bs := []slack.Block{section(head)}
	if !blank(ev.Detail) {
		bs = append(bs, section(para(ev.Detail, 2500)))
	}
	if ev.Kind == view.EventResidualAccess && ev.ResidualID != 0 {
		// Security and admins only; the engine checks who clicked.
		bs = append(bs, slack.NewActionBlock("", button(ActionRemediate, ResidualValue(ev.ResidualID), "Remediate", "danger"),
			button(ActionOpenCase, CaseValue(ev.CaseID), "Open case", "")))
	} else if ev.CaseID != 0 {
		bs = append(bs, slack.NewActionBlock("", button(ActionOpenCase, CaseValue(ev.CaseID), "Open case", "")))
	}
	ctx := eventContext(ev)
	if !ev.At.IsZero() {
		ctx = append(ctx, when(ev.At))
	}
	bs = add(bs, ctxBlock(ctx...))
	return bs, fallback(fb)
}

// escalationHead is an escalation's headline (mrkdwn) and fallback: an
// escalation a person made (ev.Actor, the Escalate now button) says who
// escalated it, by name and HR id, and is not called overdue (the detail
// says since when it is stuck, and whether it is overdue); the SLA sweep's
// own escalation is of an overdue action.
func escalationHead(ev view.Event, names map[string]string) (head, fb string) {
	if ev.Actor != "" {
		by := person(ev.Actor, names)
		head = fmt.Sprintf(":rotating_light: *Escalation level %d*: *%s* escalated by %s", ev.Level, data(ev.Name, 80), by)
		fbBy := oneLine(who(ev.Actor, names))
		if fbBy != ev.Actor {
			fbBy += " (" + oneLine(ev.Actor) + ")"
		}
		fb = fmt.Sprintf("Escalation level %d: %s escalated by %s", ev.Level, oneLine(ev.Name), fbBy)
		return head, fb
	}
	head = fmt.Sprintf(":rotating_light: *Escalation level %d*: *%s* is overdue", ev.Level, data(ev.Name, 80))
	fb = fmt.Sprintf("Escalation level %d: %s is overdue", ev.Level, oneLine(ev.Name))
	return head, fb
}

// BatchSummary builds one message for a batch of cases (an HR batch, or
// the cases the mass-termination guard held together) instead of one card
// per case: how many, the batch's status, and the case ids (as many as fit,
// then a count of the rest).
func BatchSummary(count int, caseIDs []int64, status string) ([]slack.Block, string) {
	var head, fb string
	switch status {
	case store.BatchPending:
		head = fmt.Sprintf(":double_vertical_bar: *%s held by the mass-termination guard*, awaiting approval", counted(count, "offboarding"))
		fb = fmt.Sprintf("%s held by the mass-termination guard, awaiting approval", counted(count, "offboarding"))
	case store.BatchApproved:
		head = fmt.Sprintf(":white_check_mark: *Batch of %s approved*; they proceed", counted(count, "offboarding"))
		fb = fmt.Sprintf("Batch of %s approved", counted(count, "offboarding"))
	case store.BatchDenied:
		head = fmt.Sprintf(":no_entry: *Batch of %s denied*; none of them runs", counted(count, "offboarding"))
		fb = fmt.Sprintf("Batch of %s denied", counted(count, "offboarding"))
	case store.BatchPartial:
		head = fmt.Sprintf(":ballot_box_with_check: *Batch of %s partly released*", counted(count, "offboarding"))
		fb = fmt.Sprintf("Batch of %s partly released", counted(count, "offboarding"))
	default:
		head = fmt.Sprintf("*Batch of %s*: %s", counted(count, "offboarding"), data(statusWord(status), 40))
		fb = fmt.Sprintf("Batch of %s: %s", counted(count, "offboarding"), statusWord(oneLine(status)))
	}
	bs := []slack.Block{section(head)}
	if len(caseIDs) > 0 {
		const budget = 2500
		var b strings.Builder
		b.WriteString("Cases: ")
		for i, id := range caseIDs {
			s := strconv.FormatInt(id, 10)
			if i > 0 {
				s = ", " + s
			}
			if b.Len()+len(s) > budget {
				fmt.Fprintf(&b, " and %d more", len(caseIDs)-i)
				break
			}
			b.WriteString(s)
		}
		bs = append(bs, section(b.String()))
	}
	return bs, fallback(fb)
}
