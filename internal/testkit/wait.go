package testkit

import (
	"testing"
	"time"
)

// pollInterval is how often Eventually (and the Kit's waits) look again.
const pollInterval = 20 * time.Millisecond

// Eventually checks cond until it reports true, and fails the test with
// what() when within has passed first. It is the one polling loop tests
// use for state that has no event to wait on (a row another goroutine
// writes); where the engine emits an event, wait on the observer instead.
func Eventually(t testing.TB, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what())
		}
		time.Sleep(pollInterval) // poll interval, bounded by the deadline above
	}
}
