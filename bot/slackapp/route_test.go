package slackapp_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

const (
	facilities = "C0FACIL"  // it-facilities' channel (the badge system's owner)
	facGroup   = "S0FACIL"  // it-facilities' Slack user group
	broken     = "C0BROKEN" // a routed channel the app may not post in
)

// routed is newEnv with routes: it-facilities (the badge connector's
// owner) posts in its channel mentioning its user group and DMs Hana HR,
// Gone Person (who has no Slack account) and Erin (who is never told of
// her own offboarding); the security channel is the alerts channel.
func routed(t *testing.T, extra map[string]routing.Route) *env {
	t.Helper()
	routes := map[string]routing.Route{
		"it-facilities": {Channel: facilities, UserGroup: facGroup, People: []string{"H2", "E3", "E1"}},
	}
	for k, v := range extra {
		routes[k] = v
	}
	e := newEnv(t, func(o *slackapp.Options) {
		o.Routes = routing.New(routes, map[string][]string{"legal": {"L1", "L2"}}, "slack:")
		o.SecurityChannel = "security-alerts"
	})
	e.fake.AddGroup(facGroup, "UHAL")
	return e
}

// failedAction opens an offboarding of Erin that starts at once, with
// connector's operation refused every time, and waits for the action to
// fail.
func failedAction(t *testing.T, e *env, connector, name string) (*store.Case, store.Action) {
	t.Helper()
	e.kit.RefuseNext(connector, "erin@example.test", 100)
	c, err := e.kit.Engine.Open(context.Background(), engine.Request{EmployeeID: "E1", Requester: "H1", Trigger: store.TriggerAPI})
	if err != nil {
		t.Fatal(err)
	}
	var act store.Action
	e.kit.WaitCount(t, 1, wait, &store.Action{}, "case_id = ? AND name = ? AND status = ?", c.Case.ID, name, store.ActionFailed)
	if err := e.kit.Store.TestDB().Where("case_id = ? AND name = ?", c.Case.ID, name).First(&act).Error; err != nil {
		t.Fatal(err)
	}
	return c.Case, act
}

// TestEscalationsReachTheTargetsTheyName: each level of a stuck action's
// escalation goes to the targets it names — level 1 the owning team's
// channel (its user group mentioned) and people, with Retry and Escalate
// now; level 2 the alerts channel; level 3 a DM to the named person — and
// names only whom it reached; a person without a Slack account is raised
// in the alerts channel as a delivery failure. Each click of Escalate now
// on the owning team's message fires the next level.
func TestEscalationsReachTheTargetsTheyName(t *testing.T) {
	e := routed(t, nil)
	c, act := failedAction(t, e, "badge", "deactivate_badge")
	ctx := context.Background()

	if err := e.kit.Engine.EscalateNow(ctx, act.ID, "H1"); err != nil { // as the SLA sweep would at the due time
		t.Fatal(err)
	}
	team := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == facilities && strings.Contains(m.Text, "Escalation level 1")
	}, wait)
	if !has(team, blocks.ActionRetry) || !has(team, blocks.ActionEscalateNow) || !has(team, blocks.ActionValue(act.ID)) {
		t.Fatalf("the owning team's message lacks the action's buttons: %s", team.Blocks)
	}
	if !strings.Contains(team.Text, "<!subteam^"+facGroup+">") {
		t.Fatalf("the owning team's user group is not mentioned: %q", team.Text)
	}
	if !has(team, "notified #it-facilities, Hana HR") || has(team, "Gone Person") || has(team, "E3") {
		t.Fatalf("the message does not name exactly whom it reached: %s", team.Blocks)
	}
	dm := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == "DUHANA" && strings.Contains(m.Text, "Escalation level 1")
	}, wait)
	if !has(dm, blocks.ActionRetry) { // HR may operate actions
		t.Fatalf("Hana's DM lacks the buttons: %s", dm.Blocks)
	}
	fail := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == alerts && strings.Contains(m.Text, "Not delivered")
	}, wait)
	if !has(fail, "Gone Person (E3") || !has(fail, "no Slack account") {
		t.Fatalf("delivery failure: %s", fail.Blocks)
	}
	thread := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == offboarding && m.ThreadTS != "" && strings.Contains(m.Text, "Escalation level 1")
	}, wait)
	if !has(thread, "notified #it-facilities, Hana HR") {
		t.Fatalf("thread reply: %s", thread.Blocks)
	}
	for _, m := range e.fake.Calls("chat.postMessage") {
		if m.Channel == alerts && strings.HasPrefix(m.Text, "Escalation level 1") {
			t.Fatalf("level 1 (the owner) reached the alerts channel: %q", m.Text)
		}
		if m.Channel == "DUERIN" {
			t.Fatalf("the departing employee was told of her own case: %q", m.Text)
		}
	}

	// Escalate now, clicked on the owning team's message: level 2, the
	// security alerts channel.
	e.interact(click("UHAL", facilities, team.TS, blocks.ActionEscalateNow, blocks.ActionValue(act.ID)))
	lvl2 := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == alerts && strings.Contains(m.Text, "Escalation level 2")
	}, wait)
	if !has(lvl2, "notified #security-alerts") || !has(lvl2, " since ") {
		t.Fatalf("level 2: %s", lvl2.Blocks)
	}
	// Level 3 names a person: Sam Security gets a DM. (Another HR person
	// clicks: the same click twice within a second is a replay.)
	e.interact(click("UHANA", facilities, team.TS, blocks.ActionEscalateNow, blocks.ActionValue(act.ID)))
	lvl3 := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == "DUSAM" && strings.Contains(m.Text, "Escalation level 3")
	}, wait)
	if !has(lvl3, "notified Sam Security") {
		t.Fatalf("level 3: %s", lvl3.Blocks)
	}
	if n := e.kit.Count(t, &store.Escalation{}, "case_id = ? AND action_id = ?", c.ID, act.ID); n != 3 {
		t.Fatalf("%d escalations, want 3", n)
	}

	// Retry from the owning team's message: the routed messages lose their
	// buttons.
	e.kit.RefuseNext("badge", "erin@example.test", 0)
	e.interact(click("UADA", facilities, team.TS, blocks.ActionRetry, blocks.ActionValue(act.ID)))
	e.fake.WaitFor(t, "chat.update", func(m slacktest.Call) bool {
		return m.Channel == facilities && m.TS == team.TS && !has(m, blocks.ActionRetry)
	}, wait)
}

// TestUnreachableChannelIsADeliveryFailure: a routed channel Slack refuses
// (the app is not in it) and a team with no route are each raised in the
// alerts channel; the team without a route still reaches the alerts
// channel, and the message names only that.
func TestUnreachableChannelIsADeliveryFailure(t *testing.T) {
	e := routed(t, map[string]routing.Route{"it-facilities": {Channel: broken, People: []string{"H2"}}})
	e.fake.RefuseChannel(broken, "not_in_channel")
	_, act := failedAction(t, e, "badge", "deactivate_badge")
	if err := e.kit.Engine.EscalateNow(context.Background(), act.ID, "H1"); err != nil {
		t.Fatal(err)
	}
	fail := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == alerts && strings.Contains(m.Text, "Not delivered")
	}, wait)
	if !has(fail, "#it-facilities") || !has(fail, "not_in_channel") {
		t.Fatalf("delivery failure: %s", fail.Blocks)
	}
	// Hana's DM was posted naming both, then corrected to name only her.
	dm := e.fake.WaitFor(t, "chat.update", func(m slacktest.Call) bool {
		return m.Channel == "DUHANA" && strings.Contains(m.Text, "Escalation level 1")
	}, wait)
	if !has(dm, "notified Hana HR") || has(dm, "#it-facilities") {
		t.Fatalf("corrected DM: %s", dm.Blocks)
	}
}

// TestUnroutedTeamFallsBackToTheAlertsChannel: without a route for the
// owning team, its escalation reaches the alerts channel (saying so) and
// the missing route is raised as a delivery failure.
func TestUnroutedTeamFallsBackToTheAlertsChannel(t *testing.T) {
	e := newEnv(t, func(o *slackapp.Options) { o.SecurityChannel = "security-alerts" })
	_, act := failedAction(t, e, "badge", "deactivate_badge")
	if err := e.kit.Engine.EscalateNow(context.Background(), act.ID, "H1"); err != nil {
		t.Fatal(err)
	}
	got := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == alerts && strings.Contains(m.Text, "Escalation level 1")
	}, wait)
	if !has(got, "notified #security-alerts") || has(got, "notified #it-facilities") {
		t.Fatalf("fallback: %s", got.Blocks)
	}
	fail := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == alerts && strings.Contains(m.Text, "Not delivered")
	}, wait)
	if !has(fail, "#it-facilities: no route") {
		t.Fatalf("delivery failure: %s", fail.Blocks)
	}
}

// TestSecurityOfficerIsDMedForAClearedEmployee: the policy's officer
// notice for a cleared employee's case is a DM to the security officer,
// naming whom it reached, and not a post in the alerts channel.
func TestSecurityOfficerIsDMedForAClearedEmployee(t *testing.T) {
	e := routed(t, nil)
	if _, err := e.kit.Engine.Open(context.Background(), engine.Request{EmployeeID: "E4", Requester: "H1", Trigger: store.TriggerAPI, Involuntary: true}); err != nil {
		t.Fatal(err)
	}
	dm := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == "DUSAM" && strings.Contains(m.Text, "cleared employee")
	}, wait)
	if !has(dm, "notified Sam Security") || !has(dm, "Tess Cleared") {
		t.Fatalf("officer notice: %s", dm.Blocks)
	}
	for _, m := range e.fake.Calls("chat.postMessage") {
		if m.Channel == alerts && strings.Contains(m.Text, "cleared employee") {
			t.Fatalf("the officer notice went to the alerts channel too: %q", m.Text)
		}
	}
}

// TestEscalateNowOnAFailedCriticalActionEscalates: the item 4.
// Escalate now on a failed critical revocation posts the next escalation
// level, not another "Critical revocation failed" alert.
func TestEscalateNowOnAFailedCriticalActionEscalates(t *testing.T) {
	e := routed(t, nil)
	_, act := failedAction(t, e, "ad", "disable_ad")
	first := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == alerts && strings.Contains(m.Text, "Critical revocation failed")
	}, wait)
	e.interact(click("UHAL", alerts, first.TS, blocks.ActionEscalateNow, blocks.ActionValue(act.ID)))
	// ad has no owning team: level 1 falls to the security alerts channel.
	lvl := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == alerts && strings.Contains(m.Text, "Escalation level 1")
	}, wait)
	if !has(lvl, "failed since") || !has(lvl, "escalated to level 1 by H1") {
		t.Fatalf("escalation says what is stuck and since when: %s", lvl.Blocks)
	}
	// A person's escalation says who made it, not "is overdue": the action
	// is not due yet.
	if !has(lvl, "escalated by Hal HR (H1)") || has(lvl, "is overdue") || !strings.Contains(lvl.Text, "escalated by Hal HR (H1)") {
		t.Fatalf("a person's escalation is headed as overdue or without who made it: %q %s", lvl.Text, lvl.Blocks)
	}
	e.fake.WaitFor(t, "chat.postEphemeral", func(m slacktest.Call) bool {
		return m.Params.Get("user") == "UHAL" && strings.Contains(m.Text, "Escalated")
	}, wait)
	n := 0
	for _, m := range e.fake.Calls("chat.postMessage") {
		if strings.Contains(m.Text, "Critical revocation failed") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d critical-failure alerts, want 1 (the click is not a new failure)", n)
	}
}

// shiftClock is a clock running with real time, shifted by a settable
// offset (the SLA sweep decides by the engine's clock).
type shiftClock struct{ off atomic.Int64 }

func (c *shiftClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *shiftClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// TestSLASweepEscalatesAStuckStepToTheOwningTeam: a manual step nobody
// marks done is overdue after its SLA; the sweep's level 1 reaches the
// owning team's channel with Mark done and Escalate now, and Mark done
// clicked there completes the step, after which the message loses its
// buttons.
func TestSLASweepEscalatesAStuckStepToTheOwningTeam(t *testing.T) {
	clock := &shiftClock{}
	policy := strings.Replace(testkit.ApprovalPolicy,
		"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements}",
		"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements, manual: true}", 1)
	e := newEnvKit(t, func(o *testkit.Options, _ *slackapp.App) { o.Policy, o.Now = policy, clock.Now }, func(o *slackapp.Options) {
		o.Routes = routing.New(map[string]routing.Route{"it-facilities": {Channel: facilities}}, nil, "slack:")
		o.SecurityChannel = "security-alerts"
	})
	ctx := context.Background()
	c, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "H1", Trigger: store.TriggerAPI})
	if err != nil {
		t.Fatal(err)
	}
	e.kit.WaitCount(t, 1, wait, &store.Action{}, "case_id = ? AND name = ? AND status = ?", c.Case.ID, "deactivate_badge", store.ActionPending)
	clock.Advance(4*time.Hour + time.Minute) // entitlements SLA: 4h
	// The worker's own sweep (every 200ms, on the same clock) may get
	// there first: the escalation is shown by the message below, not by
	// this sweep's count.
	if _, err := e.kit.Engine.Sweep(ctx, 365*24*time.Hour); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	team := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == facilities && strings.Contains(m.Text, "Escalation level 1") && has(m, "deactivate_badge")
	}, wait)
	if !has(team, blocks.ActionMarkDone) || !has(team, blocks.ActionEscalateNow) || has(team, blocks.ActionRetry) {
		t.Fatalf("the owning team's buttons for a stuck manual step: %s", team.Blocks)
	}
	var act store.Action
	if err := e.kit.Store.TestDB().Where("case_id = ? AND name = ?", c.Case.ID, "deactivate_badge").First(&act).Error; err != nil {
		t.Fatal(err)
	}
	markBadgeDone(t, e, facilities, team.TS, act.ID)
	e.fake.WaitFor(t, "chat.update", func(m slacktest.Call) bool {
		return m.Channel == facilities && m.TS == team.TS && !has(m, blocks.ActionMarkDone)
	}, wait)
}

// TestUserGroupWithoutChannelDMsItsMembers: a route with a user group and
// no channel DMs each member of the group.
func TestUserGroupWithoutChannelDMsItsMembers(t *testing.T) {
	e := newEnv(t, func(o *slackapp.Options) {
		o.Routes = routing.New(map[string]routing.Route{"it-facilities": {UserGroup: facGroup}}, nil, "slack:")
		o.SecurityChannel = "security-alerts"
		o.GroupRefresh = 50 * time.Millisecond
	})
	e.fake.AddGroup(facGroup, "UHANA", "UADA")
	testkit.Eventually(t, wait, func() bool { return len(e.app.GroupMembers("slack:"+facGroup)) == 2 },
		func() string { return "the user group's members were never fetched" })
	_, act := failedAction(t, e, "badge", "deactivate_badge")
	if err := e.kit.Engine.EscalateNow(context.Background(), act.ID, "H1"); err != nil {
		t.Fatal(err)
	}
	for _, dm := range []string{"DUHANA", "DUADA"} {
		m := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
			return m.Channel == dm && strings.Contains(m.Text, "Escalation level 1")
		}, wait)
		if !has(m, "notified Hana HR, Ada Admin") && !has(m, "notified Ada Admin, Hana HR") {
			t.Fatalf("%s: %s", dm, m.Blocks)
		}
	}
}

// TestAlertOnlyInTheAlertsChannelNamesNoOneElse: an alert the notifier
// posts to the alerts channel only (a case held by the mass-termination
// guard) does not claim to have notified its approvers.
func TestAlertOnlyInTheAlertsChannelNamesNoOneElse(t *testing.T) {
	policy := testkit.ApprovalPolicy + "mass_termination: {max_cases: 1, window: 1h, approvers: [\"user:A1\"]}\n"
	e := newEnvKit(t, func(o *testkit.Options, _ *slackapp.App) { o.Policy = policy })
	ctx := context.Background()
	at := time.Now().Add(72 * time.Hour)
	for _, id := range []string{"E1", "E2"} {
		if _, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: id, Requester: "H1", Trigger: store.TriggerAPI, EffectiveAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	held := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == alerts && strings.Contains(m.Text, "mass-termination guard")
	}, wait)
	if has(held, "notified") {
		t.Fatalf("the alert claims to have notified someone: %s", held.Blocks)
	}
}

// routedKit is routed (the same routes, user group and security channel)
// with the test policy replaced.
func routedKit(t *testing.T, policy string) *env {
	t.Helper()
	e := newEnvKit(t, func(o *testkit.Options, _ *slackapp.App) { o.Policy = policy }, func(o *slackapp.Options) {
		o.Routes = routing.New(map[string]routing.Route{
			"it-facilities": {Channel: facilities, UserGroup: facGroup, People: []string{"H2", "E3", "E1"}},
		}, nil, "slack:")
		o.SecurityChannel = "security-alerts"
	})
	e.fake.AddGroup(facGroup, "UHAL")
	return e
}

// TestManualStepReachesItsOwningTeam: a manual step's notice is routed
// like an escalation — to the owning team's channel (its user group
// mentioned) and its people's DMs, with Mark done and, the step being
// skippable, Skip…, naming only whom it reached — and the case thread
// keeps its reply with Mark done. Mark done clicked on the team's message
// completes the step and the routed messages lose their buttons.
func TestManualStepReachesItsOwningTeam(t *testing.T) {
	policy := strings.Replace(testkit.ApprovalPolicy,
		"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements}",
		"deactivate_badge: {connector: badge, operation: deactivate_badge, phase: entitlements, manual: true, skippable: true}", 1)
	e := routedKit(t, policy)
	c, err := e.kit.Engine.Open(context.Background(), engine.Request{EmployeeID: "E1", Requester: "H1", Trigger: store.TriggerAPI})
	if err != nil {
		t.Fatal(err)
	}
	team := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == facilities && strings.Contains(m.Text, "Manual step")
	}, wait)
	var act store.Action
	if err := e.kit.Store.TestDB().Where("case_id = ? AND name = ?", c.Case.ID, "deactivate_badge").First(&act).Error; err != nil {
		t.Fatal(err)
	}
	if !has(team, blocks.ActionMarkDone) || !has(team, blocks.ActionSkip) || !has(team, blocks.ActionValue(act.ID)) || has(team, blocks.ActionRetry) {
		t.Fatalf("the owning team's buttons for a manual step: %s", team.Blocks)
	}
	if !strings.Contains(team.Text, "<!subteam^"+facGroup+">") {
		t.Fatalf("the owning team's user group is not mentioned: %q", team.Text)
	}
	if !has(team, "notified #it-facilities, Hana HR") || has(team, "Gone Person") {
		t.Fatalf("the notice does not name exactly whom it reached: %s", team.Blocks)
	}
	dm := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == "DUHANA" && strings.Contains(m.Text, "Manual step")
	}, wait)
	if !has(dm, blocks.ActionMarkDone) { // HR may operate actions
		t.Fatalf("Hana's DM lacks Mark done: %s", dm.Blocks)
	}
	e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == alerts && strings.Contains(m.Text, "Not delivered") && has(m, "Gone Person (E3")
	}, wait)
	thread := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == offboarding && m.ThreadTS != "" && has(m, blocks.ActionMarkDone)
	}, wait)
	noCalls(t, e, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == "DUERIN" || m.Channel == alerts && strings.HasPrefix(m.Text, "Manual step")
	}, "the manual step reached the departing employee or the alerts channel")

	if !has(team, "badge B-1") || !has(team, "Mark it done saying who collected or disabled it") {
		t.Fatalf("the manual badge step does not name the badge and ask who: %s", team.Blocks)
	}
	markBadgeDone(t, e, facilities, team.TS, act.ID)
	for _, m := range []slacktest.Call{team, dm, thread} {
		e.fake.WaitFor(t, "chat.update", func(u slacktest.Call) bool {
			return u.Channel == m.Channel && u.TS == m.TS && !has(u, blocks.ActionMarkDone)
		}, wait)
	}
}

// markBadgeDone clicks Mark done on a manual badge step as Hal: the form
// asks who collected or disabled the badge, an empty answer is refused in
// it, and the answer is recorded as the step's verification.
func markBadgeDone(t *testing.T, e *env, channel, ts string, actionID int64) {
	t.Helper()
	e.interact(click("UHAL", channel, ts, blocks.ActionMarkDone, blocks.ActionValue(actionID)))
	form := e.fake.WaitFor(t, "views.open", func(c slacktest.Call) bool {
		return c.Params.Get("trigger_id") == "trig-click-UHAL" && strings.Contains(c.Params.Get("view"), blocks.ModalMarkDone)
	}, wait)
	if v := form.Params.Get("view"); !strings.Contains(v, "Erin Employee (E1)") || !strings.Contains(v, "badge B-1") || !strings.Contains(v, "Who collected or disabled it?") {
		t.Fatalf("mark done form: %s", v)
	}
	answer := func(s string) map[string]any {
		return map[string]any{"why": map[string]any{"value": map[string]any{"type": "plain_text_input", "value": s}}}
	}
	if w := e.interact(submission("UHAL", blocks.ModalMarkDone, blocks.ActionValue(actionID), answer(" "))); !strings.Contains(w.Body.String(), "Say who collected or disabled it") {
		t.Fatalf("an empty answer was accepted: %s", w.Body)
	}
	if w := e.interact(submission("UHAL", blocks.ModalMarkDone, blocks.ActionValue(actionID), answer("Olu Ade, collected at the Lagos desk"))); strings.Contains(w.Body.String(), `"errors"`) {
		t.Fatalf("the mark was refused: %s", w.Body)
	}
	e.kit.WaitCount(t, 1, wait, &store.Action{}, "id = ? AND status = ? AND verification LIKE ?", actionID, store.ActionSucceeded,
		"%collected or disabled by Olu Ade, collected at the Lagos desk%")
}
