package blocks

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// buttons lists "action_id=value" of every button in bs.
func buttons(bs []slack.Block) []string {
	var out []string
	for _, b := range bs {
		switch b := b.(type) {
		case *slack.ActionBlock:
			for _, e := range b.Elements.ElementSet {
				if btn, ok := e.(*slack.ButtonBlockElement); ok {
					out = append(out, btn.ActionID+"="+btn.Value)
				}
			}
		case *slack.SectionBlock:
			if b.Accessory != nil && b.Accessory.ButtonElement != nil {
				out = append(out, b.Accessory.ButtonElement.ActionID+"="+b.Accessory.ButtonElement.Value)
			}
		}
	}
	return out
}

func TestActionFailedButtons(t *testing.T) {
	failed := func(phase int) store.Action {
		return store.Action{ID: 913, Name: "remove_groups", Connector: "okta", Phase: phase, Status: store.ActionFailed, LastError: "boom"}
	}
	for _, tc := range []struct {
		name              string
		a                 store.Action
		skippable, manual bool
		want              []string
	}{
		{"retry and escalate always", failed(2), false, false, []string{ActionRetry, ActionEscalateNow}},
		{"skip when policy allows", failed(2), true, false, []string{ActionRetry, ActionSkip, ActionEscalateNow}},
		{"never skip a critical revocation", failed(1), true, false, []string{ActionRetry, ActionEscalateNow}},
		{"mark done for a manual step", failed(3), false, true, []string{ActionRetry, ActionMarkDone, ActionEscalateNow}},
		{"all four", failed(3), true, true, []string{ActionRetry, ActionSkip, ActionMarkDone, ActionEscalateNow}},
		{"no stale buttons once it is no longer failed", store.Action{ID: 913, Name: "x", Phase: 2, Status: store.ActionSucceeded}, true, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bs, _ := ActionFailed(tc.a, 42, tc.skippable, tc.manual)
			var want []string
			for _, id := range tc.want {
				want = append(want, id+"=action:913")
			}
			if got := buttons(bs); !slices.Equal(got, want) {
				t.Errorf("buttons %v, want %v", got, want)
			}
		})
	}
}

func TestApprovalCardNoStaleButtons(t *testing.T) {
	pending := []string{ActionApprove + "=approval:7", ActionDeny + "=approval:7"}
	decider := ApprovalInfo{CanDecide: true}
	if got := buttons(first(ApprovalCard(testApproval(), decider, now))); !slices.Equal(got, pending) {
		t.Errorf("pending card buttons %v, want %v", got, pending)
	}
	// A reader who can't decide now (decided already, or an approver of an
	// earlier step) sees no buttons while the chain goes on.
	if got := buttons(first(ApprovalCard(testApproval(), ApprovalInfo{}, now))); got != nil {
		t.Errorf("card of a reader who can't decide now still has buttons %v", got)
	}
	for _, st := range []string{store.ApprovalApproved, store.ApprovalDenied, store.ApprovalExpired, store.ApprovalCancelled} {
		v := testApproval()
		v.Status = st
		if got := buttons(first(ApprovalCard(v, decider, now))); got != nil {
			t.Errorf("%s card still has buttons %v", st, got)
		}
	}
}

// TestApprovalCardSaysWhoInNames: the requester, the approvers who may
// decide now and the deciders are named, with their HR ids; the requester's
// note is shown; a step needing a reason says so on its Approve button.
func TestApprovalCardSaysWhoInNames(t *testing.T) {
	v := testApproval()
	v.ReasonRequired = true
	names := map[string]string{"E2001": "Pat Manager", "E3001": "Sam Security", "E3002": "Kim Security"}
	bs, fb := ApprovalCard(v, ApprovalInfo{Names: names, CanDecide: true, Description: "Keep email forwarding after the last day"}, now)
	raw := string(encode(t, message{Text: fb, Blocks: bs}))
	for _, want := range []string{"Pat Manager (E2001)", "May decide now: Sam Security (E3001), Kim Security (E3002)",
		"Requester's note", "Customers still write to Dana", "Keep email forwarding after the last day", "Approve…", "<!date^"} {
		if !strings.Contains(raw, want) {
			t.Errorf("card lacks %q:\n%s", want, raw)
		}
	}
	bs, _ = ApprovalCard(v, ApprovalInfo{Names: names}, now)
	if raw := string(encode(t, message{Blocks: bs})); !strings.Contains(raw, "Waiting on step 2 *security*: Sam Security (E3001), Kim Security (E3002)") {
		t.Errorf("card for a reader who can't decide doesn't say whom it waits on:\n%s", raw)
	}
	d := deniedApproval()
	bs, _ = ApprovalCard(d, ApprovalInfo{Names: names}, now)
	if raw := string(encode(t, message{Blocks: bs})); !strings.Contains(raw, "Denied* by Sam Security (E3001)") {
		t.Errorf("denied card doesn't name the decider:\n%s", raw)
	}
}

func TestPlanButtons(t *testing.T) {
	want := []string{ActionConfirmPlan + "=case:42", ActionCancelPlan + "=case:42"}
	if got := buttons(first(PlanPreview(testPlan(), 42))); !slices.Equal(got, want) {
		t.Errorf("preview buttons %v, want %v", got, want)
	}
	if got := buttons(first(PlanResolved(testPlan(), 42, true, "Pat", now))); got != nil {
		t.Errorf("resolved plan still has buttons %v", got)
	}
}

func TestStatusCardHasNoButtons(t *testing.T) {
	if got := buttons(first(StatusCard(runningCase(), runningActions(), now, names))); got != nil {
		t.Errorf("status card has buttons %v; they belong in thread replies", got)
	}
}

func TestActionStates(t *testing.T) {
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	for _, tc := range []struct {
		status string
		due    *time.Time
		want   state
	}{
		{store.ActionSucceeded, &past, stDone},
		{store.ActionFailed, &past, stFailed},
		{store.ActionSkipped, &past, stSkipped},
		{store.ActionCancelled, &past, stCancelled},
		{store.ActionHeld, &past, stHeld}, // an approval has its own timeout
		{store.ActionRunning, &past, stOverdue},
		{store.ActionQueued, &past, stOverdue},
		{store.ActionBlocked, &past, stOverdue},
		{store.ActionPending, &past, stOverdue},
		{store.ActionRunning, &future, stRunning},
		{store.ActionBlocked, &future, stBlocked},
		{store.ActionQueued, nil, stQueued},
		{store.ActionPending, nil, stQueued},
		{"something new", nil, stQueued},
	} {
		if got := actionState(store.Action{Status: tc.status, DueAt: tc.due}, now); got != tc.want {
			t.Errorf("%s (due %v): %s, want %s", tc.status, tc.due, stateWord[got], stateWord[tc.want])
		}
	}
}

func TestStatusCardCollapses(t *testing.T) {
	text := func(bs []slack.Block) string {
		var b strings.Builder
		for _, bl := range bs {
			if s, ok := bl.(*slack.SectionBlock); ok && s.Text != nil {
				b.WriteString(s.Text.Text + "\n")
			}
		}
		return b.String()
	}
	// 40 actions are listed one by one, 41 collapse to counts with only the
	// failed and overdue ones listed.
	listed := text(first(StatusCard(runningCase(), manyActions(40, 10), now, nil)))
	if !strings.Contains(listed, "action_00*") {
		t.Error("40 actions: a succeeded action is not listed")
	}
	collapsed := text(first(StatusCard(runningCase(), manyActions(41, 10), now, nil)))
	if strings.Contains(collapsed, "action_00*") || !strings.Contains(collapsed, "action_01*") {
		t.Errorf("41 actions: want only failed and overdue listed:\n%s", collapsed)
	}
	// However many actions and phases, the card fits a message.
	for _, n := range []int{0, 1, 40, 41, 500, 5000} {
		acts := manyActions(n, 3000)
		for i := range acts {
			acts[i].Phase = i % 70 // more phases than blocks
		}
		bs, fb := StatusCard(runningCase(), acts, now, nil)
		raw := encode(t, message{Text: fb, Blocks: bs})
		checkLimits(t, surfaceMessage, raw)
	}
}

func TestHomeTabFits(t *testing.T) {
	var cs []store.Case
	var aps []view.ApprovalView
	for range 500 {
		cs = append(cs, runningCase())
		v := testApproval()
		v.Reason = strings.Repeat(hostile, 20)
		aps = append(aps, v)
	}
	h := HomeTab(cs, aps, "U0VIEWER")
	checkLimits(t, surfaceHome, encode(t, h))
}

func first(bs []slack.Block, _ string) []slack.Block { return bs }

// Timestamps the engine writes into details show in each viewer's zone;
// the token is built from the parsed time, so text around it cannot add
// markup, and a flood of timestamps is left as written past a bound.
func TestDetailTimesAreLocal(t *testing.T) {
	got := para("due 2026-12-07T03:15:50Z; <b> 2026-12-07T04:00:00+01:00", 500)
	want := "due <!date^1796613350^{date_short_pretty} {time}|2026-12-07 03:15 UTC>; &lt;b&gt; <!date^1796612400^{date_short_pretty} {time}|2026-12-07 03:00 UTC>"
	if got != want {
		t.Fatalf("para:\n got %q\nwant %q", got, want)
	}
	many := strings.Repeat("2026-12-07T03:15:50Z ", maxLocalTimes+2)
	if n := strings.Count(para(many, 2000), "<!date^"); n != maxLocalTimes {
		t.Fatalf("%d tokens, want %d", n, maxLocalTimes)
	}
}
