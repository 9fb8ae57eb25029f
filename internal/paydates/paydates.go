// Package paydates owns the dates a payroll or benefits notice carries: the
// last working day, the final-pay date by the policy's country and state
// rules, whether accrued leave is paid out, the benefits end date and
// whether a continuation-coverage notice (COBRA in the United States)
// applies. The rules are the policy's payroll section (configs decodes and
// validates it, naming file, line and key); Compute applies them to one
// departure. It is a leaf: it imports only the standard library.
//
// The law differs by place and changes; Kinetic ships no legal table. The
// policy states each rule, for example (US, 2026) California: final wages
// at once on an involuntary termination and within 72 hours of a quit
// without notice (Cal. Labor Code §§ 201–202); most states: the next
// regular payday. The rule that applied is named in the result so the
// notice says why a date is what it is.
package paydates

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DateLayout is how every date in this package is written (ISO 8601).
const DateLayout = "2006-01-02"

// Final-pay forms. A FinalPay value is one of these or "<N>d", N calendar
// days after the last working day.
const (
	FinalPaySameDay    = "same_day"
	FinalPayNextPayday = "next_payday"
)

// Benefits end forms.
const (
	BenefitsLastDay    = "last_day"
	BenefitsEndOfMonth = "end_of_month"
)

// Payday schedules.
const (
	ScheduleWeekly      = "weekly"
	ScheduleBiweekly    = "biweekly"
	ScheduleSemimonthly = "semimonthly"
	ScheduleMonthly     = "monthly"
)

// Rules is the policy's payroll section.
type Rules struct {
	// Payday is the regular pay schedule next_payday counts from.
	Payday Payday `yaml:"payday"`
	// Rules are tried in order; for each date, the first rule that matches
	// the departure and sets it decides. The last rule must match everyone
	// (no country, state or involuntary) and set final_pay and
	// benefits_end, so every departure gets every date.
	Rules []*Rule `yaml:"rules"`
}

// Payday is a regular pay schedule.
type Payday struct {
	// Schedule is weekly, biweekly, semimonthly or monthly.
	Schedule string `yaml:"schedule"`
	// Anchor is one known payday (YYYY-MM-DD); weekly and biweekly count
	// from it.
	Anchor string `yaml:"anchor"`
	// Days are the paydays of the month for semimonthly (two) and monthly
	// (one) schedules, 1–31; a day past the month's end means its last day
	// (31 is "the last day of every month").
	Days []int `yaml:"days"`
}

// Rule sets some of the dates for the departures it matches.
type Rule struct {
	// Name names the rule in the notice ("california-involuntary").
	Name string `yaml:"name"`
	// Country is an ISO 3166 alpha-2 code matched against the HR record's
	// country; empty matches any.
	Country string `yaml:"country"`
	// State is matched against the HR attribute "state" (e.g. CA); empty
	// matches any. Needs Country.
	State string `yaml:"state"`
	// Involuntary, when set, matches only involuntary (true) or only
	// voluntary (false) departures.
	Involuntary *bool `yaml:"involuntary"`
	// FinalPay is same_day, next_payday or "<N>d" (N calendar days after
	// the last working day, 0–60).
	FinalPay string `yaml:"final_pay"`
	// LeavePayout says whether accrued, unused leave is paid out with the
	// final pay.
	LeavePayout *bool `yaml:"leave_payout"`
	// BenefitsEnd is last_day or end_of_month (of the last working day).
	BenefitsEnd string `yaml:"benefits_end"`
	// ContinuationNotice names the continuation-coverage notice that
	// applies (e.g. "cobra"); "none" says none does.
	ContinuationNotice string `yaml:"continuation_notice"`
}

// FieldError is one problem with the section, at Key below it
// ("rules[2].final_pay").
type FieldError struct {
	Key string
	Msg string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// Validate reports every problem, each a *FieldError, joined.
func (r *Rules) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	p := r.Payday
	switch p.Schedule {
	case ScheduleWeekly, ScheduleBiweekly:
		if _, err := time.Parse(DateLayout, p.Anchor); err != nil {
			add("payday.anchor", "a %s schedule needs anchor, one known payday as YYYY-MM-DD", p.Schedule)
		}
		if len(p.Days) > 0 {
			add("payday.days", "days are for semimonthly and monthly schedules")
		}
	case ScheduleSemimonthly, ScheduleMonthly:
		want := 1
		if p.Schedule == ScheduleSemimonthly {
			want = 2
		}
		if len(p.Days) != want {
			add("payday.days", "a %s schedule needs %d day(s) of the month", p.Schedule, want)
		}
		for i, d := range p.Days {
			if d < 1 || d > 31 {
				add(fmt.Sprintf("payday.days[%d]", i), "day %d is not 1–31", d)
			}
		}
		if p.Anchor != "" {
			add("payday.anchor", "anchor is for weekly and biweekly schedules")
		}
	case "":
		add("payday.schedule", "schedule is required (weekly, biweekly, semimonthly or monthly)")
	default:
		add("payday.schedule", "unknown schedule %q (weekly, biweekly, semimonthly or monthly)", p.Schedule)
	}
	if len(r.Rules) == 0 {
		add("rules", "at least one rule is needed; the last must match everyone and set final_pay and benefits_end")
	}
	seen := map[string]int{}
	for i, ru := range r.Rules {
		k := fmt.Sprintf("rules[%d]", i)
		if ru == nil {
			add(k, "empty rule")
			continue
		}
		if prev, dup := seen[ru.Name]; dup {
			add(k+".name", "duplicate rule name %q (also rules[%d])", ru.Name, prev)
		} else if strings.TrimSpace(ru.Name) == "" {
			add(k+".name", "every rule needs a name (the notice cites it)")
		} else {
			seen[ru.Name] = i
		}
		if ru.Country != "" && !isAlpha2(ru.Country) {
			add(k+".country", "%q is not an ISO 3166 alpha-2 code (e.g. US)", ru.Country)
		}
		if ru.State != "" && ru.Country == "" {
			add(k+".state", "a state needs its country")
		}
		if ru.FinalPay != "" {
			if _, err := parseFinalPay(ru.FinalPay); err != nil {
				add(k+".final_pay", "%v", err)
			}
		}
		switch ru.BenefitsEnd {
		case "", BenefitsLastDay, BenefitsEndOfMonth:
		default:
			add(k+".benefits_end", "unknown benefits end %q (last_day or end_of_month)", ru.BenefitsEnd)
		}
		if ru.FinalPay == "" && ru.LeavePayout == nil && ru.BenefitsEnd == "" && ru.ContinuationNotice == "" {
			add(k, "the rule sets nothing (final_pay, leave_payout, benefits_end or continuation_notice)")
		}
	}
	if n := len(r.Rules); n > 0 {
		if last := r.Rules[n-1]; last != nil && (!last.matchesAll() || last.FinalPay == "" || last.BenefitsEnd == "") {
			add(fmt.Sprintf("rules[%d]", n-1), "the last rule must match everyone (no country, state or involuntary) and set final_pay and benefits_end")
		}
	}
	return errors.Join(errs...)
}

func (ru *Rule) matchesAll() bool {
	return ru.Country == "" && ru.State == "" && ru.Involuntary == nil
}

func isAlpha2(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// finalPay is a parsed FinalPay: kind is same_day, next_payday or "days".
type finalPay struct {
	kind string
	days int
}

func parseFinalPay(s string) (finalPay, error) {
	switch s {
	case FinalPaySameDay, FinalPayNextPayday:
		return finalPay{kind: s}, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if d, err := strconv.Atoi(n); err == nil && d >= 0 && d <= 60 {
			return finalPay{kind: "days", days: d}, nil
		}
	}
	return finalPay{}, fmt.Errorf("unknown final pay %q (same_day, next_payday or <N>d with N 0–60, e.g. 3d)", s)
}

// Departure is what Compute needs to know about one departure.
type Departure struct {
	// LastDay is the last working day; only its date (year, month, day)
	// counts.
	LastDay time.Time
	// Country (ISO alpha-2) and State as HR records them.
	Country string
	State   string
	// Involuntary is the case's urgency.
	Involuntary bool
}

// Dates are the dates one departure's notices carry. Dates are midnight
// UTC of the calendar day; Rule* name the rule that decided each.
type Dates struct {
	LastWorkingDay     time.Time
	FinalPay           time.Time
	FinalPayRule       string
	LeavePayout        bool
	LeavePayoutRule    string
	BenefitsEnd        time.Time
	BenefitsEndRule    string
	ContinuationNotice string
	ContinuationRule   string
}

// Compute applies validated rules to a departure. It fails only on rules
// that did not pass Validate.
func (r *Rules) Compute(dep Departure) (Dates, error) {
	y, m, d := dep.LastDay.Date()
	last := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	out := Dates{LastWorkingDay: last}
	var fp, be *Rule
	for _, ru := range r.Rules {
		if ru == nil || !ru.matches(dep) {
			continue
		}
		if fp == nil && ru.FinalPay != "" {
			fp = ru
		}
		if be == nil && ru.BenefitsEnd != "" {
			be = ru
		}
		if out.LeavePayoutRule == "" && ru.LeavePayout != nil {
			out.LeavePayout, out.LeavePayoutRule = *ru.LeavePayout, ru.Name
		}
		if out.ContinuationRule == "" && ru.ContinuationNotice != "" {
			out.ContinuationNotice, out.ContinuationRule = ru.ContinuationNotice, ru.Name
		}
	}
	if fp == nil || be == nil {
		return Dates{}, errors.New("payroll rules: no rule sets final_pay and benefits_end for this departure (the last rule must match everyone)")
	}
	f, err := parseFinalPay(fp.FinalPay)
	if err != nil {
		return Dates{}, fmt.Errorf("payroll rule %q: %w", fp.Name, err)
	}
	switch f.kind {
	case FinalPaySameDay:
		out.FinalPay = last
	case "days":
		out.FinalPay = last.AddDate(0, 0, f.days)
	case FinalPayNextPayday:
		pd, err := r.Payday.onOrAfter(last)
		if err != nil {
			return Dates{}, err
		}
		out.FinalPay = pd
	}
	out.FinalPayRule = fp.Name
	switch be.BenefitsEnd {
	case BenefitsLastDay:
		out.BenefitsEnd = last
	case BenefitsEndOfMonth:
		out.BenefitsEnd = endOfMonth(last.Year(), last.Month())
	}
	out.BenefitsEndRule = be.Name
	if out.ContinuationNotice == "none" {
		out.ContinuationNotice = ""
	}
	return out, nil
}

func (ru *Rule) matches(dep Departure) bool {
	if ru.Country != "" && !strings.EqualFold(ru.Country, dep.Country) {
		return false
	}
	if ru.State != "" && !strings.EqualFold(ru.State, strings.TrimSpace(dep.State)) {
		return false
	}
	return ru.Involuntary == nil || *ru.Involuntary == dep.Involuntary
}

// onOrAfter returns the first regular payday on or after day.
func (p Payday) onOrAfter(day time.Time) (time.Time, error) {
	switch p.Schedule {
	case ScheduleWeekly, ScheduleBiweekly:
		anchor, err := time.Parse(DateLayout, p.Anchor)
		if err != nil {
			return time.Time{}, fmt.Errorf("payroll payday.anchor: %w", err)
		}
		step := 7
		if p.Schedule == ScheduleBiweekly {
			step = 14
		}
		// Both are midnight UTC, so the difference is whole days. Go's
		// division truncates toward zero, which for a negative difference
		// is already the first payday on or after day.
		diff := int(day.Sub(anchor).Hours() / 24)
		k := diff / step
		if k*step < diff {
			k++
		}
		pd := anchor.AddDate(0, 0, k*step)
		return pd, nil
	case ScheduleSemimonthly, ScheduleMonthly:
		if len(p.Days) == 0 {
			return time.Time{}, errors.New("payroll payday.days: none")
		}
		y, m := day.Year(), day.Month()
		for range 3 {
			best := time.Time{}
			for _, d := range p.Days {
				c := dayOfMonth(y, m, d)
				if !c.Before(day) && (best.IsZero() || c.Before(best)) {
					best = c
				}
			}
			if !best.IsZero() {
				return best, nil
			}
			m++
			if m > time.December {
				m, y = time.January, y+1
			}
		}
	}
	return time.Time{}, fmt.Errorf("payroll payday: unknown schedule %q", p.Schedule)
}

// dayOfMonth is day d of the month, or the month's last day when d is past
// it.
func dayOfMonth(y int, m time.Month, d int) time.Time {
	if e := endOfMonth(y, m); d > e.Day() {
		return e
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func endOfMonth(y int, m time.Month) time.Time {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC)
}

// Params returns the dates as notice parameters, the keys a notice
// template and the email connector read: last_working_day, final_pay_date,
// final_pay_rule, leave_payout ("yes"/"no"), benefits_end_date,
// benefits_end_rule, continuation_notice (empty when none applies).
func (d Dates) Params() map[string]string {
	yn := "no"
	if d.LeavePayout {
		yn = "yes"
	}
	return map[string]string{
		"last_working_day":    d.LastWorkingDay.Format(DateLayout),
		"final_pay_date":      d.FinalPay.Format(DateLayout),
		"final_pay_rule":      d.FinalPayRule,
		"leave_payout":        yn,
		"benefits_end_date":   d.BenefitsEnd.Format(DateLayout),
		"benefits_end_rule":   d.BenefitsEndRule,
		"continuation_notice": d.ContinuationNotice,
	}
}
