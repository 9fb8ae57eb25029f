package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// FormatPlan renders a plan for a terminal: who, which rules matched, and
// each action with its phase, system, SLA and what discovery found.
func FormatPlan(p *Plan) string {
	var b strings.Builder
	e := p.Employee
	fmt.Fprintf(&b, "Plan for %s <%s> (%s, %s, %s", e.Name, e.Email, e.ID, e.Type, orDash(e.Department))
	if e.Clearance != "" {
		fmt.Fprintf(&b, ", clearance %s", e.Clearance)
	}
	fmt.Fprintf(&b, ")\npolicy %s, rules matched: %s\neffective %s\n\n", shortHash(p.PolicyHash), strings.Join(p.Rules, ", "), p.EffectiveAt.Format(time.RFC3339))
	fmt.Fprintf(&b, "  %-14s %-28s %-12s %-26s %-8s %s\n", "PHASE", "ACTION", "SYSTEM", "OPERATION", "SLA", "FOUND")
	for _, a := range p.Actions {
		fmt.Fprintf(&b, "  %-14s %-28s %-12s %-26s %-8s %s\n", a.PhaseName, a.Name, a.Connector, a.Operation, ShortDuration(a.SLA), a.Found)
		if len(a.DependsOn) > 0 {
			fmt.Fprintf(&b, "  %-14s   after %s\n", "", strings.Join(a.DependsOn, ", "))
		}
		if a.Ordering != "" {
			fmt.Fprintf(&b, "  %-14s   (%s)\n", "", a.Ordering)
		}
	}
	fmt.Fprintf(&b, "\n%d actions", len(p.Actions))
	if len(p.Equipment) > 0 {
		var tags []string
		for _, d := range p.Equipment {
			tags = append(tags, d.ID)
		}
		fmt.Fprintf(&b, "; devices to recover: %s", strings.Join(tags, ", "))
	}
	b.WriteString("\n")
	if p.RemoteAccess != "" {
		b.WriteString(p.RemoteAccess + "\n")
	}
	if sim := p.Simulated(); sim != nil {
		fmt.Fprintf(&b, "SIMULATED: %s are sandbox connectors; nothing real would be done there\n", strings.Join(sim, ", "))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ShortDuration prints d as a duration without zero units: 10m, 1h30m,
// 1m30s, 1h, 0s (time.Duration's String gives 10m0s and 1h30m0s).
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func describeParams(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}
