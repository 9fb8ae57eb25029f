package configs

import (
	"errors"

	"github.com/kineticsec/kinetic/internal/paydates"
)

// validatePayroll reports every problem with the policy's payroll section,
// each at its file, line and key (payroll.rules[1].final_pay).
func validatePayroll(d *doc, r *paydates.Rules) {
	err := r.Validate()
	if err == nil {
		return
	}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *paydates.FieldError
		if errors.As(e, &fe) {
			d.add(joinKey("payroll", fe.Key), "%s", fe.Msg)
		} else {
			d.add("payroll", "%v", e)
		}
	}
}
