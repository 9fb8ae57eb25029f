package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Equipment recovery wired to the asset tracker and the MDM, by the
// policy's equipment block (configs.EquipmentPolicy):
//
//   - discovery: at planning, the tracker's AssetLister lists what is
//     checked out to the person (listTracked); newEquipmentTasks merges it
//     with the HR record's list by asset tag (connectors.MergeEquipment);
//   - every move of a task is recorded on the asset: one action of
//     operation record_equipment_step on the tracker per step
//     (recordEquipmentStep), in the notifications phase, so it runs
//     through the job machinery like any action — retried, verified by
//     reading back, audited — and keeps the case open until it settles.
//     An asset the tracker shows assigned to someone else fails that
//     action permanently and the tracker is left as it was;
//   - the MDM locks the person's devices at once for an involuntary case
//     (an action in the critical phase, planned with the case), locks a
//     device whose return is overdue by lock_overdue_after (the overdue
//     sweep, sweepEquipmentLocks) and wipes a device marked lost unless a
//     legal hold covers the case (then no wipe is issued and the audit
//     trail says so). Each is an action with connectors.DeviceParams,
//     restricted to the device's serial when the tracker gave one.
//
// Every added action is named after its task and step, so adding it
// twice (a retried transaction, a second sweeper) adds it once.

// Names of the actions equipment recovery adds: "equipment_step.TAG.STATE"
// and "OPERATION.TAG". An action's name fits store.Action.Name's column
// (maxActionName bytes) whatever the tag: a tag longer than its share of
// the name (an asset tag may be 128 bytes) is cut and ends in a hash of
// the whole tag (nameTag), so every task of a case keeps its own names,
// and a task's step names share one prefix whatever the state
// (recordEquipmentStep finds the step before by it).
func equipmentStepAction(tag, state string) string {
	return equipmentStepPrefix + nameTag(tag, maxActionName-len(equipmentStepPrefix)-1-maxEquipmentState) + "." + state
}
func deviceAction(op connectors.Operation, tag string) string {
	return string(op) + "." + nameTag(tag, maxActionName-len(op)-1)
}

const (
	equipmentStepPrefix = "equipment_step."
	// maxActionName is store.Action.Name's column size.
	maxActionName = 128
	// maxEquipmentState is the longest equipment status
	// (return_requested).
	maxEquipmentState = len(store.EquipmentReturnRequested)
	// nameTagHash is how many hex digits of the tag's SHA-256 end a cut
	// tag.
	nameTagHash = 16
)

// nameTag is tag as an action name holds it, at most limit bytes: the
// tag itself when it fits, else its first bytes, "~" and the first
// nameTagHash hex digits of the SHA-256 of the whole tag.
func nameTag(tag string, limit int) string {
	if len(tag) <= limit {
		return tag
	}
	sum := sha256.Sum256([]byte(tag))
	n := limit - nameTagHash - 1
	for n > 0 && !utf8.RuneStart(tag[n]) {
		n-- // never cut a character in two
	}
	return tag[:n] + "~" + hex.EncodeToString(sum[:])[:nameTagHash]
}

// stepOf reports whether action name is one of task tag's steps on the
// tracker.
func stepOf(name, tag string) bool {
	state, ok := strings.CutPrefix(name, equipmentStepAction(tag, ""))
	return ok && equipmentRank[state] > 0
}

// actionInvoluntaryLock is the name of the action that locks every
// managed device of an involuntary case's person.
const actionInvoluntaryLock = "lock_devices.involuntary"

// listTracked fills p.Tracked from the policy's asset tracker, if one is
// configured and offers connectors.AssetLister; a failure is recorded in
// p.TrackerError and the HR list alone is used.
func (e *Engine) listTracked(ctx context.Context, p *Plan, pol *configs.Policy) {
	name := pol.File.Equipment.Tracker
	if name == "" {
		return
	}
	in, ok := e.reg.Get(name)
	if !ok {
		p.TrackerError = fmt.Sprintf("asset tracker %s is not configured", name)
		return
	}
	lister, ok := in.Connector.(connectors.AssetLister)
	if !ok {
		p.TrackerError = fmt.Sprintf("asset tracker %s cannot list assets", name)
		return
	}
	lctx, cancel := context.WithTimeout(ctx, e.lookupT)
	defer cancel()
	if ok, err := e.gate.Take(lctx, in, 0); err != nil || !ok {
		p.TrackerError = "not looked up: " + name + "'s rate limit has no request free now"
		return
	}
	assets, err := lister.ListAssets(lctx, Subject(&p.Employee))
	if err != nil {
		p.TrackerError = err.Error()
		return
	}
	for _, a := range assets {
		p.Tracked = append(p.Tracked, view.TrackedAsset{ID: a.ID, Kind: a.Kind, Tag: a.Tag, Name: a.Name, Category: a.Category, Model: a.Model, Serial: a.Serial})
	}
}

// equipmentDevice is one device a case's equipment tasks are made for.
type equipmentDevice struct {
	tag, detail, serial string
	source              connectors.EquipmentSource
}

// caseDevices merges the HR record's list (and a recovery-task lookup's
// devices) with the tracker's by asset tag. Tracker items without a tag
// (licenses, untagged accessories) are returned apart: they are not
// recovered as tasks.
func caseDevices(plan *Plan) (devs []equipmentDevice, untagged []view.TrackedAsset) {
	hr := slices.Clone(plan.Employee.Equipment)
	details := map[string]string{}
	for _, d := range plan.Equipment {
		hr = append(hr, d.ID)
		if k := strings.ToUpper(strings.TrimSpace(d.ID)); details[k] == "" {
			details[k] = d.Detail
		}
	}
	tracked := make([]connectors.Asset, 0, len(plan.Tracked))
	for _, a := range plan.Tracked {
		tracked = append(tracked, connectors.Asset{ID: a.ID, Kind: a.Kind, Tag: a.Tag, Name: a.Name, Category: a.Category, Model: a.Model, Serial: a.Serial})
	}
	for _, it := range connectors.MergeEquipment(hr, tracked) {
		if it.Tag == "" {
			if it.Asset != nil {
				a := it.Asset
				untagged = append(untagged, view.TrackedAsset{ID: a.ID, Kind: a.Kind, Name: a.Name, Category: a.Category})
			}
			continue
		}
		d := equipmentDevice{tag: it.Tag, detail: details[strings.ToUpper(it.Tag)], source: it.Source}
		if it.Asset != nil {
			d.serial = it.Asset.Serial
			if d.detail == "" {
				d.detail = strings.TrimSpace(strings.Join(slices.DeleteFunc([]string{it.Asset.Name, it.Asset.Model}, func(s string) bool { return s == "" }), ", "))
			}
		}
		devs = append(devs, d)
	}
	return devs, untagged
}

// addEquipmentAction adds one action for equipment recovery to case c,
// once: an action of that name already on the case is left as it is and
// false returned. It waits like any action (advance releases it) and
// runs through the job machinery.
func (e *Engine) addEquipmentAction(tx *gorm.DB, au *auditBuf, c *store.Case, name, description, connector string, op connectors.Operation,
	phase string, params map[string]string, dependsOn []string, now time.Time) (bool, error) {
	var n int64
	if err := tx.Model(&store.Action{}).Where("case_id = ? AND name = ?", c.ID, name).Count(&n).Error; err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	pol := e.policy.Load()
	sla := pol.File.Defaults.SLA[phase].D()
	pa := PlannedAction{Name: name, Description: description, Connector: connector, Operation: string(op),
		Phase: configs.PhaseNumber(phase), PhaseName: phase, SLA: sla, DueAt: now.Add(sla), Params: params, DependsOn: dependsOn,
		MaxAttempts: pol.File.Defaults.MaxAttempts, Found: "added by equipment recovery", Simulated: e.simulated(connector)}
	a := newAction(c, pa, now)
	if a.Simulated && !c.Simulated {
		if err := tx.Model(c).Update("simulated", true).Error; err != nil {
			return false, err
		}
		c.Simulated = true
	}
	if err := tx.Create(&a).Error; err != nil {
		return false, err
	}
	au.st.NewAction(&a)
	au.add(store.Entry{Time: now, CaseID: c.ID, ActionID: a.ID, Actor: "kinetic", System: a.Connector,
		Event: "action.added", Result: "ok", Detail: fmt.Sprintf("%s %s (equipment recovery)", a.Operation, describeParams(params))})
	return true, nil
}

// caseRef is how the asset tracker's notes name a case: its reference
// (KIN-12), which the connectors prefix with "Kinetic case " themselves.
func caseRef(c *store.Case) string { return CaseReference(c.ID) }

// recordEquipmentStep adds the action that records task t's new status
// on the asset tracker, when the policy names one.
func (e *Engine) recordEquipmentStep(tx *gorm.DB, au *auditBuf, c *store.Case, t *store.EquipmentTask, now time.Time) error {
	tracker := e.policy.Load().File.Equipment.Tracker
	if tracker == "" || t.Status == store.EquipmentOpen {
		return nil
	}
	// Steps reach the tracker in the order they were made: each waits for
	// the task's step before it (a later step must not be overwritten by
	// an earlier one that ran late).
	var steps []store.Action
	if err := tx.Select("id", "name").Where("case_id = ? AND operation = ?", c.ID, string(connectors.OpRecordEquipmentStep)).
		Order("id").Find(&steps).Error; err != nil {
		return err
	}
	var deps []string
	for _, st := range steps {
		if stepOf(st.Name, t.AssetTag) {
			deps = []string{st.Name} // the latest wins
		}
	}
	if len(deps) == 1 && deps[0] == equipmentStepAction(t.AssetTag, t.Status) {
		deps = nil // already added: addEquipmentAction leaves it
	}
	_, err := e.addEquipmentAction(tx, au, c, equipmentStepAction(t.AssetTag, t.Status),
		text.ClipBytes(fmt.Sprintf("Record %s %s in the asset tracker", t.AssetTag, equipmentWord(t.Status)), 250),
		tracker, connectors.OpRecordEquipmentStep, configs.PhaseNotifications,
		connectors.EquipmentStepParams(t.AssetTag, t.Status, caseRef(c), t.Reference), deps, now)
	return err
}

// serialsOf is the serials an MDM action on task t is restricted to.
func serialsOf(t *store.EquipmentTask) []string {
	if t == nil || t.Serial == "" {
		return nil
	}
	return []string{t.Serial}
}

// lockInvoluntary adds the lock of every managed device of an
// involuntary case's person, when the policy says so.
func (e *Engine) lockInvoluntary(tx *gorm.DB, au *auditBuf, c *store.Case, now time.Time) error {
	m := e.policy.Load().File.Equipment.MDM
	if !c.Involuntary || !m.LocksInvoluntary() {
		return nil
	}
	covered, _, err := legalHoldCovers(tx, c.ID)
	if err != nil {
		return err
	}
	_, err = e.addEquipmentAction(tx, au, c, actionInvoluntaryLock, "Lock every managed device (involuntary departure)",
		m.Connector, connectors.OpLockDevices, configs.PhaseCritical, connectors.DeviceParams(nil, c.CreatedAt, covered), nil, now)
	return err
}

// wipeLost adds the wipe of a device just marked lost, when the policy
// says so — unless a legal hold covers the case or awaits its decision:
// then nothing is wiped, and the audit trail says why.
func (e *Engine) wipeLost(tx *gorm.DB, au *auditBuf, c *store.Case, t *store.EquipmentTask, now time.Time) error {
	m := e.policy.Load().File.Equipment.MDM
	if m == nil || m.Connector == "" || !m.WipeWhenLost || t.Status != store.EquipmentLost {
		return nil
	}
	covered, pending, err := legalHoldCovers(tx, c.ID)
	if err != nil {
		return err
	}
	if covered || pending {
		au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "kinetic", System: m.Connector, Event: "equipment.wipe_withheld", Result: "preserved",
			Detail: fmt.Sprintf("%s is lost but a legal hold covers case %d (or awaits its decision): it is not wiped", t.AssetTag, c.ID)})
		return nil
	}
	_, err = e.addEquipmentAction(tx, au, c, deviceAction(connectors.OpWipeDevices, t.AssetTag),
		text.ClipBytes(fmt.Sprintf("Wipe lost device %s", t.AssetTag), 250), m.Connector, connectors.OpWipeDevices, configs.PhaseEntitlements,
		connectors.DeviceParams(serialsOf(t), c.CreatedAt, false), nil, now)
	return err
}

// afterEquipmentMove adds what a move of task t sets off: its step on the
// tracker and, for a lost device, the wipe.
func (e *Engine) afterEquipmentMove(tx *gorm.DB, au *auditBuf, c *store.Case, t *store.EquipmentTask, now time.Time) error {
	if err := e.recordEquipmentStep(tx, au, c, t, now); err != nil {
		return err
	}
	return e.wipeLost(tx, au, c, t, now)
}
