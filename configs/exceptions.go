package configs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/kineticsec/kinetic/directory"
)

// Defaults for approval chains.
const (
	DefaultStepTimeout = 24 * time.Hour
)

// Approver references a chain step may use.
const (
	ApproverManager   = "manager"
	ApproverHRPartner = "hr_partner"
)

// Notification targets an escalation level may use besides user:, group:
// and channel: references.
const (
	TargetOwner          = "owner"
	TargetSecurityAlerts = "security_alerts"
)

var effects = []string{EffectForwarding, EffectLegalHold, EffectDelayEquipment, EffectDelayAction}

// flags are the policy's compiled one-off conditions.
type flags struct {
	forbidCritical, twoPerson, securityOfficer cel.Program
	compliance                                 []cel.Program
}

// validateApprovals checks chains, exceptions, escalation levels,
// compliance profiles and the mass-termination guard, including their
// references to groups in svc (skipped when svc is nil).
func (p *Policy) validateApprovals(d *doc, svc *Service) {
	f := &p.File
	for _, name := range slices.Sorted(maps.Keys(f.Actions)) {
		if a := f.Actions[name]; a != nil && a.Lead > 0 && a.Phase == PhaseCritical {
			d.add(joinKey("actions", name)+".lead", "a critical revocation cannot run before the effective time (it would cut access before the last day)")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(f.Chains)) {
		path := joinKey("chains", name)
		ch := f.Chains[name]
		if ch == nil || len(ch.Steps) == 0 {
			d.add(path, "a chain needs at least one step")
			continue
		}
		for i, st := range ch.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", path, i)
			if st == nil {
				d.add(sp, "empty step")
				continue
			}
			if strings.TrimSpace(st.Name) == "" {
				d.add(sp+".name", "every step needs a name")
			}
			if len(st.Approvers) == 0 {
				d.add(sp+".approvers", "a step needs approvers (manager, hr_partner, group:NAME, user:ID)")
			}
			checkRefs(d, svc, sp+".approvers", st.Approvers, true)
			checkRefs(d, svc, sp+".fallback", st.Fallback, true)
			switch st.Mode {
			case "", "any", "all":
				if st.N != 0 {
					d.add(sp+".n", "n applies only to mode n_of")
				}
			case "n_of":
				if st.N < 2 {
					d.add(sp+".n", "mode n_of needs n of at least 2 (use any for 1)")
				}
			default:
				d.add(sp+".mode", "unknown mode %q (want any, all or n_of)", st.Mode)
			}
			switch st.OnTimeout {
			case "", "deny", "approve":
			case "escalate":
				if len(st.Fallback) == 0 {
					d.add(sp+".on_timeout", "escalate needs fallback approvers")
				}
			default:
				d.add(sp+".on_timeout", "unknown on_timeout %q (want escalate, deny or approve)", st.OnTimeout)
			}
			if st.RemindBefore > 0 && st.RemindBefore.D() >= stepTimeout(st) {
				d.add(sp+".remind_before", "must be shorter than the step's timeout (%s)", stepTimeout(st))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(f.Exceptions)) {
		path := joinKey("exceptions", name)
		ex := f.Exceptions[name]
		if ex == nil {
			d.add(path, "empty exception kind")
			continue
		}
		if !slices.Contains(effects, ex.Effect) {
			d.add(path+".effect", "unknown effect %q (want %s)", ex.Effect, strings.Join(effects, ", "))
		}
		ch, ok := f.Chains[ex.Chain]
		if !ok {
			d.add(path+".chain", "unknown chain %q", ex.Chain)
		}
		if ok && ch != nil && !ex.AllowAutoApprove {
			for i, st := range ch.Steps {
				if st != nil && st.OnTimeout == "approve" {
					d.add(path+".chain", "chain %q step %d approves on timeout, which this kind does not allow (allow_auto_approve)", ex.Chain, i)
				}
			}
		}
		for key, list := range map[string][]string{"holds": ex.Holds, "add": ex.Add, "at_expiry": ex.AtExpiry, "actions": ex.Actions} {
			for i, a := range list {
				if _, ok := f.Actions[a]; !ok {
					d.add(fmt.Sprintf("%s.%s[%d]", path, key, i), "unknown action %q", a)
				}
			}
		}
		switch ex.Effect {
		case EffectForwarding:
			if ex.MaxDays <= 0 {
				d.add(path+".max_days", "forwarding needs max_days")
			}
			if len(ex.Add) == 0 {
				d.add(path+".add", "forwarding needs the action that sets it up")
			}
			if len(ex.AtExpiry) == 0 {
				d.add(path+".at_expiry", "forwarding needs the action that removes it at expiry")
			}
		case EffectLegalHold:
			if len(ex.Holds) == 0 {
				d.add(path+".holds", "a legal hold needs the destroying actions it holds")
			}
			if _, ok := f.Chains[ex.ReleaseChain]; !ok {
				d.add(path+".release_chain", "unknown chain %q (a legal hold is released by an approval of its own)", ex.ReleaseChain)
			}
		case EffectDelayEquipment, EffectDelayAction:
			if ex.MaxDays <= 0 {
				d.add(path+".max_days", "%s needs max_days", ex.Effect)
			}
			if ex.Effect == EffectDelayAction && len(ex.Actions) == 0 {
				d.add(path+".actions", "delay_action needs the actions it may delay")
			}
		}
	}
	if r := f.Reconcile; r != nil {
		for i, a := range r.After {
			switch {
			case a <= 0:
				d.add(fmt.Sprintf("reconcile.after[%d]", i), "must be a positive duration")
			case i > 0 && a <= r.After[i-1]:
				d.add(fmt.Sprintf("reconcile.after[%d]", i), "offsets must increase one after another")
			}
		}
		if r.NightlyDays < 0 || r.NightlyDays > 366 {
			d.add("reconcile.nightly_days", "must be between 0 (off) and 366")
		}
	}
	for i, l := range f.Escalation.Levels {
		lp := fmt.Sprintf("escalation.levels[%d]", i)
		if l == nil || len(l.Notify) == 0 {
			d.add(lp, "a level needs notify targets")
			continue
		}
		if i > 0 && f.Escalation.Levels[i-1] != nil && l.After <= f.Escalation.Levels[i-1].After {
			d.add(lp+".after", "levels must come later one after another")
		}
		for j, t := range l.Notify {
			if t == TargetOwner || t == TargetSecurityAlerts {
				continue
			}
			if name, ok := strings.CutPrefix(t, "channel:"); ok {
				if svc != nil && len(svc.Routing) > 0 && svc.Routing[name] == nil && name != svc.Alerts.SecurityChannel {
					d.add(fmt.Sprintf("%s.notify[%d]", lp, j), "%q has no route in the service file: add routing.%s", t, name)
				}
				continue
			}
			checkRef(d, svc, fmt.Sprintf("%s.notify[%d]", lp, j), t, false)
		}
	}
	for i, c := range f.Compliance {
		cp := fmt.Sprintf("compliance[%d]", i)
		if c == nil || c.Name == "" || c.CriticalWithin <= 0 {
			d.add(cp, "a compliance profile needs a name and critical_within")
		}
	}
	if g := f.MassTermination; g != nil {
		if g.MaxCases <= 0 || g.Window <= 0 {
			d.add("mass_termination", "max_cases and window must be positive")
		}
		if len(g.Approvers) == 0 {
			d.add("mass_termination.approvers", "the guard needs approvers")
		}
		checkRefs(d, svc, "mass_termination.approvers", g.Approvers, false)
	}
}

func stepTimeout(st *ChainStep) time.Duration {
	if st.Timeout > 0 {
		return st.Timeout.D()
	}
	return DefaultStepTimeout
}

// checkRefs validates approver references; relative ones (manager,
// hr_partner) only where allowed.
func checkRefs(d *doc, svc *Service, path string, refs []string, relative bool) {
	for i, r := range refs {
		checkRef(d, svc, fmt.Sprintf("%s[%d]", path, i), r, relative)
	}
}

// checkRef validates one approver reference at key path kp.
func checkRef(d *doc, svc *Service, kp, r string, relative bool) {
	switch {
	case r == ApproverManager || r == ApproverHRPartner:
		if !relative {
			d.add(kp, "%q only makes sense in an approval chain step", r)
		}
	case strings.HasPrefix(r, "user:") && len(r) > 5:
	case strings.HasPrefix(r, "group:") && len(r) > 6:
		if svc != nil {
			if _, ok := svc.ApproverGroups[r[6:]]; !ok {
				d.add(kp, "undefined approver group %q (define it under approver_groups in the service file)", r[6:])
			}
		}
	default:
		d.add(kp, "unknown approver %q (want manager, hr_partner, group:NAME or user:ID)", r)
	}
}

// compileFlags compiles the policy's one-off CEL conditions.
func (p *Policy) compileFlags(d *doc) {
	env, err := celEnv()
	if err != nil {
		return
	}
	one := func(path, src string) cel.Program {
		if strings.TrimSpace(src) == "" {
			return nil
		}
		ast, iss := env.Compile(src)
		if iss != nil && iss.Err() != nil {
			d.add(path, "CEL does not compile: %s", iss.Err())
			return nil
		}
		if !ast.OutputType().IsExactType(types.BoolType) {
			d.add(path, "CEL must return a bool, not %s", ast.OutputType())
			return nil
		}
		prg, err := env.Program(ast, cel.CostLimit(celCostLimit))
		if err != nil {
			d.add(path, "CEL: %v", err)
			return nil
		}
		return prg
	}
	f := &p.File
	p.flags.forbidCritical = one("forbid_critical_exceptions_when", f.ForbidCriticalExceptionsWhen)
	p.flags.twoPerson = one("two_person_rule_when", f.TwoPersonRuleWhen)
	p.flags.securityOfficer = one("security_officer_when", f.SecurityOfficerWhen)
	for i, c := range f.Compliance {
		if c == nil {
			p.flags.compliance = append(p.flags.compliance, nil)
			continue
		}
		p.flags.compliance = append(p.flags.compliance, one(fmt.Sprintf("compliance[%d].when", i), c.When))
	}
}

// Conditions are the policy's per-case decisions beyond action selection.
type Conditions struct {
	// ForbidCriticalExceptions: no exception may hold or delay a critical
	// action.
	ForbidCriticalExceptions bool
	// TwoPersonRule: exceptions need two distinct approvers.
	TwoPersonRule bool
	// NotifySecurityOfficer: tell the security officers as the case opens.
	NotifySecurityOfficer bool
	// Compliance is the first matching compliance profile, or nil.
	Compliance *ComplianceProfile
}

// Conditions evaluates the policy's one-off conditions for emp and f.
func (p *Policy) Conditions(emp *directory.Employee, f Facts) (Conditions, error) {
	vars := celVars(emp, f)
	eval := func(name string, prg cel.Program) (bool, error) {
		if prg == nil {
			return false, nil
		}
		out, _, err := prg.Eval(vars)
		if err != nil {
			return false, fmt.Errorf("policy %s: %w", name, err)
		}
		b, _ := out.Value().(bool)
		return b, nil
	}
	var c Conditions
	var err error
	if c.ForbidCriticalExceptions, err = eval("forbid_critical_exceptions_when", p.flags.forbidCritical); err != nil {
		return c, err
	}
	if c.TwoPersonRule, err = eval("two_person_rule_when", p.flags.twoPerson); err != nil {
		return c, err
	}
	if c.NotifySecurityOfficer, err = eval("security_officer_when", p.flags.securityOfficer); err != nil {
		return c, err
	}
	for i, prg := range p.flags.compliance {
		prof := p.File.Compliance[i]
		ok := prg == nil // an empty when applies to every case
		if prg != nil {
			if ok, err = eval("compliance "+prof.Name, prg); err != nil {
				return c, err
			}
		}
		if ok {
			c.Compliance = prof
			break
		}
	}
	return c, nil
}

// StepTimeout returns a chain step's timeout (default 24h).
func (st *ChainStep) StepTimeout() time.Duration { return stepTimeout(st) }
