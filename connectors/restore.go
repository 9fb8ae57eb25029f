package connectors

import (
	"context"
	"strings"
)

// Restoring: the compensating side of an operation, for a rehire or a case
// opened by mistake.

// Restorer is the optional capability to undo an operation a completed
// offboarding performed. The engine calls Restore with a Request whose
// Operation is the ORIGINAL operation (disable_account, deactivate_user,
// remove_group_memberships, …), whose Account is the account it acted on,
// and whose Data is the Result.Data the original Do recorded (for example
// "removed_groups"); then VerifyRestore reads the restored state back.
//
// The contract mirrors Do's:
//
//   - Restore is idempotent: restoring a state that already holds (the
//     account is enabled, the groups are back) returns OutcomeAlreadyDone
//     and a nil error.
//   - An account that no longer exists cannot be restored: Restore returns
//     a KindNotFound error (permanent); the engine records it for a person
//     to recreate by hand.
//   - An operation with no compensation in this system (revoked sessions,
//     deleted keys) is a KindInvalid error; RestoresOperation says which
//     operations have one, so the engine plans only those and lists the
//     others as manual steps.
//   - Errors are classified *Error values and carry no secret.
type Restorer interface {
	// RestoresOperation reports whether Restore can undo op.
	RestoresOperation(op Operation) bool
	// Restore undoes the effect of req.Operation recorded in req.Data.
	Restore(ctx context.Context, req Request) (Result, error)
	// VerifyRestore reads back that the restored state holds.
	VerifyRestore(ctx context.Context, req Request) (Verification, error)
}

// Data keys of Result.Data that restoring reads.
const (
	// DataRemovedGroups lists the groups a remove_group_memberships removed,
	// comma separated, as the system names them (IDs or DNs).
	DataRemovedGroups = "removed_groups"
)

// SplitList splits a comma-separated Data value, dropping blanks.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
