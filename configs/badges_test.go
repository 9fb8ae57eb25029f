package configs

import (
	"slices"
	"testing"

	"github.com/kineticsec/kinetic/directory"
)

// TestBadgeSystemsPerFacility: with one badge instance per system, the
// plan covers each facility in the person's record (location, or every
// facility listed in the facilities attribute), or every system when the
// departure must close every door (issue #17).
func TestBadgeSystemsPerFacility(t *testing.T) {
	cfg, err := loadT("testdata/badges/kinetic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"collect_badge_lagos", "deactivate_badge_eu", "deactivate_badge_us"}
	for _, tt := range []struct {
		name  string
		emp   directory.Employee
		facts Facts
		want  []string
	}{
		{"a New York employee: the US system", directory.Employee{ID: "E1", Location: "New York"}, Facts{}, []string{"deactivate_badge_us"}},
		{"a Berlin employee: the EU system", directory.Employee{ID: "E2", Location: "Berlin"}, Facts{}, []string{"deactivate_badge_eu"}},
		{"Lagos: the security desk's manual step", directory.Employee{ID: "E3", Location: "Lagos"}, Facts{}, []string{"collect_badge_lagos"}},
		{"every facility in the record", directory.Employee{ID: "E4", Location: "Remote",
			Attributes: map[string]string{"facilities": "Austin, Dublin,Lagos"}}, Facts{}, all},
		{"an involuntary departure closes every door", directory.Employee{ID: "E5", Location: "New York"}, Facts{Involuntary: true}, all},
		{"cleared staff: every door", directory.Employee{ID: "E6", Location: "Berlin", Clearance: "secret"}, Facts{}, all},
		{"no facility, no badge system", directory.Employee{ID: "E7", Location: "Remote"}, Facts{}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			emp := tt.emp
			emp.Status, emp.Type = "active", directory.TypeEmployee
			sel, err := cfg.Policy.Select(&emp, tt.facts)
			if err != nil {
				t.Fatal(err)
			}
			got := names(sel)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("actions %v, want %v", got, tt.want)
			}
			for _, a := range sel.Actions {
				if a.Name == "collect_badge_lagos" && (!a.Def.Manual || a.Params["doors"] == "") {
					t.Errorf("the Lagos step is not manual with its doors: %+v", a.Def)
				}
			}
		})
	}
}
