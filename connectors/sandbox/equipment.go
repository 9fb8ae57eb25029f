package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
)

// The simulated asset tracker ("assets": the AssetLister capability and
// record_equipment_step) and MDM ("mdm": lock_devices, retire_devices,
// wipe_devices), with the contracts of connectors/equipment.go: an asset
// assigned to someone else, or a serial that is not one of the person's
// devices, is a KindInvalid error and nothing changes; a wipe under a
// legal hold is refused before anything; every change reads back.

var _ connectors.AssetLister = (*Connector)(nil)

// SerialOf is the serial number the simulated systems give the device
// with asset tag tag: the tracker lists it and the MDM knows the device
// by it.
func SerialOf(tag string) string { return "SN-" + strings.ToUpper(strings.TrimSpace(tag)) }

// equipmentOp reports whether op is one of the equipment operations,
// which address devices by tag or serial rather than accounts.
func equipmentOp(op connectors.Operation) bool {
	switch op {
	case connectors.OpRecordEquipmentStep, connectors.OpLockDevices, connectors.OpRetireDevices, connectors.OpWipeDevices:
		return true
	}
	return false
}

// ListAssets lists the devices checked out to s on the "assets" system
// (none on the others), each with its serial (SerialOf).
func (c *Connector) ListAssets(ctx context.Context, s connectors.Subject) ([]connectors.Asset, error) {
	if err := c.begin(ctx, "list assets", s, ""); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.system != "assets" {
		return nil, nil
	}
	var out []connectors.Asset
	if r := c.findRecord(s); r != nil {
		for _, a := range r.accounts {
			if a.Kind == "device" {
				out = append(out, connectors.Asset{ID: a.ID, Kind: "hardware", Tag: a.ID, Name: a.Detail, Category: a.Detail,
					Serial: SerialOf(a.ID), Status: "Deployed"})
			}
		}
	}
	return out, nil
}

func (c *Connector) invalid(op connectors.Operation, format string, args ...any) error {
	e := connectors.NewError(connectors.KindInvalid, c.name, string(op), fmt.Errorf(format, args...))
	e.Status = 422
	return e
}

// doEquipment performs an equipment operation under c.mu.
func (c *Connector) doEquipment(req connectors.Request) (connectors.Result, error) {
	if req.Operation == connectors.OpRecordEquipmentStep {
		a, err := c.asset(req)
		if a == nil || err != nil {
			return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no asset " + req.Params[connectors.ParamAssetTag]}, err
		}
		state, ref := req.Params[connectors.ParamEquipmentState], req.Params[connectors.ParamDispositionRef]
		if a.step == state && a.stepRef == ref {
			return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: a.ID, Detail: "already recorded: " + state}, nil
		}
		was := or(a.step, "deployed")
		a.step, a.stepRef = state, ref
		change := fmt.Sprintf("step %s->%s (%s)", was, state, req.Params[connectors.ParamCaseRef])
		c.effect(req.Operation, a.ID, change)
		return connectors.Result{Outcome: connectors.OutcomeDone, Account: a.ID, Detail: a.ID + ": " + change}, nil
	}
	devs, err := c.devices(req)
	if err != nil {
		return connectors.Result{}, err
	}
	if len(devs) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no managed devices"}, nil
	}
	want := mdmState(req.Operation)
	var changed, ids []string
	for _, d := range devs {
		ids = append(ids, d.ID)
		if mdmRank(d.mdm) >= mdmRank(want) {
			continue
		}
		change := fmt.Sprintf("%s->%s", or(d.mdm, "managed"), want)
		d.mdm = want
		c.effect(req.Operation, d.ID, change)
		changed = append(changed, d.ID+" ("+d.Detail+"): "+change)
	}
	if len(changed) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: strings.Join(ids, ","), Detail: "already " + want}, nil
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: strings.Join(ids, ","), Detail: strings.Join(changed, "; ")}, nil
}

// verifyEquipment reads an equipment operation's effect back under c.mu.
func (c *Connector) verifyEquipment(req connectors.Request) (connectors.Verification, error) {
	if req.Operation == connectors.OpRecordEquipmentStep {
		a, err := c.asset(req)
		if err != nil {
			return connectors.Verification{}, err
		}
		if a == nil {
			return connectors.Verification{OK: true, Detail: "no asset"}, nil
		}
		state := req.Params[connectors.ParamEquipmentState]
		return connectors.Verification{OK: a.step == state, Detail: fmt.Sprintf("%s step=%s", a.ID, or(a.step, "deployed"))}, nil
	}
	devs, err := c.devices(req)
	if err != nil {
		return connectors.Verification{}, err
	}
	if len(devs) == 0 {
		return connectors.Verification{OK: true, Detail: "no managed devices"}, nil
	}
	ok, want := true, mdmState(req.Operation)
	var details []string
	for _, d := range devs {
		ok = ok && mdmRank(d.mdm) >= mdmRank(want)
		details = append(details, fmt.Sprintf("%s=%s", d.ID, or(d.mdm, "managed")))
	}
	return connectors.Verification{OK: ok, Detail: strings.Join(details, "; ")}, nil
}

// asset finds the asset a record_equipment_step names; nil when the
// tracker has no such tag, an error when it is someone else's or the
// parameters are incomplete.
func (c *Connector) asset(req connectors.Request) (*account, error) {
	op := req.Operation
	tag := strings.TrimSpace(req.Params[connectors.ParamAssetTag])
	state := req.Params[connectors.ParamEquipmentState]
	switch {
	case tag == "":
		return nil, c.invalid(op, "%s is required", connectors.ParamAssetTag)
	case !slices.Contains(connectors.EquipmentStates, state):
		return nil, c.invalid(op, "%q is not an equipment state", state)
	case strings.TrimSpace(req.Params[connectors.ParamCaseRef]) == "":
		return nil, c.invalid(op, "%s is required", connectors.ParamCaseRef)
	case state == connectors.EquipmentDisposed && strings.TrimSpace(req.Params[connectors.ParamDispositionRef]) == "":
		return nil, c.invalid(op, "a disposal needs its %s", connectors.ParamDispositionRef)
	}
	a := c.findAccount(tag)
	if a == nil {
		a = c.findAccount(strings.ToUpper(tag))
	}
	r := c.findRecord(req.Subject)
	if a == nil || a.Kind != "device" || r == nil {
		return nil, nil // no such asset, or the tracker does not know the person
	}
	if a.owner != r {
		return nil, c.invalid(op, "asset %s is assigned to someone else; nothing was changed", tag)
	}
	return a, nil
}

// devices finds the subject's managed devices a device operation acts
// on: those whose serials ParamSerials lists, or all.
func (c *Connector) devices(req connectors.Request) ([]*account, error) {
	op := req.Operation
	if op == connectors.OpWipeDevices && req.Params[connectors.ParamLegalHold] == "true" {
		return nil, c.invalid(op, "a legal hold covers the case: devices are not wiped")
	}
	var mine []*account
	if r := c.findRecord(req.Subject); r != nil {
		for _, a := range r.accounts {
			if a.Kind == "device" {
				mine = append(mine, a)
			}
		}
	}
	list := strings.TrimSpace(req.Params[connectors.ParamSerials])
	if list == "" {
		return mine, nil
	}
	var out []*account
	for _, sn := range strings.Split(list, ",") {
		sn = strings.TrimSpace(sn)
		i := slices.IndexFunc(mine, func(a *account) bool { return strings.EqualFold(a.ID, sn) })
		if i < 0 {
			return nil, c.invalid(op, "device %s is not one of the person's managed devices; nothing was changed", sn)
		}
		out = append(out, mine[i])
	}
	return out, nil
}

func mdmState(op connectors.Operation) string {
	switch op {
	case connectors.OpRetireDevices:
		return "retired"
	case connectors.OpWipeDevices:
		return "wiped"
	}
	return "locked"
}

func mdmRank(s string) int {
	return map[string]int{"": 0, "locked": 1, "retired": 2, "wiped": 3}[s]
}
