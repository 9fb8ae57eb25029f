package slackapp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// TestTwoNotifiersPostOneStatusMessage: two Slack front ends (kinetic serve
// and a worker) on one database observe the same cases at once; each case
// gets exactly one status card in the offboarding channel and one in each
// DM, and both processes update those same messages.
func TestTwoNotifiersPostOneStatusMessage(t *testing.T) {
	var opts slackapp.Options
	var second *slackapp.App
	e := newEnvKit(t, func(ko *testkit.Options, _ *slackapp.App) {
		var err error
		if second, err = slackapp.New(opts); err != nil {
			t.Fatal(err)
		}
		ko.Observers = append(ko.Observers, second)
	}, func(o *slackapp.Options) { opts = *o })
	second.Bind(e.kit.Engine, e.kit.Directory)
	ctx, cancel := context.WithCancel(context.Background())
	stop := second.Start(ctx)
	t.Cleanup(func() { cancel(); stop() })

	people := map[string]string{"E1": "Erin Employee", "E2": "Carl Contractor", "E4": "Tess Cleared", "X1": "Xavi Colleague"}
	cases := map[string]int64{}
	for id := range people {
		op, err := e.kit.Engine.Open(context.Background(), engine.Request{EmployeeID: id, Requester: "H1", Trigger: store.TriggerAPI, EffectiveAt: time.Now().Add(48 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		cases[id] = op.Case.ID
	}
	for id, name := range people {
		e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
			return c.Channel == offboarding && c.ThreadTS == "" && strings.HasPrefix(c.Text, "Offboarding "+name)
		}, wait)
		if err := e.kit.Engine.Cancel(context.Background(), cases[id], "H1", "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range people {
		e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
			return c.Channel == offboarding && strings.HasPrefix(c.Text, "Offboarding "+name) && strings.Contains(c.Text, "cancelled")
		}, wait)
	}
	cards := map[string]int{} // channel + name → top-level cards posted
	for _, c := range e.fake.Calls("chat.postMessage") {
		for _, name := range people {
			if c.ThreadTS == "" && strings.HasPrefix(c.Text, "Offboarding "+name) {
				cards[c.Channel+" Offboarding "+name]++
			}
		}
	}
	if len(cards) < len(people)*2 {
		t.Errorf("cards posted: %v; want each case's in the offboarding channel and DMs", cards)
	}
	for k, n := range cards {
		if n != 1 {
			t.Errorf("%d cards posted for %s, want 1", n, k)
		}
	}
	for id, name := range people {
		if n := cards[offboarding+" Offboarding "+name]; n != 1 {
			t.Errorf("%s: %d status cards in the offboarding channel, want 1", id, n)
		}
		if n := e.kit.Count(t, &store.ChatMessage{}, "case_id = ? AND kind = ?", cases[id], "status"); n != 1 {
			t.Errorf("%s: %d status refs, want 1", id, n)
		}
		if n := e.kit.Count(t, &store.ChatMessage{}, "case_id = ? AND kind IN ? AND ts = ?", cases[id], []string{"status", "dm"}, ""); n != 0 {
			t.Errorf("%s: %d claims never posted", id, n)
		}
	}
}

// TestUnpostedClaims: a status card claimed by a process that died before
// posting is taken over once the claim is stale; one claimed by a process
// still posting is waited for, and a thread reply goes under its message.
func TestUnpostedClaims(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	op, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E2", Requester: "H1", Trigger: store.TriggerAPI, EffectiveAt: time.Now().Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	id := op.Case.ID
	e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == offboarding && c.ThreadTS == "" }, wait)
	for _, dm := range []string{"DUMIA", "DUHAL"} {
		e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == dm }, wait)
	}
	// Another process (the restarted one below) picks the case up.
	other, err := slackapp.New(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	other.Bind(e.kit.Engine, e.kit.Directory)
	octx, cancel := context.WithCancel(ctx)
	stop := other.Start(octx)
	t.Cleanup(func() { cancel(); stop() })
	escalate := func(detail string) {
		other.Observe(engine.Event{Kind: "escalation", CaseID: id, Name: "disable_ad", Status: store.ActionQueued, Level: 2, Detail: detail, At: time.Now()})
	}
	unpost := func(age time.Duration) {
		t.Helper()
		if err := e.kit.Store.TestDB().Model(&store.ChatMessage{}).Where("case_id = ? AND kind = ?", id, "status").
			Updates(map[string]any{"ts": "", "updated_at": time.Now().Add(-age)}).Error; err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a stale claim is taken over", func(t *testing.T) {
		unpost(time.Minute)
		escalate("stale")
		card := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
			return c.Channel == offboarding && c.ThreadTS == "" && c.TS != "1700000000.000001"
		}, wait)
		e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
			return c.Channel == offboarding && c.ThreadTS == card.TS && strings.Contains(c.Text, "Escalation level 2")
		}, wait)
	})

	t.Run("a fresh claim is waited for", func(t *testing.T) {
		unpost(0)
		var m store.ChatMessage
		if err := e.kit.Store.TestDB().Where("case_id = ? AND kind = ?", id, "status").First(&m).Error; err != nil {
			t.Fatal(err)
		}
		posts := len(e.fake.Calls("chat.postMessage"))
		escalate("fresh")
		// The claimer posts (the fake's ts of an earlier message stands in).
		if err := e.kit.Store.FillChatMessage(ctx, m.ID, "1700000000.000001", time.Now()); err != nil {
			t.Fatal(err)
		}
		e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
			return c.Channel == offboarding && c.ThreadTS == "1700000000.000001" && strings.Contains(c.Text, "Escalation level 2")
		}, wait)
		for _, c := range e.fake.Calls("chat.postMessage")[posts:] {
			if c.ThreadTS == "" && strings.HasPrefix(c.Text, "Offboarding ") {
				t.Fatalf("a second card was posted while the claim was being posted: %s", c.Channel)
			}
		}
	})
}
