package configs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/directory"
)

func examplePolicy(t *testing.T) (*Policy, *directory.File) {
	t.Helper()
	clearEnv(t)
	cfg, err := defaultT()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := cfg.OpenDirectory()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Policy, dir
}

func names(sel Selection) []string {
	var out []string
	for _, a := range sel.Actions {
		out = append(out, a.Name)
	}
	return out
}

func TestExamplePolicySelections(t *testing.T) {
	pol, dir := examplePolicy(t)
	baselineCritical := []string{"block_m365_signin", "deactivate_okta", "disable_ad", "revoke_m365_sessions", "revoke_okta_sessions", "revoke_vpn"}
	for _, tc := range []struct {
		id      string
		facts   Facts
		rules   []string
		actions []string
		sla     map[string]time.Duration
	}{
		{
			id:    "E1001", // Sales employee
			rules: []string{"everyone", "sales"},
			actions: slices.Concat(baselineCritical, []string{
				"convert_mailbox", "deactivate_badge", "deactivate_salesforce", "remove_ad_groups", "transfer_salesforce_records",
				"create_recovery_task", "notify_payroll"}),
			sla: map[string]time.Duration{"disable_ad": time.Hour, "deactivate_salesforce": 4 * time.Hour, "notify_payroll": 24 * time.Hour},
		},
		{
			id:    "E1001",
			facts: Facts{Involuntary: true, Reason: "misconduct", Trigger: "hr"},
			rules: []string{"everyone", "sales", "involuntary"},
			actions: slices.Concat(baselineCritical, []string{
				"convert_mailbox", "deactivate_badge", "deactivate_salesforce", "remove_ad_groups", "transfer_salesforce_records",
				"create_recovery_task", "notify_payroll"}),
			sla: map[string]time.Duration{"disable_ad": 30 * time.Minute, "deactivate_salesforce": 4 * time.Hour},
		},
		{
			id:    "E1002", // Engineering contractor
			rules: []string{"everyone", "contractors", "engineering"},
			actions: slices.Concat(baselineCritical, []string{
				"deactivate_badge", "delete_aws_keys", "disable_aws_console", "remove_ad_groups",
				"create_recovery_task", "delete_mailbox"}),
			sla: map[string]time.Duration{"revoke_vpn": time.Hour, "delete_aws_keys": 4 * time.Hour},
		},
		{
			id:    "E1003", // top-secret engineer
			rules: []string{"everyone", "engineering", "cleared staff"},
			actions: []string{
				"block_m365_signin", "deactivate_okta", "deactivate_secure_badge", "disable_ad", "revoke_aws_keys_now",
				"revoke_m365_sessions", "revoke_okta_sessions", "revoke_vpn",
				"convert_mailbox", "deactivate_badge", "disable_aws_console", "remove_ad_groups",
				"create_recovery_task", "notify_payroll"},
			sla: map[string]time.Duration{"disable_ad": 15 * time.Minute, "revoke_aws_keys_now": 10 * time.Minute, "remove_ad_groups": time.Hour, "notify_payroll": 24 * time.Hour},
		},
		{
			id:    "E1003",
			facts: Facts{Involuntary: true},
			rules: []string{"everyone", "engineering", "involuntary", "cleared staff"},
			// cleared staff comes last, so its 15m beats involuntary's 30m.
			sla: map[string]time.Duration{"disable_ad": 15 * time.Minute},
		},
		{
			id:    "E1009", // intern
			rules: []string{"everyone", "interns", "engineering"},
			sla:   map[string]time.Duration{"notify_payroll": 8 * time.Hour},
		},
	} {
		t.Run(fmt.Sprintf("%s/%+v", tc.id, tc.facts), func(t *testing.T) {
			emp, err := dir.ByID(context.Background(), tc.id)
			if err != nil {
				t.Fatal(err)
			}
			sel, err := pol.Select(emp, tc.facts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sel.Rules, tc.rules) {
				t.Errorf("rules = %v, want %v", sel.Rules, tc.rules)
			}
			if tc.actions != nil && !slices.Equal(names(sel), tc.actions) {
				t.Errorf("actions = %v\nwant      %v", names(sel), tc.actions)
			}
			for _, a := range sel.Actions {
				if want, ok := tc.sla[a.Name]; ok && a.SLA != want {
					t.Errorf("%s SLA = %s, want %s", a.Name, a.SLA, want)
				}
				if a.Phase != PhaseNumber(a.PhaseName) || a.Def == nil || a.Def.Name != a.Name {
					t.Errorf("%s: %+v", a.Name, a)
				}
			}
		})
	}
}

func TestExamplePolicyDetails(t *testing.T) {
	pol, dir := examplePolicy(t)
	emp, _ := dir.ByID(context.Background(), "E1003")
	sel, err := pol.Select(emp, Facts{})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Selected{}
	for _, a := range sel.Actions {
		by[a.Name] = a
	}
	if a := by["remove_ad_groups"]; !slices.Equal(a.DependsOn, []string{"disable_ad"}) || a.Params["keep"] != "Domain Users" || a.PhaseName != "entitlements" || a.Phase != 2 {
		t.Errorf("remove_ad_groups = %+v", a)
	}
	if a := by["revoke_aws_keys_now"]; a.MaxAttempts != 10 {
		t.Errorf("revoke_aws_keys_now max attempts = %d", a.MaxAttempts)
	}
	if a := by["disable_ad"]; a.MaxAttempts != 6 {
		t.Errorf("disable_ad max attempts = %d", a.MaxAttempts)
	}
	if a := by["deactivate_secure_badge"]; a.Params["zone"] != "scif" || a.Phase != 1 {
		t.Errorf("deactivate_secure_badge = %+v", a)
	}
	// Params are copies.
	by["remove_ad_groups"].Params["keep"] = "changed"
	if pol.File.Actions["remove_ad_groups"].Params["keep"] != "Domain Users" {
		t.Error("Select returned the policy's own params map")
	}
	if got := pol.File.Defaults.EquipmentDue.D(); got != 7*24*time.Hour {
		t.Errorf("equipment_due = %s", got)
	}
}

const semanticsPolicy = `
version: 1
defaults:
  sla: {critical: 2h}
  max_attempts: 3
actions:
  a: {connector: c, operation: op, phase: critical}
  b: {connector: c, operation: op, phase: critical, sla: 20m, depends_on: [a]}
  c: {connector: c, operation: op, phase: entitlements, depends_on: [a, b], max_attempts: 9, params: {k: v}}
  d: {connector: c, operation: op, phase: notifications}
rules:
  - name: base
    add: [a, b, c]
    sla: {c: 5m}
  - name: drop-a
    when: employee.type == "contractor"
    remove: [a]
  - name: phase-override
    when: employee.department == "Ops"
    sla: {entitlements: 1m, critical: 45m}
  - name: re-add-a
    when: request.trigger == "cli"
    add: [a, d]
`

func TestSelectSemantics(t *testing.T) {
	pol, err := ParsePolicy("semantics.yaml", []byte(semanticsPolicy), nil)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		sla  time.Duration
		deps []string
		max  int
	}
	for _, tc := range []struct {
		name  string
		emp   directory.Employee
		facts Facts
		want  map[string]want
		rules []string
	}{
		{
			name:  "defaults and own SLA",
			emp:   directory.Employee{Type: "employee"},
			rules: []string{"base"},
			want: map[string]want{
				"a": {2 * time.Hour, nil, 3},
				"b": {20 * time.Minute, []string{"a"}, 3},
				"c": {5 * time.Minute, []string{"a", "b"}, 9}, // rule's action override
			},
		},
		{
			name:  "remove filters dependencies",
			emp:   directory.Employee{Type: "contractor"},
			rules: []string{"base", "drop-a"},
			want: map[string]want{
				"b": {20 * time.Minute, nil, 3},
				"c": {5 * time.Minute, []string{"b"}, 9},
			},
		},
		{
			name:  "phase override beats own SLA; action override beats a later phase override",
			emp:   directory.Employee{Department: "Ops"},
			rules: []string{"base", "phase-override"},
			want: map[string]want{
				"a": {45 * time.Minute, nil, 3},
				"b": {45 * time.Minute, []string{"a"}, 3},
				"c": {5 * time.Minute, []string{"a", "b"}, 9},
			},
		},
		{
			name:  "a later add undoes a remove",
			emp:   directory.Employee{Type: "contractor"},
			facts: Facts{Trigger: "cli"},
			rules: []string{"base", "drop-a", "re-add-a"},
			want: map[string]want{
				"a": {2 * time.Hour, nil, 3},
				"b": {20 * time.Minute, []string{"a"}, 3},
				"c": {5 * time.Minute, []string{"a", "b"}, 9},
				"d": {DefaultSLA, nil, 3},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := pol.Select(&tc.emp, tc.facts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sel.Rules, tc.rules) {
				t.Errorf("rules = %v, want %v", sel.Rules, tc.rules)
			}
			got := map[string]want{}
			for _, a := range sel.Actions {
				got[a.Name] = want{a.SLA, a.DependsOn, a.MaxAttempts}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
			// Sorted by phase, then name.
			if !slices.IsSortedFunc(sel.Actions, func(a, b Selected) int {
				if a.Phase != b.Phase {
					return a.Phase - b.Phase
				}
				return strings.Compare(a.Name, b.Name)
			}) {
				t.Errorf("not sorted: %v", names(sel))
			}
		})
	}
}

func TestCELVariables(t *testing.T) {
	emp := directory.Employee{
		ID: "E7", Email: "x@example.com", Type: "employee", Status: "active", Department: "Sales",
		Location: "Denver", Country: "US", TimeZone: "America/Denver", Clearance: "secret",
		RoleProfiles: []string{"admin", "oncall"}, Manager: "E1", HRPartner: "E2",
		Attributes: map[string]string{"cost_center": "4100"},
	}
	for _, tc := range []struct {
		when string
		want bool
	}{
		{`employee.department == "Sales"`, true},
		{`employee.clearance in ["secret", "top_secret"]`, true},
		{`"admin" in employee.role_profiles`, true},
		{`employee.attributes["cost_center"] == "4100"`, true},
		{`"legal_hold" in employee.attributes && employee.attributes["legal_hold"] == "true"`, false},
		{`employee.id == "E7" && employee.email.endsWith("@example.com") && employee.type == "employee" && employee.status == "active"`, true},
		{`employee.location == "Denver" && employee.country == "US" && employee.time_zone.startsWith("America/")`, true},
		{`employee.manager == "E1" && employee.hr_partner == "E2" && size(employee.role_profiles) == 2`, true},
		{`request.involuntary && request.reason == "r" && request.trigger == "slack"`, true},
		{`employee.department.lowerAscii() == "sales"`, true},
		{`!request.involuntary`, false},
		{``, true},
	} {
		t.Run(tc.when, func(t *testing.T) {
			data := fmt.Sprintf("version: 1\nactions:\n  a: {connector: c, operation: o, phase: critical}\nrules:\n  - name: r\n    when: %q\n    add: [a]\n", tc.when)
			pol, err := ParsePolicy("cel.yaml", []byte(data), nil)
			if err != nil {
				t.Fatal(err)
			}
			sel, err := pol.Select(&emp, Facts{Involuntary: true, Reason: "r", Trigger: "slack"})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(sel.Rules) == 1; got != tc.want {
				t.Errorf("matched = %v, want %v", got, tc.want)
			}
		})
	}
	// An employee with no role profiles or attributes at all.
	pol, err := ParsePolicy("cel.yaml", []byte("version: 1\nactions:\n  a: {connector: c, operation: o, phase: critical}\nrules:\n  - name: r\n    when: '\"admin\" in employee.role_profiles || size(employee.attributes) > 0'\n    add: [a]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sel, err := pol.Select(&directory.Employee{ID: "E0"}, Facts{}); err != nil || len(sel.Rules) != 0 {
		t.Errorf("empty employee: %+v, %v", sel, err)
	}
}

func TestSelectRuntimeErrorNamesRule(t *testing.T) {
	pol, err := ParsePolicy("rt.yaml", []byte(`
version: 1
actions:
  a: {connector: c, operation: o, phase: critical}
rules:
  - name: everyone
    add: [a]
  - name: finance cost centre
    when: employee.attributes["cost_center"] == "3100"
    add: [a]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pol.Select(&directory.Employee{ID: "E1"}, Facts{})
	if err == nil || !strings.Contains(err.Error(), `policy rule "finance cost centre"`) || !strings.Contains(err.Error(), "cost_center") {
		t.Errorf("err = %v", err)
	}
	if _, err := pol.Select(nil, Facts{}); err == nil {
		t.Error("nil employee: no error")
	}
}

func TestSelectIsDeterministic(t *testing.T) {
	pol, dir := examplePolicy(t)
	all := dir.All()
	first := map[string]Selection{}
	for i := range all {
		sel, err := pol.Select(&all[i], Facts{Involuntary: i%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		first[all[i].ID] = sel
	}
	// Again, concurrently (the race detector checks Select shares nothing
	// mutable), and against a second load of the same files.
	clearEnv(t)
	cfg2, err := defaultT()
	if err != nil {
		t.Fatal(err)
	}
	if cfg2.Policy.Hash != pol.Hash {
		t.Error("hash differs between loads")
	}
	var wg sync.WaitGroup
	for _, p := range []*Policy{pol, cfg2.Policy, pol} {
		for i := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sel, err := p.Select(&all[i], Facts{Involuntary: i%2 == 0})
				if err != nil {
					t.Error(err)
					return
				}
				want := first[all[i].ID]
				if !reflect.DeepEqual(names(sel), names(want)) || !reflect.DeepEqual(sel.Rules, want.Rules) {
					t.Errorf("%s: selection differs", all[i].ID)
				}
				for j := range sel.Actions {
					a, b := sel.Actions[j], want.Actions[j]
					if a.SLA != b.SLA || a.MaxAttempts != b.MaxAttempts || !slices.Equal(a.DependsOn, b.DependsOn) || !reflect.DeepEqual(a.Params, b.Params) {
						t.Errorf("%s/%s differs", all[i].ID, a.Name)
					}
				}
			}()
		}
	}
	wg.Wait()
}

func TestPolicyHashAndPath(t *testing.T) {
	data := []byte("version: 1\nactions:\n  a: {connector: c, operation: o, phase: critical}\nrules:\n  - {name: r, add: [a]}\n")
	p, err := ParsePolicy("h.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if p.Hash != hex.EncodeToString(sum[:]) || p.Path != "h.yaml" {
		t.Errorf("hash %s path %s", p.Hash, p.Path)
	}
	if p.File.Defaults.MaxAttempts != 6 || p.File.Defaults.SLA["notifications"].D() != 4*time.Hour {
		t.Errorf("defaults = %+v", p.File.Defaults)
	}
}

func TestPolicyStructuralErrors(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"version: 1\n", "p.yaml: actions: the policy needs at least one action"},
		{"version: 1\n", "p.yaml: rules: the policy needs at least one rule"},
		{"actions: {}\n", "p.yaml: version: version is required (1)"},
		{"version: 1\nactions:\n  critical: {connector: c, operation: o, phase: critical}\nrules: [{name: r}]\n", "p.yaml:3: actions.critical: an action may not be named after a phase"},
		{"version: 1\nactions:\n  a:\nrules: [{name: r}]\n", "p.yaml:3: actions.a: empty action"},
		{"version: 1\nactions:\n  a: {connector: c, operation: o, phase: critical, depends_on: [a]}\nrules: [{name: r}]\n", "p.yaml:3: actions.a.depends_on[0]: an action cannot depend on itself"},
		{"version: 1\nactions:\n  a: {phase: critical}\nrules: [{name: r}]\n", "p.yaml:3: actions.a.connector: connector is required"},
		{"version: 1\nactions:\n  a: {connector: c, operation: o, phase: critical}\nrules: [{name: r, when: 'employee.nope'}]\n", "p.yaml:4: rules[0].when: CEL does not compile: undefined field 'nope'"},
		{"version: 1\nactions:\n  a: {connector: c, operation: o, phase: critical}\nrules: [{name: r, when: 'request.reason + 1 == 2'}]\n", "rules[0].when: CEL does not compile: found no matching overload"},
		{"version: 1\nactions:\n  b: {connector: c, operation: o, phase: critical, depends_on: [c]}\n  c: {connector: c, operation: o, phase: critical, depends_on: [d]}\n  d: {connector: c, operation: o, phase: critical, depends_on: [b]}\nrules: [{name: r}]\n",
			"p.yaml:3: actions.b.depends_on: dependency cycle: b -> c -> d -> b"},
	} {
		_, err := ParsePolicy("p.yaml", []byte(tc.data), nil)
		var errs *Errors
		if !errors.As(err, &errs) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\nerr = %v\nwant *Errors saying %q", tc.data, err, tc.want)
		}
	}
}

func sampleEmployee() directory.Employee {
	return directory.Employee{
		ID: "E1003", Email: "amara.okafor@example.com", Type: "employee", Status: "active",
		Department: "Engineering", Country: "US", TimeZone: "America/Denver", Clearance: "top_secret",
		RoleProfiles: []string{"defense-programs"}, Attributes: map[string]string{"cost_center": "5200"},
	}
}
