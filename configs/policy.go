package configs

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/kineticsec/kinetic/directory"
)

// Policy defaults, applied when neither the action, the policy defaults nor
// a rule says otherwise.
const (
	DefaultSLA          = 4 * time.Hour
	DefaultMaxAttempts  = 6
	DefaultEquipmentDue = 7 * 24 * time.Hour
)

// celCostLimit bounds the work one rule's condition may do.
const celCostLimit = 100_000

// Policy is a loaded, validated, compiled policy. It is immutable and safe
// for concurrent use.
type Policy struct {
	// File is the policy as written, with defaults applied to
	// Defaults.MaxAttempts (6), Defaults.EquipmentDue (7d) and every phase
	// missing from Defaults.SLA (4h).
	File PolicyFile
	// Path is the file it was loaded from (for the embedded default, its
	// name in the binary: policy.example.yaml).
	Path string
	// Hash is the hex SHA-256 of the policy file's bytes: the policy version
	// a case is planned under.
	Hash string

	rules []compiledRule
	flags flags
}

type compiledRule struct {
	rule *Rule
	prg  cel.Program // nil: always matches
}

// Facts are facts about the offboarding request that rules may test, as the
// CEL variable `request`: request.reason, request.involuntary,
// request.trigger.
type Facts struct {
	Reason      string
	Involuntary bool
	// Trigger is slack, teams, hr, api or cli.
	Trigger string
}

// Selected is one action chosen for an employee.
type Selected struct {
	Name string
	Def  *ActionDef
	// Phase is the phase's order (1 critical, 2 entitlements, 3
	// notifications); PhaseName its name.
	Phase     int
	PhaseName string
	// SLA is the time allowed from the effective time: a matching rule's
	// override for the action, else a matching rule's override for its
	// phase, else the action's own sla, else defaults.sla[phase], else 4h.
	SLA time.Duration
	// MaxAttempts is the action's max_attempts, else the default (6).
	MaxAttempts int
	// DependsOn lists the action's dependencies that are themselves
	// selected, sorted.
	DependsOn []string
	// Params is a copy of the action's params.
	Params map[string]string
}

// Selection is what the policy chose for one employee.
type Selection struct {
	// Actions are sorted by Phase, then Name.
	Actions []Selected
	// Rules are the names of the rules that matched, in policy order.
	Rules []string
}

// LoadPolicy reads and validates a policy file against a service
// configuration (for tests and `kinetic plan --policy`); see ParsePolicy.
func LoadPolicy(path string, svc *Service) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, (&Errors{List: []Error{{File: path, Msg: readErr(err)}}}).err()
	}
	return ParsePolicy(path, data, svc)
}

// ParsePolicy parses, validates and compiles a policy. Actions must name
// connector instances configured in svc and operations their types support;
// when svc is nil those two checks are skipped. name is used in error
// messages and as the Policy's Path. All problems are returned at once, as
// *Errors.
func ParsePolicy(name string, data []byte, svc *Service) (*Policy, error) {
	p, d := parsePolicy(name, data, svc)
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	return p, nil
}

func parsePolicy(name string, data []byte, svc *Service) (*Policy, *doc) {
	sum := sha256.Sum256(data)
	p := &Policy{Path: name, Hash: hex.EncodeToString(sum[:])}
	d := decodeStrict(name, data, &p.File)
	f := &p.File
	for n, a := range f.Actions {
		if a != nil {
			a.Name = n
		}
	}
	f.Defaults.applyDefaults()
	if d.fatal {
		return p, d
	}
	p.validate(d, svc)
	p.validateApprovals(d, svc)
	p.compile(d)
	p.compileFlags(d)
	p.validateClockApprovals(d)
	return p, d
}

// validateClockApprovals refuses, at load, a chain step that would let a
// clock stand in for people where the policy asks for two of them: a step
// with on_timeout: approve that needs more than one approver (mode all or
// n_of), or any approving step when two_person_rule_when always holds.
// Where the two-person rule or a clearance rule applies only to some
// cases, the engine refuses the approval at the timeout instead (the step
// escalates or expires).
func (p *Policy) validateClockApprovals(d *doc) {
	always := false
	if prg := p.flags.twoPerson; prg != nil {
		// Evaluated with no employee or request: a condition that holds
		// whatever they are ("true", "true || …") holds for every case.
		if out, _, err := prg.Eval(map[string]any{}); err == nil {
			always, _ = out.Value().(bool)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.File.Chains)) {
		ch := p.File.Chains[name]
		if ch == nil {
			continue
		}
		for i, st := range ch.Steps {
			if st == nil || st.OnTimeout != "approve" {
				continue
			}
			key := fmt.Sprintf("%s.steps[%d].on_timeout", joinKey("chains", name), i)
			switch {
			case st.Mode == "all" || st.Mode == "n_of":
				d.add(key, "a step that needs more than one approver (mode %s) cannot approve on timeout: a clock never stands in for a second person (use deny or escalate)", st.Mode)
			case always:
				d.add(key, "approve on timeout is not allowed while two_person_rule_when always holds: the two-person rule is never satisfied by a clock (use deny or escalate)")
			}
		}
	}
}

func (pd *PolicyDefaults) applyDefaults() {
	if pd.MaxAttempts == 0 {
		pd.MaxAttempts = DefaultMaxAttempts
	}
	if pd.EquipmentDue == 0 {
		pd.EquipmentDue = Duration(DefaultEquipmentDue)
	}
	if pd.SLA == nil {
		pd.SLA = map[string]Duration{}
	}
	for _, ph := range []string{PhaseCritical, PhaseEntitlements, PhaseNotifications} {
		if _, ok := pd.SLA[ph]; !ok {
			pd.SLA[ph] = Duration(DefaultSLA)
		}
	}
}

var phases = PhaseCritical + ", " + PhaseEntitlements + " or " + PhaseNotifications

func (p *Policy) validate(d *doc, svc *Service) {
	f := &p.File
	if !d.has("version") {
		d.add("version", "version is required (1)")
	} else if f.Version != 1 {
		d.add("version", "unsupported version %d (want 1)", f.Version)
	}
	for _, ph := range slices.Sorted(maps.Keys(f.Defaults.SLA)) {
		if PhaseNumber(ph) == 0 {
			d.add("defaults.sla."+ph, "unknown phase %q (want %s)", ph, phases)
		} else if f.Defaults.SLA[ph] <= 0 {
			d.add("defaults.sla."+ph, "must be a positive duration")
		}
	}
	if f.Defaults.MaxAttempts < 0 {
		d.add("defaults.max_attempts", "must not be negative (0 means %d)", DefaultMaxAttempts)
	}

	if len(f.Actions) == 0 {
		d.add("actions", "the policy needs at least one action")
	}
	for _, name := range slices.Sorted(maps.Keys(f.Actions)) {
		p.validateAction(d, svc, name, f.Actions[name])
	}
	p.checkCycles(d)
	if f.Payroll != nil {
		validatePayroll(d, f.Payroll)
	}
	p.validateEquipment(d, svc)
	p.validateTickets(d, svc)

	if len(f.Rules) == 0 {
		d.add("rules", "the policy needs at least one rule")
	}
	seen := map[string]int{}
	for i, r := range f.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		if r == nil {
			d.add(path, "empty rule")
			continue
		}
		switch prev, dup := seen[r.Name]; {
		case strings.TrimSpace(r.Name) == "":
			d.add(path+".name", "every rule needs a name")
		case dup:
			d.add(path+".name", "duplicate rule name %q (also rules[%d])", r.Name, prev)
		default:
			seen[r.Name] = i
		}
		for j, a := range r.Add {
			if _, ok := f.Actions[a]; !ok {
				d.add(fmt.Sprintf("%s.add[%d]", path, j), "unknown action %q", a)
			}
		}
		for j, a := range r.Remove {
			if _, ok := f.Actions[a]; !ok {
				d.add(fmt.Sprintf("%s.remove[%d]", path, j), "unknown action %q", a)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(r.SLA)) {
			kp := path + ".sla." + k
			if _, ok := f.Actions[k]; !ok && PhaseNumber(k) == 0 {
				d.add(kp, "%q is neither an action nor a phase (%s)", k, phases)
			}
			if r.SLA[k] <= 0 {
				d.add(kp, "must be a positive duration")
			}
		}
	}
}

func (p *Policy) validateAction(d *doc, svc *Service, name string, a *ActionDef) {
	path := joinKey("actions", name)
	if a == nil {
		d.add(path, "empty action (needs connector, operation and phase)")
		return
	}
	if !nameRE.MatchString(name) {
		d.add(path, "action name %q must be letters, digits, '.', '-' or '_'", name)
	}
	if PhaseNumber(name) != 0 {
		d.add(path, "an action may not be named after a phase")
	}
	switch ci, ok := svc.connector(a.Connector); {
	case a.Connector == "":
		d.add(path+".connector", "connector is required (a connector instance name)")
	case svc != nil && !ok:
		d.add(path+".connector", "connector %q is not configured (configured: %s)", a.Connector, strings.Join(slices.Sorted(maps.Keys(svc.Connectors)), ", "))
	case a.Operation == "", ci == nil:
		// Nothing to check against (the service reports an empty instance).
	case ok && ci.spec != nil && ci.spec.ManualOnly != nil && ci.Block != nil:
		// A manual-only type (a desk): nothing runs there, so every step
		// is manual and names one of the operations it declares.
		ops := ci.spec.ManualOnly(ci.Block)
		if !a.Manual {
			d.add(path+".manual", "connector %q (%s) is manual-only (people do its steps by hand): set manual: true", a.Connector, describeInstance(ci))
		}
		if !slices.Contains(ops, a.Operation) {
			d.add(path+".operation", "connector %q (%s) declares no manual operation %q (declared: %s)",
				a.Connector, describeInstance(ci), a.Operation, strings.Join(slices.Sorted(slices.Values(ops)), ", "))
		}
	case ok && !a.Manual: // a manual step is never sent to its connector
		if ops, known := instanceOperations(ci); known && !slices.Contains(ops, a.Operation) {
			d.add(path+".operation", "connector %q (%s) does not support operation %q (supported: %s)",
				a.Connector, describeInstance(ci), a.Operation, strings.Join(slices.Sorted(slices.Values(ops)), ", "))
		}
	}
	if a.Operation == "" {
		d.add(path+".operation", "operation is required")
	}
	if PhaseNumber(a.Phase) == 0 {
		if a.Phase == "" {
			d.add(path+".phase", "phase is required (%s)", phases)
		} else {
			d.add(path+".phase", "unknown phase %q (want %s)", a.Phase, phases)
		}
	}
	if a.MaxAttempts < 0 {
		d.add(path+".max_attempts", "must not be negative (0 means the default)")
	}
	seen := map[string]bool{}
	for i, dep := range a.DependsOn {
		dp := fmt.Sprintf("%s.depends_on[%d]", path, i)
		other, ok := p.File.Actions[dep]
		switch {
		case dep == name:
			d.add(dp, "an action cannot depend on itself")
		case !ok:
			d.add(dp, "unknown action %q", dep)
		case seen[dep]:
			d.add(dp, "%q is listed twice", dep)
		case other != nil && PhaseNumber(a.Phase) != 0 && PhaseNumber(other.Phase) > PhaseNumber(a.Phase):
			d.add(dp, "%q is in the later phase %s; an action in phase %s cannot wait for it", dep, other.Phase, a.Phase)
		}
		seen[dep] = true
	}
	for _, k := range slices.Sorted(maps.Keys(a.Params)) {
		if strings.TrimSpace(k) == "" {
			d.add(path+".params", "empty parameter name")
		}
	}
}

// connector returns the named instance and whether it is configured (it may
// be configured but empty: nil). It is safe on a nil Service.
func (s *Service) connector(name string) (*ConnectorInstance, bool) {
	if s == nil {
		return nil, false
	}
	ci, ok := s.Connectors[name]
	return ci, ok
}

// checkCycles reports each dependency cycle once, naming it
// ("a -> b -> a").
func (p *Policy) checkCycles(d *doc) {
	acts := p.File.Actions
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	reported := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		if a := acts[n]; a != nil {
			for _, dep := range a.DependsOn {
				if _, ok := acts[dep]; !ok || dep == n {
					continue // reported elsewhere
				}
				switch color[dep] {
				case white:
					visit(dep)
				case grey:
					i := slices.Index(stack, dep)
					cycle := slices.Clone(stack[i:])
					// Start the cycle at its smallest name, so each is
					// reported once and the same way every time.
					m := slices.Index(cycle, slices.Min(cycle))
					cycle = append(cycle[m:], cycle[:m]...)
					key := strings.Join(cycle, " -> ")
					if !reported[key] {
						reported[key] = true
						d.add(joinKey("actions", cycle[0])+".depends_on", "dependency cycle: %s -> %s", key, cycle[0])
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	for _, n := range slices.Sorted(maps.Keys(acts)) {
		if color[n] == white {
			visit(n)
		}
	}
}

// CEL environment.

// employee is the CEL view of directory.Employee (variable `employee`).
type employee struct {
	ID           string            `cel:"id"`
	Email        string            `cel:"email"`
	Type         string            `cel:"type"`
	Status       string            `cel:"status"`
	Department   string            `cel:"department"`
	Location     string            `cel:"location"`
	Country      string            `cel:"country"`
	TimeZone     string            `cel:"time_zone"`
	Clearance    string            `cel:"clearance"`
	RoleProfiles []string          `cel:"role_profiles"`
	Manager      string            `cel:"manager"`
	HRPartner    string            `cel:"hr_partner"`
	Attributes   map[string]string `cel:"attributes"`
}

// request is the CEL view of Facts (variable `request`).
type request struct {
	Reason      string `cel:"reason"`
	Involuntary bool   `cel:"involuntary"`
	Trigger     string `cel:"trigger"`
}

var celEnv = sync.OnceValues(func() (*cel.Env, error) {
	et, rt := reflect.TypeFor[employee](), reflect.TypeFor[request]()
	return cel.NewEnv(
		ext.NativeTypes(et, rt, ext.ParseStructTags(true)),
		cel.Variable("employee", cel.ObjectType("configs.employee")),
		cel.Variable("request", cel.ObjectType("configs.request")),
		ext.Strings(),
		cel.ParserExpressionSizeLimit(10_000),
	)
})

// compile compiles every rule's condition, reporting those that do not
// compile or do not return a bool.
func (p *Policy) compile(d *doc) {
	env, err := celEnv()
	if err != nil {
		d.add("", "CEL environment: %v", err) // a bug, not a config problem
		return
	}
	for i, r := range p.File.Rules {
		if r == nil {
			continue
		}
		cr := compiledRule{rule: r}
		if strings.TrimSpace(r.When) != "" {
			path := fmt.Sprintf("rules[%d].when", i)
			ast, iss := env.Compile(r.When)
			if iss != nil && iss.Err() != nil {
				var msgs []string
				for _, e := range iss.Errors() {
					msgs = append(msgs, fmt.Sprintf("%s (column %d)", e.Message, e.Location.Column()+1))
				}
				d.add(path, "CEL does not compile: %s", strings.Join(msgs, "; "))
				continue
			}
			if !ast.OutputType().IsExactType(types.BoolType) {
				d.add(path, "CEL must return a bool, not %s", ast.OutputType())
				continue
			}
			prg, err := env.Program(ast, cel.CostLimit(celCostLimit))
			if err != nil {
				d.add(path, "CEL: %v", err)
				continue
			}
			cr.prg = prg
		}
		p.rules = append(p.rules, cr)
	}
}

// Select evaluates the rules in order for emp and f and returns the actions
// they select. Each matching rule's add puts actions in the set and its
// remove takes them out, so a later rule wins; its sla overrides apply in
// the same order, an override keyed by an action's name beating one keyed
// by its phase. The result is deterministic: the same inputs give identical
// output. An error evaluating a rule's condition (for example a missing
// attributes key) names the rule.
func (p *Policy) Select(emp *directory.Employee, f Facts) (Selection, error) {
	if emp == nil {
		return Selection{}, errors.New("policy: no employee")
	}
	vars := celVars(emp, f)
	var (
		sel      Selection
		chosen   = map[string]bool{}
		actionSL = map[string]time.Duration{}
		phaseSL  = map[string]time.Duration{}
	)
	for _, cr := range p.rules {
		if cr.prg != nil {
			out, _, err := cr.prg.Eval(vars)
			if err != nil {
				return Selection{}, fmt.Errorf("policy rule %q: %w", cr.rule.Name, err)
			}
			b, ok := out.Value().(bool)
			if !ok {
				return Selection{}, fmt.Errorf("policy rule %q: condition returned %s, not a bool", cr.rule.Name, out.Type())
			}
			if !b {
				continue
			}
		}
		sel.Rules = append(sel.Rules, cr.rule.Name)
		for _, a := range cr.rule.Add {
			chosen[a] = true
		}
		for _, a := range cr.rule.Remove {
			delete(chosen, a)
		}
		for k, v := range cr.rule.SLA {
			if _, isAction := p.File.Actions[k]; isAction {
				actionSL[k] = v.D()
			} else {
				phaseSL[k] = v.D()
			}
		}
	}
	for name := range chosen {
		def := p.File.Actions[name]
		s := Selected{
			Name: name, Def: def,
			Phase: PhaseNumber(def.Phase), PhaseName: def.Phase,
			MaxAttempts: cmp.Or(def.MaxAttempts, p.File.Defaults.MaxAttempts, DefaultMaxAttempts),
			Params:      maps.Clone(def.Params),
		}
		switch {
		case actionSL[name] > 0:
			s.SLA = actionSL[name]
		case phaseSL[def.Phase] > 0:
			s.SLA = phaseSL[def.Phase]
		default:
			s.SLA = cmp.Or(def.SLA.D(), p.File.Defaults.SLA[def.Phase].D(), DefaultSLA)
		}
		for _, dep := range def.DependsOn {
			if chosen[dep] && !slices.Contains(s.DependsOn, dep) {
				s.DependsOn = append(s.DependsOn, dep)
			}
		}
		slices.Sort(s.DependsOn)
		sel.Actions = append(sel.Actions, s)
	}
	slices.SortFunc(sel.Actions, func(a, b Selected) int {
		return cmp.Or(cmp.Compare(a.Phase, b.Phase), strings.Compare(a.Name, b.Name))
	})
	return sel, nil
}

// celVars are the CEL variables for emp and f.
func celVars(emp *directory.Employee, f Facts) map[string]any {
	return map[string]any{
		"employee": &employee{
			ID: emp.ID, Email: emp.Email, Type: emp.Type, Status: emp.Status,
			Department: emp.Department, Location: emp.Location, Country: emp.Country,
			TimeZone: emp.TimeZone, Clearance: emp.Clearance,
			RoleProfiles: nonNil(emp.RoleProfiles), Manager: emp.Manager, HRPartner: emp.HRPartner,
			Attributes: nonNilMap(emp.Attributes),
		},
		"request": &request{Reason: f.Reason, Involuntary: f.Involuntary, Trigger: f.Trigger},
	}
}

// Actions returns the catalog's action names, sorted.
func (p *Policy) Actions() []string { return slices.Sorted(maps.Keys(p.File.Actions)) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
