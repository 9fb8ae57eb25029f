package slackapp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// TestStuckActionOwningTeamButtonsDoWhatTheySay is issue 14's "done
// when": with a stuck action, its owning team's member gets a message
// with Retry/Skip/Escalate and clicking each does what it says.
//
// A skippable, non-critical action (the badge) fails; at its due time the
// SLA sweep's level 1 reaches the owning team's channel and a named
// member's DM (Hana HR), each with Retry, Skip… and Escalate now. A
// colleague who may not operate the action gets an ephemeral refusal for
// Skip… (no form) and for Escalate now (no escalation). Escalate now from
// the team's channel posts level 2 to its target, the alerts channel.
// Retry from Hana's DM runs the action again. Skip… from her DM opens the
// reason modal naming the action and the person; submitted, the action is
// skipped and the routed messages lose their buttons.
func TestStuckActionOwningTeamButtonsDoWhatTheySay(t *testing.T) {
	clock := &shiftClock{}
	e := newEnvKit(t, func(o *testkit.Options, _ *slackapp.App) { o.Policy, o.Now = skipPolicy, clock.Now }, func(o *slackapp.Options) {
		o.Routes = routing.New(map[string]routing.Route{"it-facilities": {Channel: facilities, People: []string{"H2"}}}, nil, "slack:")
		o.SecurityChannel = "security-alerts"
	})
	ctx := context.Background()
	c, act := failedAction(t, e, "badge", "deactivate_badge")
	if act.Phase == 1 || !act.Skippable {
		t.Fatalf("the badge step should be skippable and non-critical: phase %d, skippable %v", act.Phase, act.Skippable)
	}

	clock.Advance(4*time.Hour + time.Minute) // entitlements SLA: 4h
	// The worker's own sweep (every 200ms, on the same clock) may get
	// there first: the escalation is shown by the message below, not by
	// this sweep's count.
	if _, err := e.kit.Engine.Sweep(ctx, 365*24*time.Hour); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	// Back to real time: the queue schedules a retry by the real clock.
	clock.Advance(-(4*time.Hour + time.Minute))
	routedMsg := func(ch string) slacktest.Call {
		return e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
			return m.Channel == ch && strings.Contains(m.Text, "Escalation level 1") && has(m, "deactivate_badge")
		}, wait)
	}
	team, dm := routedMsg(facilities), routedMsg("DUHANA")
	for _, m := range []slacktest.Call{team, dm} {
		for _, b := range []string{blocks.ActionRetry, blocks.ActionSkip, blocks.ActionEscalateNow} {
			if !has(m, b) {
				t.Fatalf("%s: the owning team's message lacks %s: %s", m.Channel, b, m.Blocks)
			}
		}
		if !has(m, blocks.ActionValue(act.ID)) || !has(m, "notified #it-facilities, Hana HR") {
			t.Fatalf("%s: %s", m.Channel, m.Blocks)
		}
	}
	escalations := func() int64 {
		return e.kit.Count(t, &store.Escalation{}, "case_id = ? AND action_id = ?", c.ID, act.ID)
	}
	if n := escalations(); n != 1 {
		t.Fatalf("%d escalations, want 1", n)
	}

	// Someone who may not operate the badge: refused at once, nothing changes.
	e.interact(click("UXAVI", facilities, team.TS, blocks.ActionSkip, blocks.ActionValue(act.ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(m slacktest.Call) bool {
		return m.Params.Get("user") == "UXAVI" && m.Channel == facilities && strings.Contains(m.Text, "refused")
	}, wait)
	e.interact(click("UXAVI", facilities, team.TS, blocks.ActionEscalateNow, blocks.ActionValue(act.ID)))
	testkit.Eventually(t, wait, func() bool {
		n := 0
		for _, m := range e.fake.Calls("chat.postEphemeral") {
			if m.Params.Get("user") == "UXAVI" && strings.Contains(m.Text, "refused") {
				n++
			}
		}
		return n == 2
	}, func() string { return "the colleague's Escalate now was not refused" })
	noCalls(t, e, "views.open", func(m slacktest.Call) bool { return m.Params.Get("trigger_id") == "trig-click-UXAVI" }, "a form opened for someone who may not skip")
	if n := escalations(); n != 1 {
		t.Fatalf("a refused click escalated: %d escalations", n)
	}
	var now store.Action
	if err := e.kit.Store.TestDB().First(&now, act.ID).Error; err != nil || now.Status != store.ActionFailed {
		t.Fatalf("a refused click changed the action: %s %v", now.Status, err)
	}

	// Escalate now from the team's channel: level 2, to the alerts channel.
	e.interact(click("UHAL", facilities, team.TS, blocks.ActionEscalateNow, blocks.ActionValue(act.ID)))
	lvl2 := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == alerts && strings.Contains(m.Text, "Escalation level 2")
	}, wait)
	if !has(lvl2, "escalated by Hal HR (H1)") || !has(lvl2, "failed since") || !has(lvl2, "notified #security-alerts") {
		t.Fatalf("level 2: %s", lvl2.Blocks)
	}
	if n := escalations(); n != 2 {
		t.Fatalf("%d escalations after Escalate now, want 2", n)
	}

	// Retry from Hana's DM: the action runs again (and fails again).
	e.interact(click("UHANA", dm.Channel, dm.TS, blocks.ActionRetry, blocks.ActionValue(act.ID)))
	if n := e.kit.WaitCount(t, 1, wait, &store.Action{}, "id = ? AND generation > ? AND status = ?", act.ID, act.Generation, store.ActionFailed); n != 1 {
		t.Fatal("Retry did not run the action again")
	}

	// Skip… from Hana's DM: the reason modal, then the skip.
	e.interact(click("UHANA", dm.Channel, dm.TS, blocks.ActionSkip, blocks.ActionValue(act.ID)))
	form := e.fake.WaitFor(t, "views.open", func(m slacktest.Call) bool { return m.Params.Get("trigger_id") == "trig-click-UHANA" }, wait)
	if v := form.Params.Get("view"); !strings.Contains(v, blocks.ModalSkipReason) || !strings.Contains(v, "Deactivate the building badge") || !strings.Contains(v, "Erin Employee") {
		t.Fatalf("skip form: %s", v)
	}
	w := e.interact(submission("UHANA", blocks.ModalSkipReason, blocks.ActionValue(act.ID),
		map[string]any{"why": map[string]any{"value": map[string]any{"type": "plain_text_input", "value": "badge handed in at the desk"}}}))
	if strings.Contains(w.Body.String(), `"errors"`) {
		t.Fatalf("the skip was refused: %s", w.Body)
	}
	if n := e.kit.WaitCount(t, 1, wait, &store.Action{}, "id = ? AND status = ?", act.ID, store.ActionSkipped); n != 1 {
		t.Fatal("the action was not skipped")
	}
	for _, m := range []slacktest.Call{team, dm} {
		e.fake.WaitFor(t, "chat.update", func(u slacktest.Call) bool {
			return u.Channel == m.Channel && u.TS == m.TS && !has(u, blocks.ActionSkip) && !has(u, blocks.ActionRetry) && !has(u, blocks.ActionEscalateNow)
		}, wait)
	}
}
