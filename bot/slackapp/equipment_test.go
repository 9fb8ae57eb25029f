package slackapp_test

import (
	"context"
	"strings"
	"testing"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

const assetsChannel = "C0ASSETS" // it-assets' channel

// A laptop goes open → return requested → received → wiped → disposed by
// its team's buttons: the card reaches the team's channel with the next
// moves as buttons; the departing person and a colleague are refused and
// nothing changes; Request return tells the manager; each click replaces
// the team's card in place; Disposed… opens the form for the certificate
// reference, which the form requires; the final card has no move left.
func TestEquipmentButtonsRoundTrip(t *testing.T) {
	e := newEnv(t, func(o *slackapp.Options) {
		o.Routes = routing.New(map[string]routing.Route{"it-assets": {Channel: assetsChannel}}, nil, "slack:")
		o.SecurityChannel = "security-alerts"
	})
	e.fake.AddUser("UTOM", "tech@example.test", "Tom Tech")
	e.fake.AddUser("UGIA", "gia@example.test", "Gia Gadget")
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned", Trigger: store.TriggerSlack})
	if err != nil {
		t.Fatal(err)
	}
	var lt store.EquipmentTask
	tasks, _ := e.kit.Store.EquipmentTasks(ctx, o.Case.ID)
	for _, x := range tasks {
		if x.AssetTag == "LT-7" {
			lt = x
		}
	}
	if lt.ID == 0 {
		t.Fatalf("no LT-7 task: %+v", tasks)
	}
	value := blocks.EquipmentValue(lt.ID)
	card := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel == assetsChannel && has(m, "LT-7") && has(m, value)
	}, wait)
	if !has(card, blocks.ActionEquipReturnRequested) || !has(card, blocks.ActionEquipReceived) || !has(card, blocks.ActionEquipLost) || has(card, blocks.ActionEquipWiped) {
		t.Fatalf("the open task's card: %s", card.Blocks)
	}
	status := func() string {
		t.Helper()
		x, err := e.kit.Store.EquipmentTask(ctx, lt.ID)
		if err != nil {
			t.Fatal(err)
		}
		return x.Status
	}
	refusals := func(user string) int {
		n := 0
		for _, m := range e.fake.Calls("chat.postEphemeral") {
			if m.Params.Get("user") == user && strings.Contains(m.Text, "refused") {
				n++
			}
		}
		return n
	}
	for _, user := range []string{"UGIA", "UXAVI"} { // the departing person, a colleague
		e.interact(click(user, assetsChannel, card.TS, blocks.ActionEquipReturnRequested, value))
		testkit.Eventually(t, wait, func() bool { return refusals(user) == 1 }, func() string { return user + " was not refused" })
		if st := status(); st != store.EquipmentOpen {
			t.Fatalf("a refused click moved the task to %s", st)
		}
	}

	step := func(actionID, want, nextButton string) {
		t.Helper()
		e.interact(click("UTOM", assetsChannel, card.TS, actionID, value))
		testkit.Eventually(t, wait, func() bool { return status() == want }, func() string { return "the task is " + status() + ", want " + want })
		e.fake.WaitFor(t, "chat.update", func(u slacktest.Call) bool {
			return u.Channel == assetsChannel && u.TS == card.TS && has(u, engine.EquipmentWord(want)) && (nextButton == "" || has(u, nextButton))
		}, wait)
	}
	step(blocks.ActionEquipReturnRequested, store.EquipmentReturnRequested, blocks.ActionEquipReceived)
	mgr := e.fake.WaitFor(t, "chat.postMessage", func(m slacktest.Call) bool {
		return m.Channel != assetsChannel && has(m, "LT-7") && has(m, "return requested")
	}, wait)
	if has(mgr, blocks.ActionEquipReceived) {
		t.Fatalf("the manager, who is not on the team, got the team's buttons: %s", mgr.Blocks)
	}
	step(blocks.ActionEquipReceived, store.EquipmentReceived, blocks.ActionEquipWiped)
	step(blocks.ActionEquipWiped, store.EquipmentWiped, blocks.ActionEquipDisposed)

	e.interact(click("UTOM", assetsChannel, card.TS, blocks.ActionEquipDisposed, value))
	form := e.fake.WaitFor(t, "views.open", func(m slacktest.Call) bool { return m.Params.Get("trigger_id") == "trig-click-UTOM" }, wait)
	if v := form.Params.Get("view"); !strings.Contains(v, blocks.ModalDisposeReference) || !strings.Contains(v, "LT-7") || !strings.Contains(v, "Gia Gadget") {
		t.Fatalf("disposal form: %s", v)
	}
	if st := status(); st != store.EquipmentWiped {
		t.Fatalf("opening the form moved the task to %s", st)
	}
	ref := func(v string) map[string]any {
		return map[string]any{blocks.FieldReference: map[string]any{"value": map[string]any{"type": "plain_text_input", "value": v}}}
	}
	if w := e.interact(submission("UTOM", blocks.ModalDisposeReference, value, ref("  "))); !strings.Contains(w.Body.String(), `"errors"`) {
		t.Fatalf("a disposal without a reference was accepted: %s", w.Body)
	}
	if st := status(); st != store.EquipmentWiped {
		t.Fatalf("a refused disposal moved the task to %s", st)
	}
	if w := e.interact(submission("UTOM", blocks.ModalDisposeReference, value, ref("COD-2026-0042"))); strings.Contains(w.Body.String(), `"errors"`) {
		t.Fatalf("the disposal was refused: %s", w.Body)
	}
	if st := status(); st != store.EquipmentDisposed {
		t.Fatalf("after the disposal: %s", st)
	}
	e.fake.WaitFor(t, "chat.update", func(u slacktest.Call) bool {
		return u.Channel == assetsChannel && u.TS == card.TS && has(u, "disposed") && has(u, "COD-2026-0042") && !has(u, "kinetic.equipment.")
	}, wait)
}
