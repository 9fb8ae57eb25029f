package blocks

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// simulatedCase is a completed, verified case whose ad and okta actions ran
// on sandbox connectors: exactly what must never pass for real.
func simulatedCase() (store.Case, []store.Action) {
	c := runningCase()
	c.Status, c.ClosedAt, c.Simulated = store.CaseCompleted, at(now), true
	c.Summary = "SIMULATED: nothing real was done on ad, okta (sandbox connectors). 3 actions: 3 succeeded"
	acts := runningActions()[:3]
	for i := range acts {
		acts[i].Status, acts[i].Verified, acts[i].LastError = store.ActionSucceeded, true, ""
	}
	acts[0].Simulated, acts[1].Simulated = true, true // ad, okta; vpn is real
	return c, acts
}

// simulatedPlan is testPlan with its ad and okta actions on sandbox
// connectors.
func simulatedPlan() (p view.Plan) {
	p = testPlan()
	for i := range p.Actions {
		if p.Actions[i].Connector == "ad" || p.Actions[i].Connector == "okta" {
			p.Actions[i].Simulated = true
		}
	}
	return p
}

// TestSimulatedMarking: a card about simulated systems can never pass for
// real. The status card and the plan preview open with a banner naming the
// sandbox connectors, mark every simulated action (and no real one), and
// their fallback text says SIMULATED after the name; a real case shows none
// of it.
func TestSimulatedMarking(t *testing.T) {
	t.Run("status card", func(t *testing.T) {
		c, acts := simulatedCase()
		bs, text := StatusCard(c, acts, now, names)
		raw := string(encode(t, bs))
		if !strings.HasPrefix(text, "Offboarding Dana Whitfield (E1001, SIMULATED): completed") {
			t.Errorf("fallback text %q does not say SIMULATED", text)
		}
		if !strings.Contains(raw, "*Simulated* — ad, okta are sandbox simulations: nothing real was revoked there") {
			t.Errorf("no simulated banner naming ad and okta:\n%s", raw)
		}
		lines := actionLines(t, raw)
		for name, want := range map[string]bool{"disable_ad": true, "revoke_okta_sessions": true, "revoke_vpn": false} {
			if got := strings.Contains(lines[name], "_simulated_"); got != want {
				t.Errorf("%s marked simulated = %t, want %t: %q", name, got, want, lines[name])
			}
		}
	})
	t.Run("plan preview", func(t *testing.T) {
		bs, text := PlanPreview(simulatedPlan(), 42)
		raw := string(encode(t, bs))
		if !strings.HasPrefix(text, "Plan to offboard Dana Whitfield (SIMULATED): 5 actions") {
			t.Errorf("fallback text %q does not say SIMULATED", text)
		}
		if !strings.Contains(raw, "*Simulated* — ad, okta are sandbox simulations: nothing real will be revoked there") {
			t.Errorf("no simulated banner naming ad and okta:\n%s", raw)
		}
		if n := strings.Count(raw, "_simulated_"); n != 3 { // disable_ad, revoke_okta_sessions, remove_groups
			t.Errorf("%d actions marked simulated, want 3:\n%s", n, raw)
		}
		_, resolved := PlanResolved(simulatedPlan(), 42, true, "Pat Manager", now)
		if !strings.HasPrefix(resolved, "Plan to offboard Dana Whitfield (SIMULATED) confirmed") {
			t.Errorf("resolved plan's fallback text %q does not say SIMULATED", resolved)
		}
	})
	t.Run("case closed reply", func(t *testing.T) {
		c, _ := simulatedCase()
		bs, text := CaseClosed(c, 57, "3f2a9c1d")
		if raw := string(encode(t, bs)); !strings.HasPrefix(text, "Offboarding of Dana Whitfield (SIMULATED) completed") || !strings.Contains(raw, "nothing real was revoked") {
			t.Errorf("closed reply does not say it was simulated: %q\n%s", text, raw)
		}
	})
	t.Run("home tab", func(t *testing.T) {
		sim, _ := simulatedCase()
		sim.Status = store.CaseRunning
		home := string(encode(t, HomeTab([]store.Case{sim, runningCase()}, nil, "U0VIEWER1")))
		if n := strings.Count(home, "_simulated_"); n != 1 {
			t.Errorf("%d cases marked simulated on the home tab, want 1:\n%s", n, home)
		}
	})
	t.Run("a real case says nothing of it", func(t *testing.T) {
		bs, text := StatusCard(runningCase(), runningActions(), now, names)
		pbs, ptext := PlanPreview(testPlan(), 42)
		cbs, ctext := CaseClosed(runningCase(), 57, "3f2a9c1d")
		for _, s := range []string{text, ptext, ctext, string(encode(t, bs)), string(encode(t, pbs)), string(encode(t, cbs))} {
			if strings.Contains(strings.ToLower(s), "simulat") {
				t.Errorf("a real case or plan mentions simulation:\n%s", s)
			}
		}
	})
}

// actionLines maps an action name to its line in an encoded card.
func actionLines(t *testing.T, raw string) map[string]string {
	t.Helper()
	var texts []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if s, ok := v["text"].(string); ok {
				texts = append(texts, s)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var doc any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	walk(doc)
	out := map[string]string{}
	for _, s := range texts {
		for _, l := range strings.Split(s, "\n") {
			if i := strings.Index(l, " *"); i >= 0 {
				if j := strings.Index(l[i+2:], "*"); j > 0 {
					out[l[i+2:i+2+j]] = l
				}
			}
		}
	}
	return out
}
