// Package testwait holds the one polling wait tests use for state that has
// no event to wait on. It imports nothing from Kinetic, so any package's
// tests can use it (internal/testkit.Eventually delegates here); where the
// engine emits an event or a fake offers a channel, wait on that instead.
package testwait

import (
	"testing"
	"time"
)

// PollInterval is how often Eventually looks again.
const PollInterval = 20 * time.Millisecond

// Until checks cond until it reports true or within has passed, and says
// whether it did. It does not fail the test: use it where the caller asserts
// on what it finds (a count, the last error); otherwise use Eventually.
func Until(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(PollInterval) // poll interval, bounded by the deadline above
	}
	return true
}

// Eventually checks cond until it reports true, and fails the test with
// what() when within has passed first. what may be nil.
func Eventually(t testing.TB, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	if Until(within, cond) {
		return
	}
	msg := "condition not met"
	if what != nil {
		msg = what()
	}
	t.Fatalf("not within %s: %s", within, msg)
}
