package paydates

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func yes() *bool { t := true; return &t }
func no() *bool  { f := false; return &f }

func day(s string) time.Time {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

// usRules is the shape of the example policy: California's same-day and
// 72-hour rules, the US default of the next regular payday with COBRA, and
// a catch-all.
func usRules() *Rules {
	return &Rules{
		Payday: Payday{Schedule: ScheduleBiweekly, Anchor: "2026-01-09"},
		Rules: []*Rule{
			{Name: "california-involuntary", Country: "US", State: "CA", Involuntary: yes(), FinalPay: FinalPaySameDay},
			{Name: "california", Country: "US", State: "CA", FinalPay: "3d", LeavePayout: yes()},
			{Name: "united-states", Country: "US", FinalPay: FinalPayNextPayday, BenefitsEnd: BenefitsEndOfMonth, ContinuationNotice: "cobra", LeavePayout: no()},
			{Name: "germany", Country: "DE", LeavePayout: yes(), ContinuationNotice: "none"},
			{Name: "default", FinalPay: FinalPayNextPayday, BenefitsEnd: BenefitsLastDay},
		},
	}
}

func TestComputeByCountryStateAndUrgency(t *testing.T) {
	r := usRules()
	if err := r.Validate(); err != nil {
		t.Fatalf("valid rules refused: %v", err)
	}
	// 2026-03-18 is a Wednesday; biweekly paydays from 2026-01-09 fall on
	// 2026-03-06, 2026-03-20, 2026-04-03, …
	cases := []struct {
		name string
		dep  Departure
		want map[string]string
	}{
		{"california involuntary is paid the same day", Departure{LastDay: day("2026-03-18"), Country: "US", State: "CA", Involuntary: true},
			map[string]string{"last_working_day": "2026-03-18", "final_pay_date": "2026-03-18", "final_pay_rule": "california-involuntary",
				"leave_payout": "yes", "benefits_end_date": "2026-03-31", "benefits_end_rule": "united-states", "continuation_notice": "cobra"}},
		{"california voluntary within 72 hours", Departure{LastDay: day("2026-03-18"), Country: "US", State: "ca"},
			map[string]string{"final_pay_date": "2026-03-21", "final_pay_rule": "california", "leave_payout": "yes"}},
		{"another state waits for the next payday", Departure{LastDay: day("2026-03-18"), Country: "US", State: "TX", Involuntary: true},
			map[string]string{"final_pay_date": "2026-03-20", "final_pay_rule": "united-states", "leave_payout": "no", "continuation_notice": "cobra"}},
		{"a payday itself is the next payday", Departure{LastDay: day("2026-03-20"), Country: "US", State: "NY"},
			map[string]string{"final_pay_date": "2026-03-20"}},
		{"before the anchor", Departure{LastDay: day("2025-12-30"), Country: "US"},
			map[string]string{"final_pay_date": "2026-01-09", "benefits_end_date": "2025-12-31"}},
		{"end of February in a leap year", Departure{LastDay: day("2028-02-10"), Country: "US"},
			map[string]string{"benefits_end_date": "2028-02-29"}},
		{"germany says no continuation notice", Departure{LastDay: day("2026-03-18"), Country: "DE"},
			map[string]string{"continuation_notice": "", "leave_payout": "yes", "benefits_end_date": "2026-03-18", "benefits_end_rule": "default"}},
		{"the hour of the day does not move the date", Departure{LastDay: time.Date(2026, 3, 18, 23, 59, 0, 0, time.FixedZone("PST", -8*3600)), Country: "FR"},
			map[string]string{"last_working_day": "2026-03-18", "final_pay_date": "2026-03-20", "leave_payout": "no", "final_pay_rule": "default"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := r.Compute(c.dep)
			if err != nil {
				t.Fatal(err)
			}
			got := d.Params()
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestPaydaySchedules(t *testing.T) {
	cases := []struct {
		p          Payday
		from, want string
	}{
		{Payday{Schedule: ScheduleWeekly, Anchor: "2026-01-02"}, "2026-01-03", "2026-01-09"},
		{Payday{Schedule: ScheduleWeekly, Anchor: "2026-01-02"}, "2025-12-26", "2025-12-26"},
		{Payday{Schedule: ScheduleBiweekly, Anchor: "2026-01-09"}, "2026-01-10", "2026-01-23"},
		{Payday{Schedule: ScheduleSemimonthly, Days: []int{15, 31}}, "2026-02-16", "2026-02-28"},
		{Payday{Schedule: ScheduleSemimonthly, Days: []int{31, 15}}, "2026-02-15", "2026-02-15"},
		{Payday{Schedule: ScheduleSemimonthly, Days: []int{15, 31}}, "2026-12-31", "2026-12-31"},
		{Payday{Schedule: ScheduleMonthly, Days: []int{25}}, "2026-12-26", "2027-01-25"},
		{Payday{Schedule: ScheduleMonthly, Days: []int{30}}, "2026-02-01", "2026-02-28"},
	}
	for _, c := range cases {
		got, err := c.p.onOrAfter(day(c.from))
		if err != nil {
			t.Fatalf("%+v from %s: %v", c.p, c.from, err)
		}
		if got.Format(DateLayout) != c.want {
			t.Errorf("%+v from %s = %s, want %s", c.p, c.from, got.Format(DateLayout), c.want)
		}
	}
}

func TestValidateNamesEveryKey(t *testing.T) {
	cases := []struct {
		name string
		edit func(r *Rules)
		keys []string
	}{
		{"no schedule", func(r *Rules) { r.Payday = Payday{} }, []string{"payday.schedule"}},
		{"biweekly without anchor", func(r *Rules) { r.Payday = Payday{Schedule: ScheduleBiweekly, Anchor: "9 Jan"} }, []string{"payday.anchor"}},
		{"monthly with two days", func(r *Rules) { r.Payday = Payday{Schedule: ScheduleMonthly, Days: []int{1, 40}} }, []string{"payday.days", "payday.days[1]"}},
		{"bad final pay", func(r *Rules) { r.Rules[1].FinalPay = "72h" }, []string{"rules[1].final_pay"}},
		{"too many days", func(r *Rules) { r.Rules[1].FinalPay = "61d" }, []string{"rules[1].final_pay"}},
		{"bad benefits end", func(r *Rules) { r.Rules[2].BenefitsEnd = "eom" }, []string{"rules[2].benefits_end"}},
		{"lower-case country", func(r *Rules) { r.Rules[3].Country = "de" }, []string{"rules[3].country"}},
		{"state without country", func(r *Rules) { r.Rules[3].Country = ""; r.Rules[3].State = "BY" }, []string{"rules[3].state"}},
		{"duplicate name", func(r *Rules) { r.Rules[1].Name = "california-involuntary" }, []string{"rules[1].name"}},
		{"rule that sets nothing", func(r *Rules) { r.Rules[3] = &Rule{Name: "x", Country: "DE"} }, []string{"rules[3]"}},
		{"last rule not a catch-all", func(r *Rules) { r.Rules = r.Rules[:3] }, []string{"rules[2]"}},
		{"catch-all without benefits end", func(r *Rules) { r.Rules[4].BenefitsEnd = "" }, []string{"rules[4]"}},
		{"no rules", func(r *Rules) { r.Rules = nil }, []string{"rules"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := usRules()
			c.edit(r)
			err := r.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			var got []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var fe *FieldError
				if !errors.As(e, &fe) {
					t.Fatalf("not a *FieldError: %v", e)
				}
				got = append(got, fe.Key)
			}
			if strings.Join(got, " ") != strings.Join(c.keys, " ") {
				t.Errorf("keys %v, want %v (%v)", got, c.keys, err)
			}
		})
	}
}
