package configs

import (
	"maps"
	"slices"
	"strings"
)

// validateSyncedFrom checks every connectors.NAME.synced_from: it names
// another configured instance, and following the names never comes back
// to where it started.
func validateSyncedFrom(d *doc, conns map[string]*ConnectorInstance) {
	for _, name := range slices.Sorted(maps.Keys(conns)) {
		ci := conns[name]
		if ci == nil || ci.SyncedFrom == "" {
			continue
		}
		key := joinKey("connectors", name) + ".synced_from"
		src := ci.SyncedFrom
		if src == name {
			d.add(key, "an instance cannot be synced from itself")
			continue
		}
		if _, ok := conns[src]; !ok {
			d.add(key, "%q is not a configured connector instance (configured: %s)", src, strings.Join(slices.Sorted(maps.Keys(conns)), ", "))
			continue
		}
		if cycle := SyncCycle(conns, name); cycle != nil {
			d.add(key, "synced_from loops: %s", strings.Join(cycle, " -> "))
		}
	}
}

// SyncCycle follows synced_from from instance start and returns the loop
// it finds (start first and last), or nil when the chain ends.
func SyncCycle(conns map[string]*ConnectorInstance, start string) []string {
	path := []string{start}
	seen := map[string]bool{start: true}
	cur := start
	for {
		ci := conns[cur]
		if ci == nil || ci.SyncedFrom == "" {
			return nil
		}
		cur = ci.SyncedFrom
		path = append(path, cur)
		if cur == start {
			return path
		}
		if seen[cur] {
			return nil // a loop further on, reported from its own members
		}
		seen[cur] = true
	}
}
