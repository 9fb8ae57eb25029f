// Package devices holds what the MDM connectors (intune, jamf) share about
// the device operations: the wipe gate under a legal hold, the selection of
// devices by serial number, and the window in which an action already
// issued counts as done.
package devices

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

// DefaultReuseWindow is how far back an action already issued to a device
// counts as done when the request carries no connectors.ParamSince.
const DefaultReuseWindow = 24 * time.Hour

// Ops are the device operations in the order the engine escalates them.
var Ops = []connectors.Operation{connectors.OpLockDevices, connectors.OpRetireDevices, connectors.OpWipeDevices}

// CheckHold refuses a wipe when the request says a legal hold covers the
// case: a permanent error, returned before any request is made.
func CheckHold(connector string, req connectors.Request) error {
	if req.Operation == connectors.OpWipeDevices && strings.EqualFold(strings.TrimSpace(req.Params[connectors.ParamLegalHold]), "true") {
		return connectors.NewError(connectors.KindInvalid, connector, string(req.Operation), errors.New(
			"refused: a legal hold covers the case, and wiping would destroy what it preserves; nothing was sent (release the hold, or mark the device preserved)"))
	}
	return nil
}

// Device is one managed device as the MDM connectors see it.
type Device struct {
	ID     string
	Name   string
	Serial string
	// Kind is "computer", "mobile" or the platform.
	Kind string
}

// Select returns the devices req targets: all of them, or those whose
// serial numbers connectors.ParamSerials lists (case-insensitive). A
// listed serial that is not one of them is a KindInvalid error naming it:
// the device is someone else's or unmanaged, and nothing is sent.
func Select(connector string, req connectors.Request, all []Device) ([]Device, error) {
	raw := strings.TrimSpace(req.Params[connectors.ParamSerials])
	if raw == "" {
		return all, nil
	}
	var out []Device
	var missing []string
	for _, s := range strings.Split(raw, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		i := slices.IndexFunc(all, func(d Device) bool { return d.Serial != "" && strings.EqualFold(d.Serial, s) })
		if i < 0 {
			missing = append(missing, s)
			continue
		}
		if !slices.ContainsFunc(out, func(d Device) bool { return d.ID == all[i].ID }) {
			out = append(out, all[i])
		}
	}
	if len(missing) > 0 {
		return nil, connectors.NewError(connectors.KindInvalid, connector, string(req.Operation), fmt.Errorf(
			"serial %s is not among the subject's managed devices: nothing was sent", strings.Join(missing, ", ")))
	}
	return out, nil
}

// Since returns the time from which an action already issued counts as
// done: connectors.ParamSince when the request carries it, else now minus
// window.
func Since(connector string, req connectors.Request, now time.Time, window time.Duration) (time.Time, error) {
	if s := strings.TrimSpace(req.Params[connectors.ParamSince]); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, connectors.NewError(connectors.KindInvalid, connector, string(req.Operation),
				fmt.Errorf("params.since %q is not an RFC 3339 time", s))
		}
		return t, nil
	}
	if window <= 0 {
		window = DefaultReuseWindow
	}
	return now.Add(-window), nil
}

// Names lists devices for a detail line: "name (serial)".
func Names(ds []Device) string {
	var parts []string
	for _, d := range ds {
		n := d.Name
		if n == "" {
			n = d.ID
		}
		if d.Serial != "" {
			n += " (" + d.Serial + ")"
		}
		parts = append(parts, n)
	}
	return strings.Join(parts, ", ")
}
