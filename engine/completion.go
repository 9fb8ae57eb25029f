package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// The completion gate. A case reports two moments separately:
//
//   - access fully revoked (Case.RevokedAt): every revocation — an action
//     that is neither a manual step nor in the notifications phase —
//     succeeded with its read-back verification, or found no account. It
//     is the security figure, timed from the effective time;
//   - closed (Case.ClosedAt): nothing is open any more (OpenItems): every
//     action settled (manual steps confirmed or skipped by a person), no
//     exception awaits its decision, every device has a final disposition
//     or is preserved under an approved legal hold, and every notice is
//     acknowledged.
//
// Until it closes, a case's status card lists what is still open and by
// when (OpenItems); the case summary and the audit record carry both
// figures.

// OpenItemKind says what keeps a case open (view.OpenItemKind).
type OpenItemKind = view.OpenItemKind

// The kinds of open item; view documents each.
const (
	OpenAction     = view.OpenAction
	OpenManualStep = view.OpenManualStep
	OpenApproval   = view.OpenApproval
	OpenEquipment  = view.OpenEquipment
	OpenNotice     = view.OpenNotice
)

// OpenItem is one thing a case still waits for (view.OpenItem).
type OpenItem = view.OpenItem

// openItemGatherers are the sources of open items besides the case's
// actions, each read inside the case's transaction. A new kind of item
// (notices) is one more entry here.
var openItemGatherers = []func(tx *gorm.DB, c *store.Case) ([]OpenItem, error){
	approvalItems,
	equipmentItems,
	noticeItems,
}

// openItems lists everything case c still waits for, in this order:
// actions and manual steps, approvals, equipment, then the other
// gatherers'. Empty means the case may close.
func (e *Engine) openItems(tx *gorm.DB, c *store.Case, cas *caseActions) ([]OpenItem, error) {
	var items []OpenItem
	for i := range cas.acts {
		a := &cas.acts[i]
		if _, kept := cas.preserved[a.Name]; kept || cas.settled(a) {
			continue
		}
		it := OpenItem{Kind: OpenAction, ID: a.ID, Name: a.Name, Status: a.Status, DueAt: a.DueAt, Ticket: a.Ticket.Key, TicketURL: view.LinkURL(a.Ticket.URL)}
		if a.Manual {
			it.Kind = OpenManualStep
		}
		if o := e.owners[a.Connector]; o != "" {
			it.Owner = "channel:" + strings.TrimPrefix(o, "channel:")
		}
		items = append(items, it)
	}
	for _, gather := range openItemGatherers {
		more, err := gather(tx, c)
		if err != nil {
			return nil, err
		}
		items = append(items, more...)
	}
	return items, nil
}

// noticeItems lists the case's notices nobody on the receiving team has
// acknowledged yet; the team is the item's owner.
func noticeItems(tx *gorm.DB, c *store.Case) ([]OpenItem, error) {
	ns, err := store.CaseOpenNotices(tx, c.ID)
	if err != nil {
		return nil, err
	}
	items := make([]OpenItem, 0, len(ns))
	for _, n := range ns {
		to := n.Recipients
		if to == "" {
			to = n.Channel
		}
		items = append(items, OpenItem{Kind: OpenNotice, ID: n.ID, Name: "to " + n.Team, Status: "unacknowledged", Owner: "channel:" + n.Team, To: to})
	}
	return items, nil
}

// approvalItems lists the case's approvals awaiting a decision.
func approvalItems(tx *gorm.DB, c *store.Case) ([]OpenItem, error) {
	var aps []store.Approval
	if err := tx.Where("case_id = ? AND status = ?", c.ID, store.ApprovalPending).Order("id").Find(&aps).Error; err != nil {
		return nil, err
	}
	items := make([]OpenItem, 0, len(aps))
	for _, ap := range aps {
		items = append(items, OpenItem{Kind: OpenApproval, ID: ap.ID, Name: ap.Kind, Status: ap.Status, DueAt: ap.ExpiresAt})
	}
	return items, nil
}

// equipmentItems lists the case's devices without a disposition: not
// final, and not preserved under a legal hold that still covers the case
// (a preserved device whose hold was released must be wiped and disposed
// of like any other).
func equipmentItems(tx *gorm.DB, c *store.Case) ([]OpenItem, error) {
	ts, err := store.CaseEquipment(tx, c.ID)
	if err != nil {
		return nil, err
	}
	var items []OpenItem
	for _, t := range ts {
		if store.EquipmentFinal(t.Status) {
			continue
		}
		if t.Status == store.EquipmentPreserved {
			covered, _, err := legalHoldCovers(tx, c.ID)
			if err != nil {
				return nil, err
			}
			if covered {
				continue
			}
		}
		items = append(items, OpenItem{Kind: OpenEquipment, ID: t.ID, Name: t.AssetTag, Status: t.Status, Owner: "channel:" + t.AssigneeTeam, DueAt: t.DueAt,
			Ticket: t.Ticket.Key, TicketURL: view.LinkURL(t.Ticket.URL)})
	}
	return items, nil
}

// OpenItems returns what case caseID still waits for before it closes
// (see the completion gate above); empty for a closed case.
func (e *Engine) OpenItems(ctx context.Context, caseID int64) ([]OpenItem, error) {
	db := e.store.Conn(ctx)
	c, err := store.CaseByID(db, caseID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: case %d", ErrNotFound, caseID)
	}
	if err != nil {
		return nil, err
	}
	if !store.CaseOpen(c.Status) {
		return nil, nil
	}
	cas, err := loadCaseActions(db, caseID)
	if err != nil {
		return nil, err
	}
	return e.openItems(db, c, cas)
}

// isRevocation reports whether a is a revocation: neither a manual step
// nor a notification.
func isRevocation(a *store.Action) bool { return !a.Manual && a.Phase < 3 }

// revokedVerified reports whether revocation a is done and proven: it
// succeeded and its read-back verified it, or there was no account.
func revokedVerified(a *store.Action) bool {
	switch a.Status {
	case store.ActionSucceeded:
		return a.Verified
	case store.ActionSkipped:
		return a.Outcome != outcomeSkippedByPerson
	}
	return false
}

// outcomeSkippedByPerson is the outcome of an action a person skipped.
const outcomeSkippedByPerson = "skipped_by_person"

// noteRevoked records the moment access was fully revoked, once: when
// every revocation of a started case is verified (see revokedVerified). It
// writes Case.RevokedAt, the audit event case.access_revoked with the
// time from the effective time, and announces it.
func (e *Engine) noteRevoked(tx *gorm.DB, au *auditBuf, c *store.Case, cas *caseActions, now time.Time, evs []Event) ([]Event, error) {
	if c.StartedAt == nil || c.RevokedAt != nil {
		return evs, nil
	}
	n := 0
	for i := range cas.acts {
		a := &cas.acts[i]
		if _, kept := cas.preserved[a.Name]; kept || !isRevocation(a) {
			continue
		}
		if !revokedVerified(a) {
			return evs, nil
		}
		n++
	}
	if n == 0 {
		return evs, nil
	}
	if err := tx.Model(c).Updates(map[string]any{"revoked_at": now}).Error; err != nil {
		return evs, err
	}
	c.RevokedAt = &now
	detail := fmt.Sprintf("access fully revoked %s: %d %s verified", sinceEffective(c, now), n, text.Plural(n, "revocation"))
	au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", Event: "case.access_revoked", Result: "verified", Detail: detail})
	return append(evs, Event{Kind: EventAccessRevoked, CaseID: c.ID, Status: c.Status, Detail: detail, At: now}), nil
}

// sinceEffective says how long after (or before) c's effective time t is.
func sinceEffective(c *store.Case, t time.Time) string {
	d := t.Sub(c.EffectiveAt).Round(time.Millisecond)
	if d < 0 {
		return (-d).String() + " before the effective time"
	}
	return d.String() + " after the effective time"
}

// accessSummary is the security figure for a closing case: "access fully
// revoked 2.5s after the effective time", or what is not proven revoked.
func accessSummary(c *store.Case, cas *caseActions) string {
	if c.RevokedAt != nil {
		return "access fully revoked " + sinceEffective(c, *c.RevokedAt)
	}
	var not []string
	for i := range cas.acts {
		a := &cas.acts[i]
		if _, kept := cas.preserved[a.Name]; !kept && isRevocation(a) && !revokedVerified(a) {
			not = append(not, a.Name)
		}
	}
	if len(not) == 0 {
		return ""
	}
	return fmt.Sprintf("access NOT fully revoked: %d %s not verified (%s)", len(not), text.Plural(len(not), "revocation"), strings.Join(not, ", "))
}

// equipmentSummary counts a closing case's devices by status: "2
// devices: 1 disposed, 1 lost", or "".
func equipmentSummary(tx *gorm.DB, caseID int64) (string, bool, error) {
	ts, err := store.CaseEquipment(tx, caseID)
	if err != nil || len(ts) == 0 {
		return "", false, err
	}
	counts := map[string]int{}
	for _, t := range ts {
		counts[t.Status]++
	}
	var parts []string
	for _, s := range EquipmentStatuses() {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], equipmentWord(s)))
		}
	}
	exception := counts[store.EquipmentLost] > 0 || counts[store.EquipmentPreserved] > 0
	return fmt.Sprintf("%d %s: %s", len(ts), text.Plural(len(ts), "device"), strings.Join(parts, ", ")), exception, nil
}

// skippedBy returns who skipped a (its detail reads "skipped by ID: …").
func skippedBy(a *store.Action) string {
	rest, ok := strings.CutPrefix(a.Detail, "skipped by ")
	if !ok {
		return "a person"
	}
	who, _, _ := strings.Cut(rest, ":")
	return strings.TrimSpace(who)
}

// skippedByPeople renders the people who skipped actions: "1 skipped by
// E0100", "2 skipped by E0100, E0102".
func skippedByPeople(acts []store.Action, dead map[string]string) string {
	n := 0
	var who []string
	for i := range acts {
		if _, isDead := dead[acts[i].Name]; isDead {
			continue
		}
		if acts[i].Status == store.ActionSkipped && acts[i].Outcome == outcomeSkippedByPerson {
			n++
			who = append(who, skippedBy(&acts[i]))
		}
	}
	if n == 0 {
		return ""
	}
	slices.Sort(who)
	return fmt.Sprintf("%d skipped by %s", n, strings.Join(slices.Compact(who), ", "))
}
