package sandbox

import (
	"maps"
	"slices"

	"github.com/kineticsec/kinetic/connectors"
)

// InRegistry returns the in-process sandbox Connectors registered in r, by
// instance name; other connectors (a Remote included) are left out.
func InRegistry(r *connectors.Registry) map[string]*Connector {
	out := map[string]*Connector{}
	for _, name := range r.Names() {
		in, _ := r.Get(name)
		if c, ok := in.Connector.(*Connector); ok {
			out[name] = c
		}
	}
	return out
}

// DuplicateEffects lists the effects recorded more than once by the same
// system (same operation, account and change), each once, as "system
// operation account change", systems in name order. By the connectors
// contract a repeated operation records nothing, so any entry is a bug: the
// "effect recorded twice" check of the tests, the benchmark and the demo.
func DuplicateEffects(systems map[string]*Connector) []string {
	var dups []string
	for _, name := range slices.Sorted(maps.Keys(systems)) {
		seen := map[string]int{}
		for _, e := range systems[name].Effects() {
			key := name + " " + e.Operation + " " + e.Account + " " + e.Change
			if seen[key]++; seen[key] == 2 {
				dups = append(dups, key)
			}
		}
	}
	return dups
}

// TotalEffects counts the effects the systems recorded.
func TotalEffects(systems map[string]*Connector) int {
	n := 0
	for _, c := range systems {
		n += len(c.Effects())
	}
	return n
}
