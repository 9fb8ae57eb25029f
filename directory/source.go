package directory

import (
	"context"
	"errors"
	"fmt"
)

// Lister is implemented by directories that can list every employee
// without a round trip: File lists its data, the HR system sources
// (directory/bamboohr, directory/workday, directory/scim) list their last
// snapshot, which is empty until the first lookup or Refresh. Seeding
// sandbox connectors and the demo use it.
type Lister interface {
	// All returns every employee, sorted by ID, as copies.
	All() []Employee
}

// Refresher is implemented by directories that cache an HR system: Refresh
// fetches the whole directory now (joining a fetch already under way)
// and returns its error; the previous snapshot is kept when it fails.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// SourceError is a failure to read an HR system (or the answer it gave).
// Retryable says whether trying again later may help: timeouts, connection
// failures, 408, 429 and 5xx are retryable; bad credentials (401), missing
// permission (403), a wrong URL (404), a URL the outbound policy refuses and
// an answer that cannot be read are not. Err never carries a secret.
type SourceError struct {
	// Source is the source type ("bamboohr", "workday", "scim").
	Source string
	// Op says what was being done ("requesting the custom report").
	Op string
	// Status is the HTTP status, when the system answered.
	Status int
	// Retryable reports whether a later attempt may succeed.
	Retryable bool
	Err       error
}

func (e *SourceError) Error() string {
	msg := e.Source + ": " + e.Op
	if e.Status != 0 {
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Retryable {
		msg += " (retryable)"
	}
	return msg
}

func (e *SourceError) Unwrap() error { return e.Err }

// IsRetryable reports whether err, returned by a Directory, is worth
// retrying later: a retryable *SourceError, or a cancelled or expired
// context. ErrNotFound and every other error are not.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var se *SourceError
	if errors.As(err, &se) {
		return se.Retryable
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
