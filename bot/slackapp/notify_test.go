package slackapp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// TestHRBatchGetsOneSummary: past the batch threshold, further cases with
// trigger hr opened within the window share one BatchSummary message
// (posted once, then updated) instead of a status card each.
func TestHRBatchGetsOneSummary(t *testing.T) {
	e := newEnv(t, func(o *slackapp.Options) { o.BatchThreshold = 2; o.BatchWindow = time.Minute })
	ctx := context.Background()
	at := time.Now().Add(72 * time.Hour)
	for _, id := range []string{"E1", "E2", "E4", "X1"} {
		if _, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: id, Requester: "hr:test", System: true, Trigger: store.TriggerHR, EffectiveAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
		return c.Channel == offboarding && strings.Contains(c.Text, "Batch of 2")
	}, wait)
	// The batch summary can be updated before the second case's card is
	// posted (cards are posted when the notifier flushes, after it handled
	// every queued event).
	for _, name := range []string{"Erin Employee", "Carl Contractor"} {
		e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
			return c.Channel == offboarding && strings.HasPrefix(c.Text, "Offboarding "+name)
		}, wait)
	}
	var cards, summaries int
	for _, c := range e.fake.Calls("chat.postMessage") {
		switch {
		case c.Channel != offboarding || c.ThreadTS != "":
		case strings.HasPrefix(c.Text, "Offboarding "):
			cards++
		case strings.Contains(c.Text, "Batch of"):
			summaries++
		}
	}
	if cards != 2 || summaries != 1 {
		t.Fatalf("%d status cards and %d batch summaries in the channel, want 2 and 1", cards, summaries)
	}
	if n := e.kit.Count(t, &store.ChatMessage{}, "kind = ?", "batch"); n != 2 {
		t.Fatalf("%d batch refs, want 2", n)
	}
}

// TestRestartContinuesRecordedMessages: a new notifier (a restarted
// process) finds the case's recorded status messages in the database and
// updates them instead of posting new ones.
func TestRestartContinuesRecordedMessages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	op, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E2", Requester: "H1", Trigger: store.TriggerAPI, EffectiveAt: time.Now().Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	parent := e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == offboarding && c.ThreadTS == "" }, wait)
	for _, dm := range []string{"DUMIA", "DUHAL"} { // E2's manager and HR partner
		e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool { return c.Channel == dm }, wait)
	}
	posts := len(e.fake.Calls("chat.postMessage"))

	restarted, err := slackapp.New(slackapp.Options{Config: e.opts.Config, Log: logrus.NewEntry(logrus.New()), UpdateInterval: updateInterval})
	if err != nil {
		t.Fatal(err)
	}
	restarted.Bind(e.kit.Engine, e.kit.Directory)
	rctx, cancel := context.WithCancel(ctx)
	stop := restarted.Start(rctx)
	defer func() { cancel(); stop() }()
	restarted.Observe(engine.Event{Kind: "case_cancelled", CaseID: op.Case.ID, Status: store.CaseCancelled, At: time.Now()})
	if err := e.kit.Engine.Cancel(ctx, op.Case.ID, "H1", "test"); err != nil {
		t.Fatal(err)
	}
	e.fake.WaitFor(t, "chat.update", func(c slacktest.Call) bool {
		return c.Channel == offboarding && c.TS == parent.TS && strings.Contains(c.Text, "cancelled")
	}, wait)
	// An escalation goes to the thread and to the alerts channel.
	restarted.Observe(engine.Event{Kind: "escalation", CaseID: op.Case.ID, Name: "disable_ad", Status: store.ActionQueued, Level: 2,
		Targets: []string{"channel:security-alerts"}, Detail: "overdue", At: time.Now()})
	e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == offboarding && c.ThreadTS == parent.TS && strings.Contains(c.Text, "Escalation level 2")
	}, wait)
	e.fake.WaitFor(t, "chat.postMessage", func(c slacktest.Call) bool {
		return c.Channel == alerts && strings.Contains(c.Text, "Escalation level 2")
	}, wait)
	for _, c := range e.fake.Calls("chat.postMessage")[posts:] {
		if c.ThreadTS == "" && strings.HasPrefix(c.Text, "Offboarding ") {
			t.Fatalf("a second status message was posted after the restart: %s %s", c.Channel, c.Text)
		}
	}
}

// TestShutdownDrainsQueuedNotifications: an event observed just before the
// process is told to stop (a case's escalation here, as its closing reply
// would be) is still posted in the case's thread and its reference
// recorded; the shutdown does not cancel notification work already handed
// to the notifier.
func TestShutdownDrainsQueuedNotifications(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	op, err := e.kit.Engine.Open(ctx, engine.Request{EmployeeID: "E2", Requester: "H1", Trigger: store.TriggerAPI, EffectiveAt: time.Now().Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	id := op.Case.ID
	e.app.Observe(engine.Event{Kind: "escalation", CaseID: id, Name: "drain_probe", Level: 1, At: time.Now()})
	e.shutdown()
	var parent string
	for _, c := range e.fake.Calls("chat.postMessage") {
		if c.Channel == offboarding && c.ThreadTS == "" {
			parent = c.TS
		}
	}
	found := false
	for _, c := range e.fake.Calls("chat.postMessage") {
		found = found || (c.Channel == offboarding && c.ThreadTS == parent && parent != "" && strings.Contains(c.Text, "drain_probe"))
	}
	if !found {
		t.Fatal("the escalation observed before the shutdown was not posted in the case's thread")
	}
	if n := e.kit.Count(t, &store.ChatMessage{}, "case_id = ? AND kind = ?", id, "thread"); n < 1 {
		t.Fatal("the reply posted during the shutdown is not recorded")
	}
}
