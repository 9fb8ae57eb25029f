package engine

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
	"github.com/kineticsec/kinetic/store"
)

// Sweep duty: a device whose return is overdue by the policy's
// equipment.mdm.lock_overdue_after is locked through the MDM — one action
// of operation lock_devices per task (named after it, so it is added
// once), restricted to the device's serial when the asset tracker gave
// one. A device already received (or further) is back and never locked.
// The action runs through the job machinery like any other.

// sweepEquipmentLocks adds the lock of every device overdue by the
// policy's lock_overdue_after, and returns how many it added.
func (e *Engine) sweepEquipmentLocks(ctx context.Context) (int, error) {
	m := e.policy.Load().File.Equipment.MDM
	if m == nil || m.Connector == "" || m.LockOverdueAfter.D() <= 0 {
		return 0, nil
	}
	now := e.clock()
	overdue, err := e.store.OverdueEquipment(ctx, now.Add(-m.LockOverdueAfter.D()), 500)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range overdue {
		var evs []Event
		var ds []dispatch
		added := false
		err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
			evs, ds, added = nil, nil, false
			c, err := store.LockCase(tx, t.CaseID)
			if err != nil {
				return err
			}
			switch c.Status {
			case store.CaseCancelled, store.CaseValidating, store.CaseAwaitingConfirmation, store.CaseHeld:
				return nil
			}
			var cur store.EquipmentTask
			if err := tx.First(&cur, t.ID).Error; err != nil {
				return err
			}
			if (cur.Status != store.EquipmentOpen && cur.Status != store.EquipmentReturnRequested) || cur.DueAt == nil ||
				!now.After(cur.DueAt.Add(m.LockOverdueAfter.D())) {
				return nil // back (received or later), or its due date moved
			}
			if added, err = e.addEquipmentAction(tx, au, c, deviceAction(connectors.OpLockDevices, cur.AssetTag),
				text.ClipBytes(fmt.Sprintf("Lock overdue device %s", cur.AssetTag), 250), m.Connector, connectors.OpLockDevices,
				configs.PhaseEntitlements, connectors.DeviceParams(serialsOf(&cur), c.CreatedAt, false), nil, now); err != nil || !added {
				return err
			}
			detail := fmt.Sprintf("%s (%s) of %s is overdue by %s (due %s): locking it through %s", cur.AssetTag, cur.Category, c.EmployeeName,
				now.Sub(*cur.DueAt).Round(time.Second), cur.DueAt.Format(time.RFC3339), m.Connector)
			au.add(store.Entry{Time: now, CaseID: c.ID, Actor: "sweep", System: m.Connector, Event: "equipment.lock_requested", Result: "lock_devices", Detail: detail})
			evs = append(evs, Event{Kind: EventEquipment, CaseID: c.ID, EquipmentID: cur.ID, Name: cur.AssetTag, Status: cur.Status,
				Targets: []string{"channel:" + cur.AssigneeTeam}, Detail: detail, At: now})
			if c.Status == store.CaseRunning {
				ds, evs, err = e.advance(tx, au, c, now, evs)
			}
			return err
		})
		if err != nil {
			return n, err
		}
		if added {
			n++
		}
		e.emit(evs...)
		e.dispatchAll(ctx, ds)
	}
	return n, nil
}
