package engine

import (
	"testing"
	"time"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/paydates"
	"github.com/kineticsec/kinetic/store"
)

// The last working day is the effective time's date where the employee
// works, unless HR says otherwise; country, state and urgency come from
// the HR record and the case.
func TestDepartureForPayrollDates(t *testing.T) {
	eff := time.Date(2026, 3, 19, 3, 30, 0, 0, time.UTC) // evening of the 18th in Denver
	for _, tc := range []struct {
		name string
		c    store.Case
		emp  directory.Employee
		want paydates.Departure
	}{
		{"the employee's time zone decides the date", store.Case{EffectiveAt: eff, Involuntary: true},
			directory.Employee{Country: "US", TimeZone: "America/Denver", Attributes: map[string]string{"state": "CO"}},
			paydates.Departure{Country: "US", State: "CO", Involuntary: true, LastDay: time.Date(2026, 3, 18, 0, 0, 0, 0, time.UTC)}},
		{"no time zone: UTC", store.Case{EffectiveAt: eff},
			directory.Employee{Country: "DE"},
			paydates.Departure{Country: "DE", LastDay: time.Date(2026, 3, 19, 0, 0, 0, 0, time.UTC)}},
		{"an unknown zone is ignored", store.Case{EffectiveAt: eff},
			directory.Employee{TimeZone: "Mars/Olympus"},
			paydates.Departure{LastDay: time.Date(2026, 3, 19, 0, 0, 0, 0, time.UTC)}},
		{"HR's last working day wins", store.Case{EffectiveAt: eff},
			directory.Employee{TimeZone: "America/Denver", Attributes: map[string]string{"last_working_day": "2026-03-13"}},
			paydates.Departure{LastDay: time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC)}},
		{"a malformed HR date is ignored", store.Case{EffectiveAt: eff},
			directory.Employee{Attributes: map[string]string{"last_working_day": "13/03/2026"}},
			paydates.Departure{LastDay: time.Date(2026, 3, 19, 0, 0, 0, 0, time.UTC)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := departure(&tc.c, &tc.emp)
			gy, gm, gd := got.LastDay.Date()
			wy, wm, wd := tc.want.LastDay.Date()
			if gy != wy || gm != wm || gd != wd || got.Country != tc.want.Country || got.State != tc.want.State || got.Involuntary != tc.want.Involuntary {
				t.Errorf("departure = %+v, want %+v", got, tc.want)
			}
		})
	}
}
