package connectors

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Equipment recovery: what the asset tracker and MDM connectors offer the
// engine's equipment tasks.
//
// Asset trackers (connectors/snipeit) are read through the optional
// AssetLister capability and updated through OpRecordEquipmentStep, one
// action per step of a task (the engine enqueues it like any other action,
// so it is retried, verified by reading back and audited). MDM connectors
// (connectors/intune, connectors/jamf) lock, retire and wipe the person's
// managed devices through OpLockDevices, OpRetireDevices and OpWipeDevices.

// Equipment operations.
const (
	// OpRecordEquipmentStep records one step of an equipment task on the
	// asset in the asset tracker. Params:
	//
	//   - ParamAssetTag (required): the asset's tag.
	//   - ParamEquipmentState (required): one of the EquipmentStates.
	//   - ParamCaseRef (required): the case reference written in the notes.
	//   - ParamDispositionRef: the certificate-of-destruction or
	//     redeployment reference; required for "disposed".
	//
	// An asset assigned to someone other than the subject is a permanent
	// (KindInvalid) error and nothing is changed.
	OpRecordEquipmentStep Operation = "record_equipment_step"
	// OpLockDevices remotely locks the subject's managed devices (all of
	// them, or those whose serial numbers ParamSerials lists).
	OpLockDevices Operation = "lock_devices"
	// OpRetireDevices removes company data and management from the
	// subject's managed devices (Intune "retire"), leaving personal data.
	OpRetireDevices Operation = "retire_devices"
	// OpWipeDevices factory-resets the subject's managed devices. It is
	// refused with a KindInvalid error, before any request, when
	// ParamLegalHold is "true": wiping is gated like mailbox deletion.
	OpWipeDevices Operation = "wipe_devices"
)

// Request.Params keys used by the equipment operations.
const (
	ParamAssetTag       = "asset_tag"
	ParamEquipmentState = "state"
	ParamCaseRef        = "case_ref"
	ParamDispositionRef = "reference"
	// ParamSerials restricts a device operation to the devices with these
	// serial numbers (comma separated). A serial that is not one of the
	// subject's devices is a KindInvalid error and nothing is changed.
	ParamSerials = "serials"
	// ParamLegalHold is "true" when a legal hold covers the case.
	ParamLegalHold = "legal_hold"
	// ParamSince (RFC 3339) is when the case started: a device action
	// already issued since then counts as done (idempotency across
	// retries). Connectors use a recent window when it is absent.
	ParamSince = "since"
)

// Equipment task states as the asset tracker records them (the engine's
// store.EquipmentTask states from return_requested on).
const (
	EquipmentReturnRequested = "return_requested"
	EquipmentReceived        = "received"
	EquipmentWiped           = "wiped"
	EquipmentPreserved       = "preserved"
	EquipmentRedeployed      = "redeployed"
	EquipmentDisposed        = "disposed"
	EquipmentLost            = "lost"
)

// EquipmentStates lists the states OpRecordEquipmentStep accepts, in
// recovery order.
var EquipmentStates = []string{
	EquipmentReturnRequested, EquipmentReceived, EquipmentWiped, EquipmentPreserved,
	EquipmentRedeployed, EquipmentDisposed, EquipmentLost,
}

// Asset is one item an asset tracker says is checked out to a person.
type Asset struct {
	// ID is the tracker's identifier of the item.
	ID string
	// Kind is "hardware", "accessory" or "license".
	Kind string
	// Tag is the asset tag (hardware; empty for accessories and licenses).
	Tag      string
	Name     string
	Category string
	Model    string
	Serial   string
	// Status is the tracker's status label (e.g. "Deployed").
	Status string
}

// AssetLister is the optional capability of an asset tracker to list what
// is checked out to a subject. No person, or nothing checked out, is an
// empty list and a nil error.
type AssetLister interface {
	ListAssets(ctx context.Context, s Subject) ([]Asset, error)
}

// EquipmentSource says where an equipment item was found.
type EquipmentSource string

// Equipment sources.
const (
	// SourceBoth: on the HR record and checked out in the tracker.
	SourceBoth EquipmentSource = "hr+tracker"
	// SourceHR: only on the HR record (the tracker does not show it
	// checked out to the person: not recorded, or checked out elsewhere).
	SourceHR EquipmentSource = "hr"
	// SourceTracker: only in the tracker (HR does not list it).
	SourceTracker EquipmentSource = "tracker"
)

// EquipmentItem is one device to recover after merging the HR record's
// equipment list with the tracker's assets.
type EquipmentItem struct {
	// Tag is the asset tag as written first (HR's spelling when both have
	// it); empty for a tracker item without a tag (accessory, license).
	Tag    string
	Source EquipmentSource
	// Asset is the tracker's record; nil when Source is SourceHR.
	Asset *Asset
}

// MergeEquipment merges the HR record's asset tags with the tracker's
// assets by asset tag, compared case-insensitively with surrounding space
// ignored. Every HR tag and every tracker asset appears exactly once: HR's
// order first, then the tracker's remaining items in their order. Empty
// or repeated HR tags are dropped. It is a pure function.
func MergeEquipment(hrTags []string, tracked []Asset) []EquipmentItem {
	norm := func(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }
	used := make([]bool, len(tracked))
	seen := map[string]bool{}
	var out []EquipmentItem
	for _, tag := range hrTags {
		k := norm(tag)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		item := EquipmentItem{Tag: strings.TrimSpace(tag), Source: SourceHR}
		if i := slices.IndexFunc(tracked, func(a Asset) bool { return a.Tag != "" && norm(a.Tag) == k }); i >= 0 {
			a := tracked[i]
			item.Source, item.Asset = SourceBoth, &a
			for j := range tracked { // the same tag twice in the tracker is one device
				if tracked[j].Tag != "" && norm(tracked[j].Tag) == k {
					used[j] = true
				}
			}
		}
		out = append(out, item)
	}
	for i, a := range tracked {
		if used[i] {
			continue
		}
		k := norm(a.Tag)
		if k != "" {
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		a := a
		out = append(out, EquipmentItem{Tag: strings.TrimSpace(a.Tag), Source: SourceTracker, Asset: &a})
	}
	return out
}

// EquipmentStepParams returns the Request.Params of an
// OpRecordEquipmentStep action; ref may be empty except for "disposed".
func EquipmentStepParams(assetTag, state, caseRef, ref string) map[string]string {
	p := map[string]string{ParamAssetTag: assetTag, ParamEquipmentState: state, ParamCaseRef: caseRef}
	if ref != "" {
		p[ParamDispositionRef] = ref
	}
	return p
}

// DeviceParams returns the Request.Params of an OpLockDevices,
// OpRetireDevices or OpWipeDevices action: the serials to act on (none:
// every device of the subject), the case's start (zero: the connector's
// reuse window) and whether a legal hold covers the case.
func DeviceParams(serials []string, since time.Time, legalHold bool) map[string]string {
	p := map[string]string{ParamLegalHold: strconv.FormatBool(legalHold)}
	if len(serials) > 0 {
		p[ParamSerials] = strings.Join(serials, ",")
	}
	if !since.IsZero() {
		p[ParamSince] = since.UTC().Format(time.RFC3339)
	}
	return p
}
