package blocks

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Action ids of Kinetic's buttons. Each button's value is one id (see
// ParseValue): ActionConfirmPlan and ActionCancelPlan carry a case,
// ActionApprove and ActionDeny an approval, ActionRetry, ActionSkip,
// ActionMarkDone and ActionEscalateNow an action, ActionOpenCase a case.
const (
	ActionConfirmPlan = "kinetic.confirm_plan"
	ActionCancelPlan  = "kinetic.cancel_plan"
	ActionApprove     = "kinetic.approve"
	ActionDeny        = "kinetic.deny"
	ActionRetry       = "kinetic.retry"
	ActionSkip        = "kinetic.skip"
	ActionMarkDone    = "kinetic.mark_done"
	ActionEscalateNow = "kinetic.escalate_now"
	ActionOpenCase    = "kinetic.open_case"
	// ActionRemediate carries a residual access (ResidualValue) a
	// reconciliation found; clicking adds its remediation to the case.
	ActionRemediate = "kinetic.remediate"
)

// Callback ids of Kinetic's modals. ModalDenyReason and
// ModalApproveReason carry the approval and ModalSkipReason the action in
// the view's private_metadata, as a value ParseValue reads.
const (
	ModalOffboard      = "kinetic.offboard"
	ModalDenyReason    = "kinetic.deny_reason"
	ModalApproveReason = "kinetic.approve_reason"
	ModalSkipReason    = "kinetic.skip_reason"
	ModalMarkDone      = "kinetic.mark_done_who"
)

// Kinds of id a button value carries.
const (
	KindCase     = "case"
	KindApproval = "approval"
	KindAction   = "action"
	// KindEquipment names an equipment task (EquipmentValue).
	KindEquipment = "equipment"
	// KindNotice names a notice to a receiving team (NoticeValue).
	KindNotice = "notice"
	// KindResidual names a residual access (ResidualValue).
	KindResidual = "residual"
)

// ErrBadValue is returned (wrapped) for a button value or modal metadata
// that is not exactly "kind:id".
var ErrBadValue = errors.New("invalid button value")

// CaseValue is the button value naming case id.
func CaseValue(id int64) string { return KindCase + ":" + strconv.FormatInt(id, 10) }

// ApprovalValue is the button value naming approval id.
func ApprovalValue(id int64) string { return KindApproval + ":" + strconv.FormatInt(id, 10) }

// ActionValue is the button value naming action id.
func ActionValue(id int64) string { return KindAction + ":" + strconv.FormatInt(id, 10) }

// EquipmentValue is the button value naming equipment task id.
func EquipmentValue(id int64) string { return KindEquipment + ":" + strconv.FormatInt(id, 10) }

// NoticeValue is the button value naming notice id.
func NoticeValue(id int64) string { return KindNotice + ":" + strconv.FormatInt(id, 10) }

// ResidualValue is the button value naming residual access id.
func ResidualValue(id int64) string { return KindResidual + ":" + strconv.FormatInt(id, 10) }

// maxValueLen bounds what ParseValue looks at: the longest valid value is
// "equipment:" and 19 digits.
const maxValueLen = 32

// ParseValue reads a button value. It accepts exactly "kind:id" where kind
// is case, approval, action or equipment and id is a positive decimal int64 without
// sign, leading zeros, spaces or anything else, so that every accepted value
// is the one CaseValue, ApprovalValue, ActionValue or EquipmentValue would
// build. Anything
// else is an error wrapping ErrBadValue.
func ParseValue(s string) (kind string, id int64, err error) {
	if len(s) > maxValueLen {
		return "", 0, fmt.Errorf("%w: too long", ErrBadValue)
	}
	k, num, ok := strings.Cut(s, ":")
	if !ok {
		return "", 0, fmt.Errorf("%w: %q has no kind", ErrBadValue, s)
	}
	switch k {
	case KindCase, KindApproval, KindAction, KindEquipment, KindNotice, KindResidual:
	default:
		return "", 0, fmt.Errorf("%w: unknown kind %q", ErrBadValue, k)
	}
	if num == "" || num[0] == '0' {
		return "", 0, fmt.Errorf("%w: %q is not a positive id", ErrBadValue, s)
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return "", 0, fmt.Errorf("%w: %q is not a positive id", ErrBadValue, s)
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %q is out of range", ErrBadValue, s)
	}
	return k, n, nil
}

// ParseID reads a button value that must be of the given kind, as a
// handler for one action id does: ParseID(v, KindApproval).
func ParseID(s, kind string) (int64, error) {
	k, id, err := ParseValue(s)
	if err != nil {
		return 0, err
	}
	if k != kind {
		return 0, fmt.Errorf("%w: want a %s, got a %s", ErrBadValue, kind, k)
	}
	return id, nil
}
