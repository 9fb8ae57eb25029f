package testwait

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	t.Run("a condition that becomes true is seen", func(t *testing.T) {
		var n atomic.Int32
		if !Until(5*time.Second, func() bool { return n.Add(1) >= 3 }) {
			t.Fatal("Until gave up on a condition that held on the third look")
		}
	})
	t.Run("a condition that never holds gives up after the deadline", func(t *testing.T) {
		start := time.Now()
		if Until(50*time.Millisecond, func() bool { return false }) {
			t.Fatal("Until reported a false condition as met")
		}
		if d := time.Since(start); d < 50*time.Millisecond {
			t.Fatalf("gave up after %s, before the deadline", d)
		}
	})
}
