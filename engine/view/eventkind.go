package view

// EventKind says what an Event reports. Observers switch on it; the values
// are stable strings (they appear in logs and in chat front ends' tests).
type EventKind string

// The kinds of Event the engine emits.
const (
	// EventCaseOpened: a case was opened (validated, or awaiting confirmation).
	EventCaseOpened EventKind = "case_opened"
	// EventCaseConfirmed: an awaiting plan was confirmed.
	EventCaseConfirmed EventKind = "case_confirmed"
	// EventCaseStarted: a case's actions began to run.
	EventCaseStarted EventKind = "case_started"
	// EventCaseRescheduled: a scheduled case's effective time changed.
	EventCaseRescheduled EventKind = "case_rescheduled"
	// EventCaseClosed: a case finished (Status says how).
	EventCaseClosed EventKind = "case_closed"
	// EventCaseCancelled: a case was cancelled.
	EventCaseCancelled EventKind = "case_cancelled"
	// EventAction: an action changed status (Status is the new one).
	EventAction EventKind = "action"
	// EventManualStep: a manual action waits for its owner (Targets).
	EventManualStep EventKind = "manual_step"
	// EventRestoreRequested: a rehire's restore request awaits approval.
	EventRestoreRequested EventKind = "restore_requested"
	// EventApprovalRequested: an exception or hold release awaits an approver (Targets).
	EventApprovalRequested EventKind = "approval_requested"
	// EventApprovalDecided: an approval was approved or denied.
	EventApprovalDecided EventKind = "approval_decided"
	// EventApprovalExpired: an approval timed out unanswered.
	EventApprovalExpired EventKind = "approval_expired"
	// EventApprovalReminder: an approver is reminded of a pending step.
	EventApprovalReminder EventKind = "approval_reminder"
	// EventApprovalEscalated: a pending step moved to its escalation approvers.
	EventApprovalEscalated EventKind = "approval_escalated"
	// EventApprovalCancelled: the engine cancelled an exception; its Targets include the requester.
	EventApprovalCancelled EventKind = "approval_cancelled"
	// EventEscalation: an overdue action escalated (Level is 1-based).
	EventEscalation EventKind = "escalation"
	// EventResidualAccess: a reconciliation after close found access still
	// in place (ResidualID, Name the action or connector; Targets the
	// security alerts channel).
	EventResidualAccess EventKind = "residual_access"
	// EventBreach: a compliance deadline was missed.
	EventBreach EventKind = "breach"
	// EventBatchHeld: the mass-termination guard held a batch.
	EventBatchHeld EventKind = "batch_held"
	// EventBatchDecided: a held batch was released or cancelled.
	EventBatchDecided EventKind = "batch_decided"
	// EventSecurityOfficerNotice: the security officer is told (involuntary and high-risk cases).
	EventSecurityOfficerNotice EventKind = "security_officer_notice"
	// EventHRUnknownEmployee: an HR event named someone not in the directory.
	EventHRUnknownEmployee EventKind = "hr_unknown_employee"
	// EventEquipment: an equipment task was created or moved (Status is
	// its new status; Targets its team, and whoever is told how to return
	// the device).
	EventEquipment EventKind = "equipment"
	// EventEquipmentOverdue: a device is not back by its due time (Level
	// is the escalation level, 1-based).
	EventEquipmentOverdue EventKind = "equipment_overdue"
	// EventNotice: a notice was sent to a receiving team (Status
	// "unacknowledged") or acknowledged (Status "acknowledged", Actor who
	// acknowledged); NoticeID names it, Name is the team and Targets its
	// route (channel:TEAM), where the notice's card with its Acknowledge
	// button goes.
	EventNotice EventKind = "notice"
	// EventAccessRevoked: every revocation of a case succeeded with its
	// read-back verification (Detail says how long after the effective
	// time); the case may stay open for people's work.
	EventAccessRevoked EventKind = "access_revoked"
	// EventHRLateChange: an HR change arrived too late to apply.
	EventHRLateChange EventKind = "hr_late_change"
	// EventReturnInstructions: the instructions for returning a device
	// (EquipmentID) are to be emailed to the departing person's private
	// address (Email); Name is the message's subject, Detail its text.
	// Only the email channel delivers it, and reports the outcome with
	// Engine.ReturnInstructionsSent. No chat front end shows it.
	EventReturnInstructions EventKind = "return_instructions"
)
