package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
)

// Source-of-authority ordering: a system whose accounts a directory sync
// copies from another (connectors.NAME.synced_from: ad) is disabled after
// its source, because a sync running in between would undo the change made
// downstream first (Entra Connect writes AD's accountEnabled over the cloud
// user's on every cycle: https://learn.microsoft.com/en-us/entra/identity/hybrid/connect/how-to-connect-sync-feature-scheduler).

// disablingOps are the operations a sync from the source would undo.
var disablingOps = []connectors.Operation{connectors.OpDisableAccount, connectors.OpDeactivateUser}

func isDisabling(op string) bool { return slices.Contains(disablingOps, connectors.Operation(op)) }

// syncedFrom names the instance connector's accounts are synced from, or "".
func (e *Engine) syncedFrom(connector string) string {
	in, ok := e.reg.Get(connector)
	if !ok {
		return ""
	}
	return in.SyncedFrom
}

// orderBySource adds, to every disabling action on a synced system, a
// dependency on each disabling action on its source (and the source's
// source, up the chain), and says why in Ordering. A dependency is not
// added where it could not be honoured — the source's action is in a later
// phase, or already waits on the synced one — and Ordering says that
// instead, so the preview never hides the risk.
func orderBySource(acts []PlannedAction, syncedFrom func(string) string) {
	idx := map[string]int{}
	for i, a := range acts {
		idx[a.Name] = i
	}
	for i := range acts {
		a := &acts[i]
		if a.Manual || !isDisabling(a.Operation) {
			continue
		}
		var notes []string
		seen := map[string]bool{a.Connector: true}
		for src := syncedFrom(a.Connector); src != "" && !seen[src]; src = syncedFrom(src) {
			seen[src] = true
			var added []string
			for _, b := range acts {
				if b.Connector != src || b.Manual || !isDisabling(b.Operation) {
					continue
				}
				switch {
				case slices.Contains(a.DependsOn, b.Name):
					added = append(added, b.Name)
				case b.Phase > a.Phase:
					notes = append(notes, fmt.Sprintf("%s cannot wait for %s (a later phase): a sync from %s may undo it until %s runs", a.Connector, b.Name, src, b.Name))
				case dependsOn(acts, idx, b.Name, a.Name, map[string]bool{}):
					notes = append(notes, fmt.Sprintf("%s cannot wait for %s (the policy orders it the other way)", a.Connector, b.Name))
				default:
					a.DependsOn = append(slices.Clone(a.DependsOn), b.Name)
					added = append(added, b.Name)
				}
			}
			if len(added) > 0 {
				notes = append(notes, fmt.Sprintf("%s waits for %s: synced from it (%s first)", a.Connector, src, strings.Join(added, ", ")))
			}
		}
		if len(notes) > 0 {
			a.Ordering = strings.Join(notes, "; ")
		}
	}
}

// dependsOn reports whether action from waits, directly or through others,
// for action to.
func dependsOn(acts []PlannedAction, idx map[string]int, from, to string, seen map[string]bool) bool {
	if seen[from] {
		return false
	}
	seen[from] = true
	i, ok := idx[from]
	if !ok {
		return false
	}
	for _, d := range acts[i].DependsOn {
		if d == to || dependsOn(acts, idx, d, to, seen) {
			return true
		}
	}
	return false
}
