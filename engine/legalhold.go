package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/store"
)

// Legal holds as a disposition: an approved hold preserves the actions it
// holds (they stay held and never run), the case closes without them
// (completed with exceptions, its summary naming the hold), and the hold's
// approved release reopens the case so that they run. Requesting a release
// is RequestRelease (exceptions.go); applying one, applyOutcome.

// findPreserved finds the actions an approved legal hold keeps from
// running: those it holds, still held, and the waiting actions that depend
// on them, directly or through another.
func (cas *caseActions) findPreserved(holds []store.Approval) map[string]int64 {
	preserved := map[string]int64{}
	for _, h := range holds {
		var names []string
		_ = json.Unmarshal([]byte(h.Held), &names)
		for _, n := range names {
			if a, ok := cas.byName[n]; ok && a.Status == store.ActionHeld {
				preserved[n] = h.ID
			}
		}
	}
	for changed := len(preserved) > 0; changed; {
		changed = false
		for i := range cas.acts {
			a := &cas.acts[i]
			if _, ok := preserved[a.Name]; ok || (a.Status != store.ActionBlocked && a.Status != store.ActionPending) {
				continue
			}
			if _, isDead := cas.dead[a.Name]; isDead {
				continue
			}
			for _, d := range deps(a) {
				if id, ok := preserved[d]; ok {
					preserved[a.Name] = id
					changed = true
					break
				}
			}
		}
	}
	return preserved
}

// findDead marks waiting actions behind a failed or cancelled dependency,
// repeating until no more are found (death passes along dependencies).
func (cas *caseActions) findDead() map[string]string {
	dead := map[string]string{}
	for changed := true; changed; {
		changed = false
		for i := range cas.acts {
			a := &cas.acts[i]
			if a.Status != store.ActionBlocked && a.Status != store.ActionPending {
				continue
			}
			if _, ok := dead[a.Name]; ok {
				continue
			}
			for _, d := range deps(a) {
				da, ok := cas.byName[d]
				if !ok {
					continue
				}
				_, deadDep := dead[d]
				if da.Status == store.ActionFailed || da.Status == store.ActionCancelled || deadDep {
					dead[a.Name] = d
					changed = true
					break
				}
			}
		}
	}
	return dead
}

// preservedSummary says what approved legal holds keep from running, for
// a closing case's summary: "; preserved under legal hold 7 until
// released, not run: delete_mailbox (Delete the mailbox)". "" without one.
func preservedSummary(cas *caseActions) string {
	byHold := map[int64][]string{}
	for _, a := range cas.acts {
		id, kept := cas.preserved[a.Name]
		if !kept {
			continue
		}
		what := a.Name
		if d := a.Description; d != "" {
			if i := strings.Index(d, " ("); i > 0 {
				d = d[:i]
			}
			what += " (" + d + ")"
		}
		byHold[id] = append(byHold[id], what)
	}
	var s string
	for _, id := range slices.Sorted(maps.Keys(byHold)) {
		s += fmt.Sprintf("; preserved under legal hold %d until released, not run: %s", id, strings.Join(byHold[id], ", "))
	}
	return s
}

// mayReopenForRelease refuses the release of hold holdID when releasing it
// would reopen case c (closed, not cancelled) while another case is open
// for the same person: at most one open case per employee.
func mayReopenForRelease(tx *gorm.DB, c *store.Case, holdID int64) error {
	if store.CaseOpen(c.Status) || c.Status == store.CaseCancelled {
		return nil
	}
	other, err := store.OtherOpenCase(tx, c.EmployeeID, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: releasing legal hold %d would reopen case %d, but case %d is open for %s; release it once that case has closed",
		ErrInvalidRequest, holdID, c.ID, other.ID, c.EmployeeID)
}

// reopenForRelease reopens case c, closed with actions preserved under
// legal hold holdID, when the hold's release is approved: the destroying
// actions then run and the case closes again. A cancelled case stays
// cancelled (its held actions were cancelled with it), and so does one
// that holds none of the actions any more.
func (e *Engine) reopenForRelease(tx *gorm.DB, au *auditBuf, c *store.Case, holdID int64, held []string, now time.Time) error {
	if store.CaseOpen(c.Status) || c.Status == store.CaseCancelled || len(held) == 0 {
		return nil
	}
	var still int64
	if err := tx.Model(&store.Action{}).Where("case_id = ? AND name IN ? AND status = ?", c.ID, held, store.ActionHeld).Count(&still).Error; err != nil {
		return err
	}
	if still == 0 {
		return nil
	}
	if err := mayReopenForRelease(tx, c, holdID); err != nil {
		return err
	}
	was := c.Status
	if err := e.reopen(tx, au, c, now); err != nil {
		return err
	}
	c.Summary = ""
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "case.reopened", Result: store.CaseRunning,
		Detail: fmt.Sprintf("was %s; legal hold %d released: %s proceed", was, holdID, strings.Join(held, ", "))})
	return nil
}
