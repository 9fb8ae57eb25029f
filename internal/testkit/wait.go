package testkit

import (
	"testing"
	"time"

	"github.com/kineticsec/kinetic/internal/testwait"
)

// Eventually checks cond until it reports true, and fails the test with
// what() when within has passed first. It is the one polling loop tests
// use for state that has no event to wait on (a row another goroutine
// writes); where the engine emits an event, wait on the observer instead.
// It is internal/testwait.Eventually, for packages that cannot import testkit.
func Eventually(t testing.TB, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	testwait.Eventually(t, within, cond, what)
}
