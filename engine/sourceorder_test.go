package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// syncedPolicy disables the same person in AD, in Entra ID (cloud, synced
// from AD) and in Okta, all critical and with no policy dependencies.
const syncedPolicy = `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
  max_attempts: 4
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
  disable_entra: {connector: entra, operation: disable_account, phase: critical}
  revoke_entra_sessions: {connector: entra, operation: revoke_sessions, phase: critical}
  deactivate_okta: {connector: okta, operation: deactivate_user, phase: critical}
rules:
  - name: everyone
    when: "true"
    add: [disable_ad, disable_entra, revoke_entra_sessions, deactivate_okta]
`

// A system synced from another is disabled after it: the planner adds the
// dependency the policy did not write, the preview says why, and the run
// honours it. Sessions (which no sync restores) and unrelated systems are
// not held back.
func TestSyncedSystemIsDisabledAfterItsSource(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Policy: syncedPolicy,
		Connectors: "  entra:\n    type: sandbox\n    synced_from: ad\n    sandbox: {system: m365}\n"})
	ctx := context.Background()
	p, err := k.Engine.Plan(ctx, engine.Request{EmployeeID: "E1", Requester: "M1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]engine.PlannedAction{}
	for _, a := range p.Actions {
		got[a.Name] = a
	}
	if d := got["disable_entra"]; strings.Join(d.DependsOn, ",") != "disable_ad" || d.Ordering != "entra waits for ad: synced from it (disable_ad first)" {
		t.Fatalf("disable_entra: depends %v, ordering %q", d.DependsOn, d.Ordering)
	}
	for _, n := range []string{"disable_ad", "revoke_entra_sessions", "deactivate_okta"} {
		if a := got[n]; len(a.DependsOn) != 0 || a.Ordering != "" {
			t.Fatalf("%s was ordered: %v %q", n, a.DependsOn, a.Ordering)
		}
	}
	text := engine.FormatPlan(p)
	if !strings.Contains(text, "after disable_ad\n") || !strings.Contains(text, "(entra waits for ad: synced from it (disable_ad first))\n") {
		t.Fatalf("preview does not say why:\n%s", text)
	}

	k.Sandbox("entra").AddAccount(connectors.Subject{EmployeeID: "E1", Email: "erin@example.test", Username: "erin"},
		connectors.Account{ID: "entra-erin", Kind: "user", Status: connectors.StatusActive, Sessions: 1})
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1"})
	done := k.WaitClosed(t, c.ID, 30*time.Second)
	var ad, entra store.Action
	for _, a := range done.Actions {
		switch a.Name {
		case "disable_ad":
			ad = a
		case "disable_entra":
			entra = a
		}
	}
	if ad.Status != store.ActionSucceeded || entra.Status != store.ActionSucceeded || ad.FinishedAt == nil || entra.StartedAt == nil {
		t.Fatalf("ad %s, entra %s", ad.Status, entra.Status)
	}
	if entra.StartedAt.Before(*ad.FinishedAt) {
		t.Fatalf("entra started %s before ad finished %s", entra.StartedAt, ad.FinishedAt)
	}
}

// A dependency the phases cannot honour is not added (it would never run)
// and the preview says so instead.
func TestSyncedOrderingAcrossPhasesIsExplained(t *testing.T) {
	pol := strings.Replace(syncedPolicy, "disable_ad: {connector: ad, operation: disable_account, phase: critical}",
		"disable_ad: {connector: ad, operation: disable_account, phase: entitlements}", 1)
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Policy: pol,
		Connectors: "  entra:\n    type: sandbox\n    synced_from: ad\n    sandbox: {system: m365}\n"})
	p, err := k.Engine.Plan(context.Background(), engine.Request{EmployeeID: "E1", Requester: "M1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range p.Actions {
		if a.Name == "disable_entra" && (len(a.DependsOn) != 0 || !strings.Contains(a.Ordering, "entra cannot wait for disable_ad (a later phase): a sync from ad may undo it")) {
			t.Fatalf("disable_entra: %v %q", a.DependsOn, a.Ordering)
		}
	}
}

// A synced account on a system that names no source is said in the plan:
// nothing orders its disable after the directory it comes from.
func TestSyncedAccountWithoutSourceIsWarned(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Policy: syncedPolicy,
		Connectors: "  entra:\n    type: sandbox\n    sandbox: {system: m365}\n"})
	k.Sandbox("entra").AddAccount(connectors.Subject{EmployeeID: "E1", Email: "erin@example.test", Username: "erin"},
		connectors.Account{ID: "entra-erin", Kind: "user", Status: connectors.StatusActive, Synced: true})
	p, err := k.Engine.Plan(context.Background(), engine.Request{EmployeeID: "E1", Requester: "M1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range p.Actions {
		switch a.Name {
		case "disable_entra":
			if len(a.DependsOn) != 0 || !strings.Contains(a.Ordering, "no synced_from names its source") || !strings.Contains(engine.FormatPlan(p), "set connectors.entra.synced_from") {
				t.Fatalf("disable_entra: %v %q", a.DependsOn, a.Ordering)
			}
		case "revoke_entra_sessions":
			if a.Ordering != "" {
				t.Fatalf("sessions warned: %q", a.Ordering)
			}
		}
	}
}
