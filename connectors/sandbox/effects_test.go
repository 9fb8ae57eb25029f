package sandbox

import (
	"slices"
	"testing"
)

func TestDuplicateEffects(t *testing.T) {
	a, err := New("ad", Config{System: "ad"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New("okta", Config{System: "okta"})
	if err != nil {
		t.Fatal(err)
	}
	disable := Effect{Operation: "disable", Account: "jdoe", Change: "status active->disabled"}
	a.effects = []Effect{disable, disable, disable, {Operation: "disable", Account: "asmith", Change: "status active->disabled"}}
	b.effects = []Effect{disable}
	systems := map[string]*Connector{"okta": b, "ad": a}

	t.Run("an effect seen three times is listed once", func(t *testing.T) {
		got := DuplicateEffects(systems)
		want := []string{"ad disable jdoe status active->disabled"}
		if !slices.Equal(got, want) {
			t.Fatalf("DuplicateEffects = %q, want %q", got, want)
		}
	})
	t.Run("the same change on two systems is no duplicate", func(t *testing.T) {
		a.effects = a.effects[3:]
		if got := DuplicateEffects(systems); len(got) != 0 {
			t.Fatalf("DuplicateEffects = %q, want none", got)
		}
		if n := TotalEffects(systems); n != 2 {
			t.Fatalf("TotalEffects = %d, want 2", n)
		}
	})
}
