package configs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// DefaultEquipmentTeam is the team a device goes to when the policy has no
// equipment section, or no entry of it matches the device.
const DefaultEquipmentTeam = "it-assets"

// EquipmentPolicy is the policy's equipment block: how a device from the
// HR record's equipment list gets its category, and which team recovers
// it. For example:
//
//	equipment:
//	  categories: {LT: laptop, PH: phone, MN: monitor, AC: access_card}
//	  teams:
//	    - {category: laptop, location: Berlin, team: it-berlin}
//	    - {category: access_card, team: facilities}
//	    - {team: it-assets}
type EquipmentPolicy struct {
	// Categories maps an asset tag's prefix (the part before its first
	// '-', compared without regard to case: "LT" for "LT-1003") to the
	// device's category. A tag without a known prefix is category
	// "other".
	Categories map[string]string `yaml:"categories"`
	// Teams are tried in order; the first whose category and location
	// (when set) match the device names its team. Without a match the
	// team is DefaultEquipmentTeam.
	Teams []*EquipmentTeam `yaml:"teams"`
	// Tracker names the connector instance of the asset tracker
	// (connectors/snipeit): at planning its AssetLister lists what is
	// checked out to the person, merged by asset tag with the HR record's
	// list (connectors.MergeEquipment), and every move of a task is
	// recorded on the asset by an action of operation
	// record_equipment_step. Empty: no tracker.
	Tracker string `yaml:"tracker"`
	// Due overrides defaults.equipment_due by category (phone: 3d): a
	// device of that category is due this long after the effective time.
	Due map[string]Duration `yaml:"due"`
	// MDM says when the person's managed devices are locked or wiped
	// (nil: never).
	MDM *EquipmentMDM `yaml:"mdm"`
	// ReturnInstructions tell the departing person how to return a device
	// once its return is requested: a drop-off desk and its hours, how to
	// get a prepaid shipping label. They go by email to the person's
	// private address (the HR record's private_email) when there is one
	// and the email channel (chat.email) is configured, else to their
	// manager in chat. At most MaxReturnInstructions bytes; empty says
	// the team will be in touch.
	ReturnInstructions string `yaml:"return_instructions"`
}

// MaxReturnInstructions bounds EquipmentPolicy.ReturnInstructions.
const MaxReturnInstructions = 2000

// Equipment MDM triggers (EquipmentMDM.LockWhen).
const (
	// LockInvoluntary locks the devices as soon as an involuntary case
	// starts.
	LockInvoluntary = "involuntary"
)

// EquipmentMDM says when the MDM connector locks or wipes devices, each
// an action through the job machinery. For example:
//
//	mdm: {connector: intune-mdm, lock_when: [involuntary], lock_overdue_after: 3d, wipe_when_lost: true}
type EquipmentMDM struct {
	// Connector names the MDM connector instance (connectors/intune,
	// connectors/jamf); it must offer lock_devices, and wipe_devices when
	// WipeWhenLost is set.
	Connector string `yaml:"connector"`
	// LockWhen lists the cases whose devices are locked at once:
	// "involuntary".
	LockWhen []string `yaml:"lock_when"`
	// LockOverdueAfter locks a device whose return is overdue by this
	// long (the overdue sweep); 0 never does.
	LockOverdueAfter Duration `yaml:"lock_overdue_after"`
	// WipeWhenLost wipes a device marked lost, unless a legal hold covers
	// the case (then nothing is wiped and the audit trail says why).
	WipeWhenLost bool `yaml:"wipe_when_lost"`
}

// LocksInvoluntary reports whether an involuntary case's devices are
// locked at once.
func (m *EquipmentMDM) LocksInvoluntary() bool {
	return m != nil && m.Connector != "" && slices.Contains(m.LockWhen, LockInvoluntary)
}

// EquipmentTeam assigns matching devices to Team.
type EquipmentTeam struct {
	// Category matches the device's category; empty matches any.
	Category string `yaml:"category"`
	// Location matches the departing person's HR location, without regard
	// to case; empty matches any.
	Location string `yaml:"location"`
	// Team is the routing name of the team that recovers the device: its
	// notices go to channel:TEAM, and the members of the approver group
	// TEAM (and admins) move the task.
	Team string `yaml:"team"`
}

// EquipmentCategory returns the category of the device with asset tag
// tag: the Categories entry of its prefix, else "other".
func (ep *EquipmentPolicy) EquipmentCategory(tag string) string {
	prefix, _, _ := strings.Cut(tag, "-")
	for k, v := range ep.Categories {
		if strings.EqualFold(k, prefix) {
			return v
		}
	}
	return "other"
}

// EquipmentDue returns how long after the effective time a device of
// category is due: its Due entry, else def.
func (ep *EquipmentPolicy) EquipmentDue(category string, def Duration) Duration {
	if d, ok := ep.Due[category]; ok {
		return d
	}
	return def
}

// EquipmentTeamFor returns the team that recovers a device of category
// at location (see Teams).
func (ep *EquipmentPolicy) EquipmentTeamFor(category, location string) string {
	for _, t := range ep.Teams {
		if t == nil {
			continue
		}
		if (t.Category == "" || t.Category == category) && (t.Location == "" || strings.EqualFold(t.Location, location)) {
			return t.Team
		}
	}
	return DefaultEquipmentTeam
}

// validateEquipment checks the equipment block: categories are names,
// every team entry names a team that, when the service has routing and
// approver groups, has a route and an approver group; an entry after a
// catch-all (neither category nor location) can never match.
func (p *Policy) validateEquipment(d *doc, svc *Service) {
	ep := &p.File.Equipment
	for _, k := range slices.Sorted(maps.Keys(ep.Categories)) {
		key := "equipment.categories." + k
		if !nameRE.MatchString(k) || strings.Contains(k, "-") {
			d.add(key, "%q is not an asset tag prefix (letters and digits before the tag's first '-')", k)
		}
		if !nameRE.MatchString(ep.Categories[k]) {
			d.add(key, "%q is not a category name (letters, digits, '-', '_', '.')", ep.Categories[k])
		}
	}
	p.validateEquipmentConnectors(d, svc)
	if len(ep.ReturnInstructions) > MaxReturnInstructions {
		d.add("equipment.return_instructions", "is %d bytes; at most %d", len(ep.ReturnInstructions), MaxReturnInstructions)
	}
	known := map[string]bool{"other": true}
	for _, c := range ep.Categories {
		known[c] = true
	}
	for _, k := range slices.Sorted(maps.Keys(ep.Due)) {
		switch {
		case !known[k]:
			d.add("equipment.due."+k, "unknown category %q (equipment.categories gives: %s)", k, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		case ep.Due[k] <= 0:
			d.add("equipment.due."+k, "must be positive")
		}
	}
	catchAll := -1
	for i, t := range ep.Teams {
		key := fmt.Sprintf("equipment.teams[%d]", i)
		if t == nil {
			d.add(key, "empty entry (needs team)")
			continue
		}
		if catchAll >= 0 {
			d.add(key, "never matches: equipment.teams[%d] matches every device first", catchAll)
		}
		if t.Category == "" && t.Location == "" && catchAll < 0 {
			catchAll = i
		}
		if t.Category != "" && !known[t.Category] {
			d.add(key+".category", "unknown category %q (equipment.categories gives: %s)", t.Category, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
		switch {
		case strings.TrimSpace(t.Team) == "":
			d.add(key+".team", "team is required (the routing name of the team that recovers the device)")
		case !nameRE.MatchString(t.Team):
			d.add(key+".team", "%q is not a team name (letters, digits, '-', '_', '.')", t.Team)
		case svc != nil && len(svc.Routing) > 0 && svc.Routing[t.Team] == nil:
			d.add(key+".team", "team %q has no route: add routing.%s so its recovery tasks reach it", t.Team, t.Team)
		case svc != nil && len(svc.ApproverGroups) > 0 && svc.ApproverGroups[t.Team] == nil:
			d.add(key+".team", "team %q is not an approver group: add approver_groups.%s with the people who may move its recovery tasks", t.Team, t.Team)
		}
	}
}

// validateEquipmentConnectors checks equipment.tracker and equipment.mdm:
// each names a configured instance offering the operations it is used
// for.
func (p *Policy) validateEquipmentConnectors(d *doc, svc *Service) {
	ep := &p.File.Equipment
	needs := func(key, name string, ops ...string) {
		ci, ok := svc.connector(name)
		switch {
		case svc != nil && !ok:
			d.add(key, "connector %q is not configured (configured: %s)", name, strings.Join(slices.Sorted(maps.Keys(svc.Connectors)), ", "))
		case ci == nil:
		default:
			have, known := instanceOperations(ci)
			for _, op := range ops {
				if known && !slices.Contains(have, op) {
					d.add(key, "connector %q (%s) does not support operation %q (supported: %s)", name, describeInstance(ci), op, strings.Join(slices.Sorted(slices.Values(have)), ", "))
				}
			}
		}
	}
	if ep.Tracker != "" {
		needs("equipment.tracker", ep.Tracker, "record_equipment_step")
	}
	m := ep.MDM
	if m == nil {
		return
	}
	if strings.TrimSpace(m.Connector) == "" {
		d.add("equipment.mdm.connector", "connector is required (the MDM connector instance that locks and wipes devices)")
	} else {
		ops := []string{"lock_devices"}
		if m.WipeWhenLost {
			ops = append(ops, "wipe_devices")
		}
		needs("equipment.mdm.connector", m.Connector, ops...)
	}
	for i, w := range m.LockWhen {
		if w != LockInvoluntary {
			d.add(fmt.Sprintf("equipment.mdm.lock_when[%d]", i), "%q is not a lock trigger (want %s)", w, LockInvoluntary)
		}
	}
	if m.LockOverdueAfter < 0 {
		d.add("equipment.mdm.lock_overdue_after", "must not be negative (0 never locks an overdue device)")
	}
}
