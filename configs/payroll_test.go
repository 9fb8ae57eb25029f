package configs

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/internal/paydates"
)

func TestExamplePolicyPayrollDates(t *testing.T) {
	data, err := os.ReadFile("policy.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicy("policy.example.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.File.Payroll == nil {
		t.Fatal("the example policy has no payroll section")
	}
	d, err := p.File.Payroll.Compute(paydates.Departure{LastDay: time.Date(2026, 3, 18, 17, 0, 0, 0, time.UTC), Country: "US", State: "CA", Involuntary: true})
	if err != nil {
		t.Fatal(err)
	}
	got := d.Params()
	if got["final_pay_date"] != "2026-03-18" || got["benefits_end_date"] != "2026-03-31" || got["continuation_notice"] != "cobra" || got["leave_payout"] != "yes" {
		t.Errorf("dates %v", got)
	}
}

func TestPayrollSectionErrorsNameFileLineKey(t *testing.T) {
	base := "version: 1\nactions:\n  a: {connector: c, operation: o, phase: critical}\nrules: [{name: r}]\n"
	for _, tc := range []struct{ payroll, want string }{
		{"payroll:\n  payday: {schedule: fortnightly}\n  rules:\n    - {name: d, final_pay: same_day, benefits_end: last_day}\n",
			`p.yaml:6: payroll.payday.schedule: unknown schedule "fortnightly"`},
		{"payroll:\n  payday: {schedule: monthly, days: [31]}\n  rules:\n    - name: ca\n      country: US\n      final_pay: 72h\n    - {name: d, final_pay: same_day, benefits_end: last_day}\n",
			`p.yaml:10: payroll.rules[0].final_pay: unknown final pay "72h"`},
		{"payroll:\n  payday: {schedule: monthly, days: [31]}\n  rules:\n    - {name: us, country: US, final_pay: same_day, benefits_end: last_day}\n",
			"p.yaml:8: payroll.rules[0]: the last rule must match everyone"},
		{"payroll:\n  payday: {schedule: monthly, days: [31]}\n  rules:\n    - {name: d, final_pay: same_day, benefits_end: last_day, pay_leave: true}\n",
			`p.yaml:8: payroll.rules[0].pay_leave: unknown key`},
	} {
		_, err := ParsePolicy("p.yaml", []byte(base+tc.payroll), nil)
		var errs *Errors
		if !errors.As(err, &errs) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\nerr = %v\nwant *Errors saying %q", tc.payroll, err, tc.want)
		}
	}
}
