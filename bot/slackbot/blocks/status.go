package blocks

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// state is how an action looks to people on a status card.
type state int

// In the order counts are shown.
const (
	stDone state = iota
	stRunning
	stOverdue
	stFailed
	stHeld
	stBlocked
	stScheduled
	stQueued
	stSkipped
	stCancelled
	nStates
)

var stateEmoji = [nStates]string{
	stDone: ":white_check_mark:", stRunning: ":arrows_counterclockwise:", stOverdue: ":alarm_clock:", stFailed: ":x:",
	stHeld: ":double_vertical_bar:", stBlocked: ":lock:", stScheduled: ":calendar:", stQueued: ":hourglass_flowing_sand:", stSkipped: ":fast_forward:",
	stCancelled: ":no_entry_sign:",
}

var stateWord = [nStates]string{
	stDone: "done", stRunning: "running", stOverdue: "overdue", stFailed: "failed", stHeld: "held",
	stBlocked: "blocked", stScheduled: "scheduled", stQueued: "queued", stSkipped: "skipped", stCancelled: "cancelled",
}

// actionState classifies an action. Overdue (its due time passed and it is
// not final) wins over running, queued and blocked; an action held for an
// approval is shown as held, since the approval has its own timeout (as in
// store.OverdueActions). An action timed for a later time of its own (the
// forwarding removal at the end of an exception's 30 days) that has not
// come yet is scheduled.
func actionState(a store.Action, now time.Time) state {
	switch a.Status {
	case store.ActionSucceeded:
		return stDone
	case store.ActionFailed:
		return stFailed
	case store.ActionSkipped:
		return stSkipped
	case store.ActionCancelled:
		return stCancelled
	case store.ActionHeld:
		return stHeld
	}
	if scheduled(a, now) {
		return stScheduled
	}
	if a.DueAt != nil && a.DueAt.Before(now) {
		return stOverdue
	}
	switch a.Status {
	case store.ActionRunning:
		return stRunning
	case store.ActionBlocked:
		return stBlocked
	}
	return stQueued // pending, queued, or a status this build does not know
}

// ActionStateWord is how a status card names an action's state at now
// ("done", "running", "overdue", "failed", "held", "blocked", "scheduled",
// "queued", "skipped", "cancelled"), for other chat front ends' cards.
func ActionStateWord(a store.Action, now time.Time) string { return stateWord[actionState(a, now)] }

// scheduled reports an action waiting for a run time of its own that has
// not come (as the engine's phase gate sees it).
func scheduled(a store.Action, now time.Time) bool {
	if a.RunAt == nil || a.Attempts > 0 || !a.RunAt.After(now) {
		return false
	}
	switch a.Status {
	case store.ActionQueued, store.ActionBlocked, store.ActionPending:
		return true
	}
	return false
}

// caseStatus is a case status for people, with its emoji.
func caseStatus(s string) string {
	switch s {
	case store.CaseValidating:
		return ":mag: Validating"
	case store.CaseAwaitingConfirmation:
		return ":raised_hand: Awaiting the requester's confirmation"
	case store.CaseHeld:
		return ":double_vertical_bar: Held by the mass-termination guard"
	case store.CaseScheduled:
		return ":calendar: Scheduled"
	case store.CaseRunning:
		return ":arrows_counterclockwise: Running"
	case store.CaseCompleted:
		return ":white_check_mark: Completed"
	case store.CaseCompletedWithExceptions:
		return ":warning: Completed with exceptions"
	case store.CaseFailed:
		return ":x: Failed"
	case store.CaseCancelled:
		return ":no_entry_sign: Cancelled"
	}
	return data(s, 40)
}

// statusWord is a status in plain words: "completed with exceptions",
// and "done" for an action that succeeded. For mrkdwn use statusMd.
func statusWord(s string) string {
	if s == store.ActionSucceeded {
		return "done"
	}
	return strings.ReplaceAll(oneLine(s), "_", " ")
}

// statusMd is statusWord for mrkdwn: escaped and short.
func statusMd(s string) string { return data(statusWord(s), 40) }

func phaseTitle(phase int, name string) string {
	if name == "" {
		return fmt.Sprintf("Phase %d", phase)
	}
	return fmt.Sprintf("Phase %d · %s", phase, data(name, 40))
}

// actionLine is one action on a status card.
func actionLine(a store.Action, st state, now time.Time) string {
	var b strings.Builder
	b.WriteString(stateEmoji[st])
	b.WriteString(" *")
	b.WriteString(data(actionTitle(a), 80))
	b.WriteString("* · ")
	b.WriteString(data(a.Connector, 40))
	if !blank(a.TargetAccount) {
		b.WriteString(" (" + data(a.TargetAccount, 60) + ")")
	}
	if a.Simulated {
		b.WriteString(simulatedMark)
	}
	b.WriteString(" — ")
	switch st {
	case stDone:
		b.WriteString("done")
		if a.Verified {
			b.WriteString(", verified")
		} else if a.Outcome == "done_by_person" {
			b.WriteString(" by a person, unverified")
		}
	case stRunning:
		b.WriteString("running")
		if a.MaxAttempts > 0 {
			fmt.Fprintf(&b, " (attempt %d of %d)", a.Attempts, a.MaxAttempts)
		}
	case stOverdue:
		fmt.Fprintf(&b, "%s, overdue since %s", statusMd(a.Status), when(*a.DueAt))
		if !blank(a.LastError) {
			b.WriteString("; last error: " + data(a.LastError, 120))
		}
	case stFailed:
		if a.MaxAttempts > 0 {
			fmt.Fprintf(&b, "failed after %d of %d attempts", a.Attempts, a.MaxAttempts)
		} else {
			b.WriteString("failed")
		}
		if !blank(a.LastError) {
			b.WriteString(": " + data(a.LastError, 150))
		}
	case stHeld:
		if blank(a.BlockedReason) {
			b.WriteString("held for an approval")
		} else {
			b.WriteString(data(a.BlockedReason, 100)) // "held for approval 8 (legal_hold)"
		}
	case stScheduled:
		b.WriteString("scheduled for " + day(*a.RunAt))
	case stBlocked:
		b.WriteString("waiting")
		if !blank(a.BlockedReason) {
			b.WriteString(": " + data(a.BlockedReason, 100))
		}
	case stQueued:
		b.WriteString(statusMd(a.Status))
		switch {
		case a.NotBefore != nil && a.NotBefore.After(now) && a.Attempts > 0:
			b.WriteString(", next attempt " + when(*a.NotBefore))
		case a.BlockedReason != "":
			b.WriteString(": " + data(a.BlockedReason, 100))
		}
	case stSkipped:
		b.WriteString("skipped")
		if !blank(a.Detail) {
			b.WriteString(": " + data(a.Detail, 100))
		}
	case stCancelled:
		b.WriteString("cancelled")
	}
	return b.String()
}

type phaseGroup struct {
	phase  int
	name   string
	acts   []store.Action
	states []state
	counts [nStates]int
}

func groupPhases(acts []store.Action, now time.Time) []*phaseGroup {
	sorted := slices.Clone(acts)
	slices.SortStableFunc(sorted, func(a, b store.Action) int {
		return cmp.Or(cmp.Compare(a.Phase, b.Phase), cmp.Compare(a.ID, b.ID))
	})
	var out []*phaseGroup
	for _, a := range sorted {
		if len(out) == 0 || out[len(out)-1].phase != a.Phase {
			out = append(out, &phaseGroup{phase: a.Phase})
		}
		g := out[len(out)-1]
		if g.name == "" {
			g.name = a.PhaseName
		}
		st := actionState(a, now)
		g.acts = append(g.acts, a)
		g.states = append(g.states, st)
		g.counts[st]++
	}
	return out
}

func (g *phaseGroup) final() int {
	return g.counts[stDone] + g.counts[stFailed] + g.counts[stSkipped] + g.counts[stCancelled]
}

// countLine: ":white_check_mark: 8 done · :x: 1 failed".
func countLine(c [nStates]int) string {
	var parts []string
	for st := state(0); st < nStates; st++ {
		if c[st] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d %s", stateEmoji[st], c[st], stateWord[st]))
		}
	}
	return strings.Join(parts, " · ")
}

// Status cards list every action up to this many; beyond it (or when the
// list would not fit a message) each phase collapses to its counts plus the
// actions that need attention.
const (
	maxListedActions   = 40
	maxAttentionPerPhs = 5
)

// StatusExtras is what a status card shows beyond the case and its
// actions. The zero value shows ids for people and no exceptions.
type StatusExtras struct {
	// Names maps HR ids (the requester, who asked for an exception) to
	// display names; a missing name shows the id.
	Names map[string]string
	// Zone is the employee's time zone: the effective time is also stated
	// in it ("Mon Dec 14, 17:00 Lagos time (WAT)"). nil when unknown.
	Zone *time.Location
	// Pending are the case's exceptions waiting for a decision.
	Pending []store.Approval
	// Kinds maps exception kinds to the policy's descriptions.
	Kinds map[string]string
	// Open is what an open case still waits for before it closes
	// (engine.OpenItems): shown under "Still open", with whom and by when,
	// once access is fully revoked.
	Open []view.OpenItem
}

// StatusCard is StatusCardWith with names only.
func StatusCard(c store.Case, acts []store.Action, now time.Time, names map[string]string) ([]slack.Block, string) {
	return StatusCardWith(c, acts, now, StatusExtras{Names: names})
}

// StatusCardWith builds a case's live status message, the parent of its
// thread: who, status, effective time (in Slack's date formatting, so each
// viewer sees their own zone, and in the employee's zone), who asked (name
// and HR id), the exceptions still pending, one line per action grouped by
// phase — the policy's description of it and its state (done, running,
// overdue, failed, held, waiting, scheduled for a day, queued, skipped,
// cancelled) — and the counts. Times are absolute, never "5m ago", so a
// card that is not updated stays true; the footer says as of when (the
// case's or an action's last change). The card has no buttons: failed
// actions get their own thread reply (ActionFailed) with them.
//
// With more than 40 actions, or when the list would not fit one message,
// each phase collapses to its counts and lists only failed and overdue
// actions (at most 5 per phase).
func StatusCardWith(c store.Case, acts []store.Action, now time.Time, x StatusExtras) ([]slack.Block, string) {
	names := x.Names
	groups := groupPhases(acts, now)
	var total [nStates]int
	for _, g := range groups {
		for st := range total {
			total[st] += g.counts[st]
		}
	}

	head := []slack.Block{header("Offboarding · " + nameOf(c))}
	sim := simulatedOf(c, acts)
	if sim != nil {
		head = append(head, simulatedBanner(sim, false))
	}
	emp := data(nameOf(c), 100) + " · " + data(c.EmployeeID, 60)
	if !blank(c.EmployeeEmail) {
		emp += "\n" + data(c.EmployeeEmail, 100)
	}
	kind := "Voluntary"
	if c.Involuntary {
		kind = "Involuntary · immediate"
	}
	req := person(c.Requester, names)
	if c.Trigger != "" {
		req += " via " + data(c.Trigger, 20)
	}
	head = add(head, fieldsSection(
		"Employee", emp,
		"Status", caseStatus(c.Status),
		"Effective", effectiveField(c, now, x.Zone),
		"Requested by", req,
		"Type", kind,
		"Compliance", complianceField(c),
	))
	if !blank(c.Reason) {
		head = append(head, section("*Reason*\n"+para(c.Reason, 500)))
	}
	if !blank(c.Summary) {
		head = append(head, section("*Summary*\n"+para(c.Summary, 1500)))
	}
	if len(x.Pending) > 0 {
		head = append(head, sections(pendingLines(x.Pending, x.Kinds, names))...)
	}
	if c.RevokedAt != nil {
		head = append(head, section(gateLine(c)))
	}
	if len(x.Open) > 0 && c.RevokedAt != nil {
		head = append(head, sections(openLines(x.Open))...)
	}
	head = append(head, slack.NewDividerBlock())

	counts := counted(len(acts), "action")
	if len(acts) > 0 {
		counts += " · " + countLine(total)
	}
	foot := add(nil, ctxBlock(counts), ctxBlock(fmt.Sprintf("Case %d · as of %s", c.ID, when(asOf(c, acts, now)))))

	room, chars := maxMessageBlocks-len(head)-len(foot), maxMessageChars-textLen(head)-textLen(foot)
	fits := func(body []slack.Block) bool { return len(body) <= room && textLen(body) <= chars }
	var body []slack.Block
	switch {
	case len(acts) == 0:
		body = []slack.Block{section("_No actions planned yet._")}
	case len(acts) <= maxListedActions:
		body = detailedPhases(groups, now)
	}
	if body == nil || !fits(body) {
		body = collapsedPhases(groups, now)
	}
	if !fits(body) {
		body = phaseCounts(groups, chars)
	}
	blocks := append(append(head, body...), foot...)

	tag := ""
	if sim != nil {
		tag = ", SIMULATED"
	}
	fb := fmt.Sprintf("Offboarding %s (%s%s): %s", oneLine(nameOf(c)), oneLine(c.EmployeeID), tag, statusWord(c.Status))
	if len(acts) > 0 {
		fb += fmt.Sprintf(" — %d of %d actions done", total[stDone], len(acts))
		if total[stFailed] > 0 {
			fb += fmt.Sprintf(", %d failed", total[stFailed])
		}
		if total[stOverdue] > 0 {
			fb += fmt.Sprintf(", %d overdue", total[stOverdue])
		}
	}
	return blocks, fallback(fb)
}

// simulatedOf returns the connectors of a case's simulated actions, sorted;
// an empty, non-nil list when the case is marked simulated but no listed
// action is; nil for a real case.
func simulatedOf(c store.Case, acts []store.Action) []string {
	set := map[string]bool{}
	for _, a := range acts {
		if a.Simulated {
			set[a.Connector] = true
		}
	}
	if len(set) == 0 {
		if c.Simulated {
			return []string{}
		}
		return nil
	}
	return slices.Sorted(maps.Keys(set))
}

func nameOf(c store.Case) string {
	if strings.TrimSpace(c.EmployeeName) != "" {
		return c.EmployeeName
	}
	return c.EmployeeID
}

func detailedPhases(groups []*phaseGroup, now time.Time) []slack.Block {
	var out []slack.Block
	for _, g := range groups {
		lines := []string{fmt.Sprintf("*%s* — %d of %d finished", phaseTitle(g.phase, g.name), g.final(), len(g.acts))}
		for i, a := range g.acts {
			lines = append(lines, actionLine(a, g.states[i], now))
		}
		out = append(out, sections(lines)...)
	}
	return out
}

func collapsedPhases(groups []*phaseGroup, now time.Time) []slack.Block {
	var out []slack.Block
	for _, g := range groups {
		lines := []string{
			fmt.Sprintf("*%s* — %d of %d finished", phaseTitle(g.phase, g.name), g.final(), len(g.acts)),
			countLine(g.counts),
		}
		shown, more := 0, 0
		for i, a := range g.acts {
			if g.states[i] != stFailed && g.states[i] != stOverdue {
				continue
			}
			if shown == maxAttentionPerPhs {
				more++
				continue
			}
			lines = append(lines, actionLine(a, g.states[i], now))
			shown++
		}
		if more > 0 {
			lines = append(lines, fmt.Sprintf("_and %d more failed or overdue_", more))
		}
		out = append(out, sections(lines)...)
	}
	return out
}

// phaseCounts is the last resort for a case too big for anything else:
// one line of counts per phase, as many phases as fit chars.
func phaseCounts(groups []*phaseGroup, chars int) []slack.Block {
	var lines []string
	used := 0
	for i, g := range groups {
		l := fmt.Sprintf("*%s* — %d of %d finished: %s", phaseTitle(g.phase, g.name), g.final(), len(g.acts), countLine(g.counts))
		if used+len(l) > chars-100 {
			lines = append(lines, fmt.Sprintf("_and %d more phases_", len(groups)-i))
			break
		}
		lines = append(lines, l)
		used += len(l) + 1
	}
	return sections(lines)
}

func effectiveField(c store.Case, now time.Time, zone *time.Location) string {
	s := when(c.EffectiveAt)
	if l := localTime(c.EffectiveAt, zone); l != "" {
		s += "\n" + l
	}
	switch {
	case c.ClosedAt != nil && c.StartedAt != nil:
		s += "\nclosed " + when(*c.ClosedAt) + ", took " + span(c.ClosedAt.Sub(*c.StartedAt))
	case c.ClosedAt != nil:
		s += "\nclosed " + when(*c.ClosedAt) + " without starting"
	case c.StartedAt != nil:
		s += "\nstarted " + when(*c.StartedAt)
	case c.EffectiveAt.After(now):
		s += "\nstarts then"
	default:
		s += "\nnot started yet"
	}
	return s
}

// asOf is the time of a case's last change that the card shows: the
// latest update of the case or one of its actions, else now.
func asOf(c store.Case, acts []store.Action, now time.Time) time.Time {
	t := c.UpdatedAt
	for _, a := range acts {
		if a.UpdatedAt.After(t) {
			t = a.UpdatedAt
		}
	}
	if t.IsZero() {
		return now
	}
	return t
}

// pendingLines lists a case's exceptions waiting for a decision: "*Legal
// hold* — requested by Mia Manager (M1) on …; holds delete_mailbox;
// expires …".
func pendingLines(aps []store.Approval, kinds, names map[string]string) []string {
	lines := []string{"*Pending exceptions*"}
	for i, ap := range aps {
		if i == 10 {
			lines = append(lines, fmt.Sprintf("_and %d more_", len(aps)-i))
			break
		}
		title := kinds[ap.Kind]
		if blank(title) {
			title = strings.ReplaceAll(ap.Kind, "_", " ")
		}
		l := ":hourglass_flowing_sand: *" + data(title, 80) + "* (" + data(ap.Kind, 40) + ") — waiting for a decision"
		if ap.Requester != "" {
			l += "; requested by " + person(ap.Requester, names)
		}
		if !ap.CreatedAt.IsZero() {
			l += " " + when(ap.CreatedAt)
		}
		var held []string
		if ap.Held != "" {
			_ = json.Unmarshal([]byte(ap.Held), &held)
		}
		if len(held) > 0 {
			l += "; holds " + data(strings.Join(held, ", "), 200)
		}
		if ap.ExpiresAt != nil {
			l += "; expires " + when(*ap.ExpiresAt)
		}
		lines = append(lines, l)
	}
	return lines
}

func complianceField(c store.Case) string {
	if c.ComplianceProfile == "" && c.ComplianceDeadline == nil {
		return ""
	}
	var parts []string
	if c.ComplianceProfile != "" {
		parts = append(parts, data(c.ComplianceProfile, 40))
	}
	switch {
	case c.BreachedAt != nil:
		parts = append(parts, ":rotating_light: deadline breached "+when(*c.BreachedAt))
	case c.ComplianceDeadline != nil && c.CriticalDoneAt != nil:
		parts = append(parts, "critical access removed "+when(*c.CriticalDoneAt))
	case c.ComplianceDeadline != nil:
		parts = append(parts, "critical access must be gone by "+when(*c.ComplianceDeadline))
	}
	return strings.Join(parts, "\n")
}

// gateLine states the case's two moments: access fully revoked (when, and
// how long after the effective time) and closed, or not yet.
func gateLine(c store.Case) string {
	l := ":lock: *Access fully revoked* " + when(*c.RevokedAt)
	if d := c.RevokedAt.Sub(c.EffectiveAt).Round(time.Second); d >= 0 {
		l += fmt.Sprintf(" (%s after the effective time)", d)
	}
	if c.ClosedAt != nil {
		return l + "\n:white_check_mark: *Closed* " + when(*c.ClosedAt)
	}
	return l + "\n:hourglass_flowing_sand: *Not closed yet*: people's work is still open"
}

// maxOpenLines bounds the "Still open" list.
const maxOpenLines = 15

// openLines lists what an open case still waits for: kind, name, status,
// who must act and by when.
func openLines(items []view.OpenItem) []string {
	lines := []string{fmt.Sprintf("*Still open* — %d before the case closes", len(items))}
	for i, it := range items {
		if i == maxOpenLines {
			lines = append(lines, fmt.Sprintf("• and %d more", len(items)-i))
			break
		}
		l := "• " + openKindWord(it.Kind) + " *" + data(it.Name, 80) + "* — " + data(statusWordEquip(it.Status), 40)
		if key := data(strings.ReplaceAll(it.Ticket, "|", " "), 40); key != "" {
			if u := view.LinkURL(it.TicketURL); u != "" {
				key = "<" + esc(u) + "|" + key + ">"
			}
			l += " · ticket " + key
		}
		if owner, ok := strings.CutPrefix(it.Owner, "channel:"); ok {
			l += " · #" + data(owner, 60)
		}
		if it.To != "" {
			l += " · sent to " + data(strings.ReplaceAll(it.To, ",", ", "), 160)
		}
		if it.DueAt != nil {
			l += " · due " + when(*it.DueAt)
		}
		lines = append(lines, l)
	}
	return lines
}

func openKindWord(k view.OpenItemKind) string {
	switch k {
	case view.OpenEquipment:
		return ":package: device"
	case view.OpenManualStep:
		return ":raised_hand: manual step"
	case view.OpenApproval:
		return ":scales: exception"
	case view.OpenNotice:
		return ":envelope: notice"
	}
	return ":gear: action"
}
