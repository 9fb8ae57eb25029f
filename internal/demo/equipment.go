package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// The it-assets team (approver group it-assets: E1020, E1021) in Slack:
// Ethan Brown (E1020) clicks the buttons of the laptop's card.
const (
	demoAssetMember      = "E1020"
	demoAssetMemberSlack = "U0E1020"
	demoOutsiderSlack    = "U0E1004" // Noah, outside it-assets
)

// equipmentPhase shows the completion gate on Amara Okafor's case: access
// was fully revoked long ago, and the case stays open until her laptop
// LT-1003 has a final disposition. The it-assets team moves it open →
// return requested → received → wiped → disposed through the buttons of
// its card in the team's Slack channel (signed block_actions, the
// disposal's form a signed view_submission); the departing person,
// someone outside the team, a move back and a disposal without its
// certificate are refused and change nothing. The case then closes,
// reporting both moments.
func equipmentPhase(ctx context.Context, a *app.App, o Options, sl *teamSlack, mb *mailbox, c *store.Case, check func(bool, string, ...any)) bool {
	fmt.Fprintf(o.Out, "\nEquipment recovery for %s, through the it-assets team's buttons in Slack (#it-assets, %s):\n", c.EmployeeName, demoAssetsChannel)
	tasks, err := a.Store.EquipmentTasks(ctx, c.ID)
	if err != nil || len(tasks) == 0 {
		check(false, "%s has an equipment task (%v)", c.EmployeeName, err)
		return false
	}
	lt := tasks[0]
	before, _ := a.Store.CaseWithActions(ctx, c.ID)
	check(before.RevokedAt != nil && before.ClosedAt == nil && before.Status == store.CaseRunning,
		"%s: access fully revoked %s, yet the case is %s while %s (%s) is %s — not closed", c.EmployeeName,
		sinceEffective(before, before.RevokedAt), before.Status, lt.AssetTag, lt.Category, lt.Status)

	value := blocks.EquipmentValue(lt.ID)
	card, found := sl.waitCall(ctx, "chat.postMessage", 5*time.Second, func(m slacktest.Call) bool {
		return m.Channel == demoAssetsChannel && strings.Contains(string(m.Blocks), value)
	})
	check(found, "the team's card for %s is in #it-assets", lt.AssetTag)
	if !found {
		return false
	}
	fmt.Fprintf(o.Out, "  #it-assets  %s\n             %s\n", text.Fit(cardText(card), 150), strings.Join(cardButtons(card), " "))
	status := func() store.EquipmentTask {
		now, _ := a.Store.EquipmentTask(ctx, lt.ID)
		if now == nil {
			return store.EquipmentTask{}
		}
		return *now
	}
	// told returns the newest ephemeral message user got after n of them.
	told := func(user string, n int) (string, bool) {
		m, ok := sl.waitCall(ctx, "chat.postEphemeral", 5*time.Second, func(m slacktest.Call) bool {
			return m.Params.Get("user") == user && countEphemeral(sl, user) > n
		})
		return m.Text, ok
	}
	refused := func(user, actionID, why string) {
		was, n := status(), countEphemeral(sl, user)
		sl.click(user, demoAssetsChannel, card.TS, actionID, value)
		msg, ok := told(user, n)
		now := status()
		check(ok && now.Status == was.Status && now.UpdatedAt.Equal(was.UpdatedAt), "%s: refused and nothing changed — Slack tells them: %s", why, text.Fit(msg, 140))
	}
	refused("U0E1003", blocks.ActionEquipReturnRequested, fmt.Sprintf("%s clicks Request return on her own laptop", c.EmployeeName))
	refused(demoOutsiderSlack, blocks.ActionEquipReturnRequested, "a colleague outside it-assets (E1004) clicks Request return")

	steps := []struct{ action, to string }{
		{blocks.ActionEquipReturnRequested, store.EquipmentReturnRequested},
		{blocks.ActionEquipReceived, store.EquipmentReceived},
		{blocks.ActionEquipWiped, store.EquipmentWiped},
	}
	cur := card // the card as it stands after the last move
	for _, st := range steps {
		label := buttonLabel(cur, st.action)
		n := countEphemeral(sl, demoAssetMemberSlack)
		sl.click(demoAssetMemberSlack, demoAssetsChannel, card.TS, st.action, value)
		msg, _ := told(demoAssetMemberSlack, n)
		upd, ok := sl.waitCall(ctx, "chat.update", 5*time.Second, func(u slacktest.Call) bool {
			return u.Channel == demoAssetsChannel && u.TS == card.TS && strings.Contains(string(u.Blocks), engine.EquipmentWord(st.to))
		})
		check(ok && status().Status == st.to, "Ethan Brown (it-assets) clicks %s: %s", label, text.Fit(msg, 120))
		if ok {
			cur = upd
			fmt.Fprintf(o.Out, "  #it-assets  %s\n             %s\n", text.Fit(cardText(upd), 150), strings.Join(cardButtons(upd), " "))
		}
		if st.to == store.EquipmentReturnRequested {
			returnInstructions(ctx, o, sl, mb, c, lt, card, check)
		}
		if st.to == store.EquipmentReceived {
			refused(demoAssetMemberSlack, blocks.ActionEquipReturnRequested, "Ethan clicks Request return again on a stale card (a move back)")
		}
	}

	// Disposed… opens the form for the certificate-of-destruction
	// reference; the form refuses an empty one and changes nothing.
	fmt.Fprintf(o.Out, "  Ethan clicks %s\n", buttonLabel(cur, blocks.ActionEquipDisposed))
	trigger := sl.click(demoAssetMemberSlack, demoAssetsChannel, card.TS, blocks.ActionEquipDisposed, value)
	form, ok := sl.waitCall(ctx, "views.open", 5*time.Second, func(m slacktest.Call) bool { return m.Params.Get("trigger_id") == trigger })
	check(ok && strings.Contains(form.Params.Get("view"), blocks.ModalDisposeReference) && status().Status == store.EquipmentWiped,
		"a form asks for the certificate-of-destruction reference (the laptop stays %s)", status().Status)
	ref := func(v string) map[string]any {
		return map[string]any{blocks.FieldReference: map[string]any{"value": map[string]any{"type": "plain_text_input", "value": v}}}
	}
	was := status()
	errs := sl.submit(demoAssetMemberSlack, blocks.ModalDisposeReference, value, ref("   "))
	now := status()
	check(errs != "" && now.Status == was.Status && now.UpdatedAt.Equal(was.UpdatedAt), "the form submitted without a reference: refused in the form, nothing changed — %s", text.Fit(errs, 120))
	errs = sl.submit(demoAssetMemberSlack, blocks.ModalDisposeReference, value, ref("COD-2026-1003"))
	upd, ok := sl.waitCall(ctx, "chat.update", 5*time.Second, func(u slacktest.Call) bool {
		return u.Channel == demoAssetsChannel && u.TS == card.TS && strings.Contains(string(u.Blocks), "COD-2026-1003")
	})
	check(errs == "" && ok && status().Status == store.EquipmentDisposed, "Ethan submits certificate COD-2026-1003: %s is disposed of %s", lt.AssetTag, errs)
	if ok {
		fmt.Fprintf(o.Out, "  #it-assets  %s\n             %s\n", text.Fit(cardText(upd), 150), strings.Join(cardButtons(upd), " "))
	}

	// Each move is recorded on the asset tracker by an action the workers
	// run; the case closes once the last of them has settled.
	after, err := a.Store.CaseWithActions(ctx, c.ID)
	for deadline := time.Now().Add(20 * time.Second); err == nil && after.ClosedAt == nil && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond): // polling the database, bounded by the deadline
		}
		after, err = a.Store.CaseWithActions(ctx, c.ID)
	}
	if err != nil {
		return false
	}
	ok = after.ClosedAt != nil && after.RevokedAt != nil && after.RevokedAt.Before(*after.ClosedAt)
	check(ok, "%s: access fully revoked %s; closed %s, once the laptop was disposed of (%s)", c.EmployeeName,
		sinceEffective(after, after.RevokedAt), sinceEffective(after, after.ClosedAt), after.Status)
	check(strings.Contains(after.Summary, "access fully revoked") && strings.Contains(after.Summary, "1 device: 1 disposed"),
		"the case summary (the audit record of the close) carries both figures and the device's disposition")
	return ok
}

// countEphemeral counts the ephemeral messages user was sent.
func countEphemeral(sl *teamSlack, user string) int {
	n := 0
	for _, m := range sl.fake.Calls("chat.postEphemeral") {
		if m.Params.Get("user") == user {
			n++
		}
	}
	return n
}

// buttonLabel is the label of button actionID on card c.
func buttonLabel(c slacktest.Call, actionID string) string {
	var bs []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Text     struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(c.Blocks, &bs)
	for _, b := range bs {
		for _, e := range b.Elements {
			if e.ActionID == actionID {
				return "[" + e.Text.Text + "]"
			}
		}
	}
	return actionID
}

// sinceEffective says how long after c's effective time t was.
func sinceEffective(c *store.Case, t *time.Time) string {
	if t == nil {
		return "(not yet)"
	}
	return t.Sub(c.EffectiveAt).Round(time.Millisecond).String() + " after the effective time"
}

func errBody(code int, body string) string {
	if code == http.StatusOK {
		return ""
	}
	return fmt.Sprintf("(HTTP %d: %s)", code, text.Fit(body, 200))
}

// returnInstructions shows where the laptop's return instructions went:
// by email to the person's private address (the HR record's
// private_email), through the email channel to the demo's mail server;
// the team's card then says so with the address masked.
func returnInstructions(ctx context.Context, o Options, sl *teamSlack, mb *mailbox, c *store.Case, lt store.EquipmentTask, card slacktest.Call, check func(bool, string, ...any)) {
	const private = "amara.okafor@home.example" // configs/directory.sample.json
	raw := mb.next(ctx, 15*time.Second)
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		check(false, "the return instructions reached the mail server (%v)", err)
		return
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
	flat := strings.Join(strings.Fields(string(body)), " ")
	to, _ := mail.ParseAddress(m.Header.Get("To"))
	check(to != nil && to.Address == private && strings.Contains(flat, "asset tag "+lt.AssetTag),
		"the return instructions go by email to %s's private address %s, not her closing work mailbox: %q", c.EmployeeName, text.MaskEmail(private), m.Header.Get("Subject"))
	if i := strings.Index(flat, "Please return"); i >= 0 {
		fmt.Fprintf(o.Out, "  mail to %s  %s\n", text.MaskEmail(private), text.Fit(flat[i:], 150))
	}
	upd, ok := sl.waitCall(ctx, "chat.update", 10*time.Second, func(u slacktest.Call) bool {
		return u.Channel == demoAssetsChannel && u.TS == card.TS && strings.Contains(string(u.Blocks), "return instructions sent to "+text.MaskEmail(private))
	})
	check(ok, "the team's card says where they went, the address masked")
	if ok {
		fmt.Fprintf(o.Out, "  #it-assets  %s\n", text.Fit(cardText(upd), 170))
	}
	dms := 0
	for _, m := range sl.fake.Calls("chat.postMessage") {
		if m.Channel != demoAssetsChannel && strings.Contains(string(m.Blocks), lt.AssetTag) {
			dms++
		}
	}
	check(dms == 0, "her manager is not sent them as well (%d other messages)", dms)
}
