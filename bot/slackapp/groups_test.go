package slackapp_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// slackLegalEnv is newEnv with the legal approver group being the Slack
// user group SLEGAL, whose members are ULEE (L1) and ULOU (L2), fetched
// before the test starts.
func slackLegalEnv(t *testing.T) *env {
	t.Helper()
	e := newEnvKit(t, func(ko *testkit.Options, sa *slackapp.App) {
		ko.ApproverGroups = `{hr: [H1, H2, M1], legal: ["slack:SLEGAL"], security: [S1]}`
		ko.GroupMembers = sa.GroupMembers
		sa.WatchGroups("slack:SLEGAL", "H1")
	})
	e.fake.AddGroup("SLEGAL", "ULEE", "ULOU", "UBOT")
	slackapp.RefreshGroups(context.Background(), e.app)
	if got := e.app.GroupMembers("slack:SLEGAL"); !slices.Equal(got, []string{"L1", "L2"}) {
		t.Fatalf("members of slack:SLEGAL: %v, want [L1 L2] (the bot has no HR record)", got)
	}
	return e
}

// requestLegalHold opens a case for E1 with a legal hold requested by H1
// and returns the pending approval.
func requestLegalHold(t *testing.T, e *env) *engine.ApprovalView {
	t.Helper()
	ctx := context.Background()
	o, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "H1", Trigger: store.TriggerCLI, EffectiveAt: time.Now().Add(48 * time.Hour),
		Exceptions: []engine.ExceptionRequest{{Kind: "legal_hold", Requester: "H1", Reason: "litigation"}}})
	if err != nil {
		t.Fatal(err)
	}
	aps, err := e.kit.Engine.Approvals(ctx, store.ApprovalPending, "", o.Case.ID)
	if err != nil || len(aps) != 1 || aps[0].Kind != "legal_hold" {
		t.Fatalf("approvals: %v %+v", err, aps)
	}
	return &aps[0]
}

// TestSlackUserGroupMembersApproveLegalHold: the legal approver group is a
// Slack user group; its members get the approval card and their Approve
// clicks apply the legal hold.
func TestSlackUserGroupMembersApproveLegalHold(t *testing.T) {
	e := slackLegalEnv(t)
	ap := requestLegalHold(t, e)
	cards := map[string]slacktest.Call{}
	for _, u := range []string{"ULEE", "ULOU"} {
		cards[u] = e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
			return c.Channel == "D"+u && has(c, blocks.ActionApprove) && has(c, blocks.ApprovalValue(ap.ID))
		}, wait)
	}
	for _, u := range []string{"ULEE", "ULOU"} {
		if w := e.interact(click(u, "D"+u, cards[u].TS, blocks.ActionApprove, blocks.ApprovalValue(ap.ID))); w.Code != http.StatusOK {
			t.Fatalf("approve answered %d", w.Code)
		}
	}
	for _, u := range []string{"ULEE", "ULOU"} {
		e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
			return c.Channel == "D"+u && c.TS == cards[u].TS && !has(c, blocks.ActionApprove)
		}, wait)
	}
	if v, _ := e.kit.Engine.Approval(context.Background(), ap.ID); v.Status != store.ApprovalApproved {
		t.Fatalf("approval is %s, want approved", v.Status)
	}
	if calls := e.fake.Calls("usergroups.users.list"); len(calls) == 0 || calls[0].Params.Get("usergroup") != "SLEGAL" {
		t.Fatalf("usergroups.users.list calls: %+v", calls)
	}
}

// TestSlackUserGroupMembershipFollowsSlack: someone removed from the Slack
// user group is refused at the next refresh; a refresh that fails keeps the
// last members fetched.
func TestSlackUserGroupMembershipFollowsSlack(t *testing.T) {
	e := slackLegalEnv(t)
	ctx := context.Background()
	ap := requestLegalHold(t, e)
	card := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == "DULOU" && has(c, blocks.ApprovalValue(ap.ID))
	}, wait)

	e.fake.AddGroup("SLEGAL", "ULEE")
	slackapp.RefreshGroups(ctx, e.app)
	if got := e.app.GroupMembers("slack:SLEGAL"); !slices.Equal(got, []string{"L1"}) {
		t.Fatalf("members after ULOU left: %v", got)
	}
	e.interact(click("ULOU", "DULOU", card.TS, blocks.ActionApprove, blocks.ApprovalValue(ap.ID)))
	e.fake.WaitFor(t, "chat.postEphemeral", func(c slacktest.Call) bool {
		return c.Params.Get("user") == "ULOU" && strings.Contains(c.Text, "refused")
	}, wait)
	if v, _ := e.kit.Engine.Approval(ctx, ap.ID); v.Status != store.ApprovalPending {
		t.Fatalf("approval is %s after a refused click", v.Status)
	}

	// Slack answers an error: the last members fetched are kept; a group
	// never fetched has none.
	e.fake.RemoveGroup("SLEGAL")
	e.app.WatchGroups("slack:SMISSING")
	slackapp.RefreshGroups(ctx, e.app)
	if got := e.app.GroupMembers("slack:SLEGAL"); !slices.Equal(got, []string{"L1"}) {
		t.Fatalf("members after a failed refresh: %v, want the last good [L1]", got)
	}
	if got := e.app.GroupMembers("slack:SMISSING"); len(got) != 0 {
		t.Fatalf("a group never fetched has members: %v", got)
	}
}
