package directory

import (
	"net/http"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/internal/hrspec"
)

// Descriptor describes one HR directory source type: what configuration
// needs to load its block (Spec) and its constructor. Each HR system
// package under directory/ exports one (bamboohr.Descriptor(), …);
// internal/compose/table lists them, so adding an HR system is its package
// plus one line there.
type Descriptor struct {
	Spec hrspec.Directory
	// New builds the source from its validated block (the pointer
	// Spec.NewBlock returned, secrets resolved). It fetches nothing.
	New func(block any, deps Deps) (Directory, error)
}

// Deps are what an HR directory source is built with.
type Deps struct {
	// HTTP is the client for every call; it comes from the outbound URL
	// policy.
	HTTP *http.Client
	// TTL is the snapshot's lifetime (directory.ttl); zero: the source's
	// default.
	TTL time.Duration
	// Log receives refresh results.
	Log *logrus.Entry
}
