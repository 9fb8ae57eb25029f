package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

// Sweep duty: cases past their compliance deadline raise a breach.

// sweepBreaches raises a breach for each case past its compliance deadline
// without every critical action final.
func (e *Engine) sweepBreaches(ctx context.Context) (int, error) {
	now := e.clock()
	cs, err := e.store.BreachCandidates(ctx, now, 200)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		var ev *Event
		err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			ev = nil
			res := tx.Model(&store.Case{}).Where("id = ? AND breached_at IS NULL", c.ID).Update("breached_at", now)
			if res.Error != nil || res.RowsAffected == 0 {
				return res.Error
			}
			detail := fmt.Sprintf("compliance profile %s: every critical action had to be final by %s; not met for %s",
				c.ComplianceProfile, c.ComplianceDeadline.Format(time.RFC3339), c.EmployeeName)
			var targets []string
			if e.secChan != "" {
				targets = []string{"channel:" + e.secChan}
			}
			au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "sweep", Event: "case.compliance_breach", Result: "breach", Detail: detail})
			ev = &Event{Kind: EventBreach, CaseID: c.ID, Status: c.Status, Detail: detail, Targets: targets, At: now}
			return nil
		})
		if err != nil {
			return n, err
		}
		if ev != nil {
			n++
			e.emit(*ev)
		}
	}
	return n, nil
}
