package blocks

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// DenyReasonModal asks an approver why they deny approval v (the Deny
// button opens it), naming the exception, the person being offboarded and
// the requester (info.Names, info.Description). Its callback id is
// ModalDenyReason and its private_metadata the approval (ApprovalValue);
// read it with ParseDenyReason.
func DenyReasonModal(v view.ApprovalView, info ApprovalInfo) slack.ModalViewRequest {
	return reasonModal(ModalDenyReason, ApprovalValue(v.ID), "Deny exception", "Reason for denying", "Deny",
		"You are denying "+approvalSubject(v, info)+". The requester sees your reason.")
}

// ApproveReasonModal asks an approver why they approve approval v, where
// the policy requires a reason to approve its current step (the Approve
// button opens it when the view's ReasonRequired is set). Like
// DenyReasonModal it names the exception and the person; its callback id
// is ModalApproveReason; read it with ParseApproveReason.
func ApproveReasonModal(v view.ApprovalView, info ApprovalInfo) slack.ModalViewRequest {
	intro := "You are approving " + approvalSubject(v, info) + "."
	if step := currentStepName(v); step != "" {
		intro += fmt.Sprintf(" The policy asks for a reason to approve step *%s*.", data(step, 80))
	}
	return reasonModal(ModalApproveReason, ApprovalValue(v.ID), "Approve exception", "Reason for approving", "Approve", intro)
}

// ParseDenyReason reads a submitted DenyReasonModal: the approval and the
// reason. Problems come back keyed by block id for response_action
// "errors"; a view whose metadata is not an approval is an error.
func ParseDenyReason(view slack.View) (approvalID int64, reason string, errs map[string]string, err error) {
	return parseReason(view, ModalDenyReason, KindApproval)
}

// ParseApproveReason reads a submitted ApproveReasonModal, as
// ParseDenyReason.
func ParseApproveReason(view slack.View) (approvalID int64, reason string, errs map[string]string, err error) {
	return parseReason(view, ModalApproveReason, KindApproval)
}

// approvalSubject is "the *legal hold* (description) for *Erin Employee*
// (E1), requested by Hal HR (E2)".
func approvalSubject(v view.ApprovalView, info ApprovalInfo) string {
	s := "the *" + data(strings.ReplaceAll(v.Kind, "_", " "), 60) + "*"
	if !blank(info.Description) {
		s += " (" + data(info.Description, 300) + ")"
	}
	name := v.EmployeeName
	if blank(name) {
		name = v.EmployeeID
	}
	if !blank(name) {
		s += " for *" + data(name, 100) + "*"
		if v.EmployeeID != "" && v.EmployeeID != name {
			s += " (" + data(v.EmployeeID, 60) + ")"
		}
	}
	if v.Requester != "" {
		s += ", requested by " + data(person(v.Requester, info.Names), 120)
	}
	return s
}

// currentStepName is the name of the approval's pending step, if any.
func currentStepName(v view.ApprovalView) string {
	for _, st := range v.Steps {
		if st.Status == store.StepPending {
			return st.Name
		}
	}
	return ""
}
