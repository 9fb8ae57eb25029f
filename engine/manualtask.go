package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// manualTask is what the owning team is told to do for a manual step. A
// badge step (deactivate_badge on a facility without an API) names the
// person, their badge numbers in that system (the HR record's account
// for the instance, the action's target) and the doors (the action's
// doors parameter; every door when unset), and asks who collected or
// disabled the badge:
//
//	Lagos security desk collects or disables the badge: Erin Employee
//	(E1), badge B-1; doors: Main entrance, Server room (L2). Mark it
//	done saying who collected or disabled it.
//
// Any other manual step keeps the plain "NAME for PERSON is a manual
// step: mark it done when finished".
func manualTask(c *store.Case, a *store.Action) string {
	if connectors.Operation(a.Operation) != connectors.OpDeactivateBadge {
		return fmt.Sprintf("%s for %s is a manual step: mark it done when finished", a.Name, c.EmployeeName)
	}
	var params map[string]string
	_ = json.Unmarshal([]byte(a.Params), &params) // as execute does: bad JSON is no params
	what := strings.TrimSpace(a.Description)
	if what == "" {
		what = "Deactivate or collect the badge (" + a.Name + ")"
		if f := strings.TrimSpace(params["facility"]); f != "" {
			what = "Deactivate or collect the badge at " + f + " (" + a.Name + ")"
		}
	}
	badges := "badge number not in the HR record: check the system"
	if n := strings.TrimSpace(a.TargetAccount); n != "" {
		badges = text.Plural(len(strings.Split(n, ",")), "badge") + " " + n
	}
	doors := "every door"
	if d := strings.TrimSpace(params["doors"]); d != "" {
		doors = d
	}
	return fmt.Sprintf("%s: %s (%s), %s; doors: %s. Mark it done saying who collected or disabled it.",
		what, c.EmployeeName, c.EmployeeID, badges, doors)
}

// AsksWhoCollected reports whether marking manual step a done asks who
// collected or disabled the badge: a deactivate_badge done by hand.
func AsksWhoCollected(a *store.Action) bool {
	return a.Manual && connectors.Operation(a.Operation) == connectors.OpDeactivateBadge
}

// ManualTask is manualTask for front ends: what the owning team is told
// to do for manual step a of case c.
func ManualTask(c *store.Case, a *store.Action) string { return manualTask(c, a) }

// CheckMarkDone says whether actor may mark manual step actionID done
// now, without changing anything, so a front end asks who did it only
// when the answer would be accepted; it returns the action and its case.
// MarkDone checks the same again.
func (e *Engine) CheckMarkDone(ctx context.Context, actionID int64, actor string) (*store.Action, *store.Case, error) {
	a, c, err := e.operable(ctx, actionID, actor, OpDone)
	if err != nil {
		return nil, nil, err
	}
	if err := markable(a); err != nil {
		return nil, nil, err
	}
	return a, c, nil
}

// markable says whether a may be marked done now: a manual step that is
// pending (its turn has come and it is not final).
func markable(a *store.Action) error {
	switch {
	case !a.Manual:
		return fmt.Errorf("%w: %s is not a manual step; Kinetic runs and verifies it", ErrInvalidRequest, a.Name)
	case store.ActionFinal(a.Status):
		return fmt.Errorf("%w: %s is already %s", ErrInvalidRequest, a.Name, a.Status)
	case a.Status != store.ActionPending:
		return fmt.Errorf("%w: %s is %s: it is not its turn yet", ErrInvalidRequest, a.Name, a.Status)
	}
	return nil
}

// manualStepParams returns params with, where the policy left them unset,
// the parameters the manual step's connector supplies
// (connectors.StepParamer: a desk's facility and doors). params itself is
// not changed.
func (e *Engine) manualStepParams(connector string, op connectors.Operation, params map[string]string) map[string]string {
	in, ok := e.reg.Get(connector)
	if !ok {
		return params
	}
	sp, ok := in.Connector.(connectors.StepParamer)
	if !ok {
		return params
	}
	out := maps.Clone(params)
	for k, v := range sp.StepParams(op) {
		if _, set := out[k]; !set {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}
