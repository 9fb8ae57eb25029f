package slackapp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/internal/testwait"
	"github.com/kineticsec/kinetic/store"
)

// describedPolicy is the approval policy with the descriptions a real
// policy gives its actions and exceptions.
var describedPolicy = strings.NewReplacer(
	"disable_ad: {connector: ad,", "disable_ad: {description: Disable the Active Directory account, connector: ad,",
	"revoke_okta_sessions: {connector: okta,", "revoke_okta_sessions: {description: Revoke every Okta session, connector: okta,",
	"remove_forwarding: {connector: m365,", "remove_forwarding: {description: Remove the mail forwarding, connector: m365,",
	"legal_hold: {effect: legal_hold,", "legal_hold: {description: Preserve the mailbox for litigation, effect: legal_hold,",
).Replace(testkit.ApprovalPolicy)

// assertNoRedundantUpdates fails when a chat.update left a message as it
// was: the same text and blocks as the message's post or its previous
// update (issue 14 item 11).
func assertNoRedundantUpdates(t *testing.T, fake *slacktest.Server) {
	t.Helper()
	shows := map[string]string{}
	updates := 0
	for _, c := range fake.Calls("") {
		if c.Error != "" || c.RateLimited {
			continue
		}
		content := c.Text + "\x00" + string(c.Blocks)
		switch c.Method {
		case "chat.postMessage":
			shows[c.Channel+"/"+c.TS] = content
		case "chat.update":
			updates++
			key := c.Channel + "/" + c.TS
			if prev, ok := shows[key]; ok && prev == content {
				t.Errorf("chat.update of %s at %s repeats what the message shows: %.200s", key, c.At.Format(time.StampMilli), c.Text)
			}
			shows[key] = content
		}
	}
	if updates == 0 {
		t.Error("no chat.update at all: the check checked nothing")
	}
}

var rfc3339 = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

// TestStatusCardSpeaksInNamesLocalTimesAndDescriptions (issue 14 item
// 10): the status card names the requester with their HR id, shows times
// in Slack's date formatting and the effective time in the employee's zone
// (Erin is in New York), actions by the policy's description, the
// forwarding removal 30 days out as "scheduled for" its day, and the
// pending legal hold — never a raw RFC 3339 time.
func TestStatusCardSpeaksInNamesLocalTimesAndDescriptions(t *testing.T) {
	e := newEnvKit(t, func(o *testkit.Options, _ *slackapp.App) { o.Policy = describedPolicy })
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "H1", Trigger: store.TriggerCLI, Reason: "resigned",
		Exceptions: []engine.ExceptionRequest{
			{Kind: "email_forwarding", Requester: "H1", Reason: "customers still write", ForwardTo: "sam@example.test", Days: 30},
			{Kind: "legal_hold", Requester: "H1", Reason: "litigation"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	aps, err := e.kit.Engine.Approvals(ctx, store.ApprovalPending, "", o.Case.ID)
	if err != nil || len(aps) != 2 {
		t.Fatalf("approvals: %v %+v", err, aps)
	}
	for _, ap := range aps {
		if ap.Kind != "email_forwarding" {
			continue
		}
		for _, who := range []string{"M1", "H2"} {
			if _, err := e.kit.Engine.Decide(ctx, engine.Decision{ApprovalID: ap.ID, Approver: who, Approve: true, Via: "test"}); err != nil {
				t.Fatalf("%s approving the forwarding: %v", who, err)
			}
		}
	}
	// The card as posted, or as updated once the forwarding was approved.
	var card slacktest.Call
	testwait.Eventually(t, wait, func() bool {
		for _, c := range e.fake.Calls("") {
			if (c.Method == "chat.update" || c.Method == "chat.postMessage" && c.ThreadTS == "") && c.Channel == offboarding &&
				has(c, "scheduled for") && has(c, "Pending exceptions") {
				card = c
				return true
			}
		}
		return false
	}, func() string { return "no status card with the scheduled removal and the pending legal hold" })
	blocksText := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(card.Blocks))
	for _, want := range []string{
		"*Requested by*\\nHal HR (H1)",
		"<!date^",
		"New York time (EST)",
		"*Disable the Active Directory account*",
		"*Revoke every Okta session*",
		"*Remove the mail forwarding* · m365",
		"scheduled for <!date^",
		"*Preserve the mailbox for litigation* (legal_hold)",
		"requested by Hal HR (H1)",
	} {
		if !strings.Contains(blocksText, want) {
			t.Errorf("status card lacks %q:\n%s", want, blocksText)
		}
	}
	if m := rfc3339.FindString(blocksText); m != "" {
		t.Errorf("status card shows a raw time %s:\n%s", m, blocksText)
	}
	// The same card for /offboard status.
	code, resp := e.command("UHAL", "status <@UERIN|erin>")
	if code != http.StatusOK || !strings.Contains(jsonText(t, resp), "Preserve the mailbox for litigation") {
		t.Fatalf("/offboard status: %d %v", code, resp)
	}
	e.shutdown()
	assertNoRedundantUpdates(t, e.fake)
}

// TestCancelFromThePreviewUpdatesItOnce (issue 14 item 11): cancelling
// from the plan preview replaces it once, with the resolved plan; the
// notifier does not update it again with other words.
func TestCancelFromThePreviewUpdatesItOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if code, _ := e.command("UMIA", "<@UERIN|erin> moving on"); code != http.StatusOK {
		t.Fatalf("command answered %d", code)
	}
	preview := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == "DUMIA" && has(c, blocks.ActionConfirmPlan)
	}, wait)
	c, err := e.kit.Store.OpenCaseFor(ctx, "E1")
	if err != nil {
		t.Fatal(err)
	}
	if w := e.interact(click("UMIA", "DUMIA", preview.TS, blocks.ActionCancelPlan, blocks.CaseValue(c.ID))); w.Code != http.StatusOK {
		t.Fatalf("cancel answered %d", w.Code)
	}
	e.fake.WaitFor(t, "chat.update", func(u slacktest.Call) bool { return u.Channel == "DUMIA" && u.TS == preview.TS }, wait)
	e.kit.WaitClosed(t, c.ID, wait)
	e.shutdown() // the notifier handles every queued event (the cancellation) before it returns
	var ups []slacktest.Call
	for _, u := range e.fake.Calls("chat.update") {
		if u.Channel == "DUMIA" && u.TS == preview.TS {
			ups = append(ups, u)
		}
	}
	if len(ups) != 1 || !strings.Contains(ups[0].Text, "cancelled") {
		t.Fatalf("the preview was updated %d times: %+v", len(ups), ups)
	}
}

func jsonText(t *testing.T, resp map[string]any) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(text(resp))
	if bs, ok := resp["blocks"]; ok {
		b.WriteString(strings.NewReplacer(`\u003c`, "<", `\u003e`, ">").Replace(toJSON(t, bs)))
	}
	return b.String()
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
