package engine

import "github.com/kineticsec/kinetic/engine/view"

// EventKind says what an Event reports (view.EventKind): observers switch
// on it.
type EventKind = view.EventKind

// The kinds of Event the engine emits; view documents each.
const (
	EventCaseOpened            = view.EventCaseOpened
	EventCaseConfirmed         = view.EventCaseConfirmed
	EventCaseStarted           = view.EventCaseStarted
	EventCaseRescheduled       = view.EventCaseRescheduled
	EventCaseClosed            = view.EventCaseClosed
	EventCaseCancelled         = view.EventCaseCancelled
	EventAction                = view.EventAction
	EventManualStep            = view.EventManualStep
	EventRestoreRequested      = view.EventRestoreRequested
	EventApprovalRequested     = view.EventApprovalRequested
	EventApprovalDecided       = view.EventApprovalDecided
	EventApprovalExpired       = view.EventApprovalExpired
	EventApprovalReminder      = view.EventApprovalReminder
	EventApprovalEscalated     = view.EventApprovalEscalated
	EventApprovalCancelled     = view.EventApprovalCancelled
	EventEscalation            = view.EventEscalation
	EventBreach                = view.EventBreach
	EventResidualAccess        = view.EventResidualAccess
	EventBatchHeld             = view.EventBatchHeld
	EventBatchDecided          = view.EventBatchDecided
	EventSecurityOfficerNotice = view.EventSecurityOfficerNotice
	EventHRUnknownEmployee     = view.EventHRUnknownEmployee
	EventHRLateChange          = view.EventHRLateChange
	EventEquipment             = view.EventEquipment
	EventReturnInstructions    = view.EventReturnInstructions
	EventEquipmentOverdue      = view.EventEquipmentOverdue
	EventAccessRevoked         = view.EventAccessRevoked
	EventNotice                = view.EventNotice
)
