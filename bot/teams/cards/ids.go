package cards

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
)

// Verbs of Kinetic's Action.Execute buttons. Each carries Data naming one
// id: confirmPlan, cancelPlan and openCase a case, approve, deny and
// approveWithReason an approval (and refresh, an approval card's per-user view), retry, skip, markDone, markDoneWho
// (a manual badge step's Mark done with who collected or disabled it) and escalate an
// action; submitOffboard carries no id.
const (
	VerbConfirmPlan       = "confirmPlan"
	VerbCancelPlan        = "cancelPlan"
	VerbApprove           = "approve"
	VerbApproveWithReason = "approveWithReason"
	VerbDeny              = "deny"
	VerbRetry             = "retry"
	VerbSkip              = "skip"
	VerbMarkDone          = "markDone"
	VerbMarkDoneWho       = "markDoneWho"
	VerbEscalate          = "escalate"
	VerbOpenCase          = "openCase"
	VerbRefresh           = "refresh"
	VerbSubmitOffboard    = "submitOffboard"
	// VerbAckNotice acknowledges a notice (its data names the notice);
	// VerbRemediate remediates a residual access reconciliation found;
	// VerbMoveEquipment moves an equipment task to the status its data's
	// "to" names, VerbDisposeEquipment records its disposal with the
	// certificate reference input.
	VerbAckNotice        = "ackNotice"
	VerbRemediate        = "remediate"
	VerbMoveEquipment    = "moveEquipment"
	VerbDisposeEquipment = "disposeEquipment"
)

// verbKind is the kind of id each verb's data names.
var verbKind = map[string]string{
	VerbConfirmPlan: blocks.KindCase, VerbCancelPlan: blocks.KindCase, VerbOpenCase: blocks.KindCase, VerbRefresh: blocks.KindApproval,
	VerbApprove: blocks.KindApproval, VerbApproveWithReason: blocks.KindApproval, VerbDeny: blocks.KindApproval,
	VerbRetry: blocks.KindAction, VerbSkip: blocks.KindAction, VerbMarkDone: blocks.KindAction, VerbMarkDoneWho: blocks.KindAction, VerbEscalate: blocks.KindAction,
	VerbSubmitOffboard: "",
	VerbAckNotice:      blocks.KindNotice, VerbRemediate: blocks.KindResidual,
	VerbMoveEquipment: blocks.KindEquipment, VerbDisposeEquipment: blocks.KindEquipment,
}

// ErrBadInvoke is returned (wrapped) for invoke data Kinetic did not build.
var ErrBadInvoke = errors.New("invalid card action")

// Data is an Action.Execute's data: the id in blocks' "kind:id" form
// (blocks.CaseValue, ApprovalValue, ActionValue). Teams merges the card's
// input values into the same object on submit.
type Data struct {
	ID string `json:"kineticId,omitempty"`
	// To is the status an equipment move's button asks for (Inputs["to"]).
	To string `json:"to,omitempty"`
}

func caseData(id int64) *Data     { return &Data{ID: blocks.CaseValue(id)} }
func approvalData(id int64) *Data { return &Data{ID: blocks.ApprovalValue(id)} }
func actionData(id int64) *Data   { return &Data{ID: blocks.ActionValue(id)} }

// Invoke is a parsed adaptiveCard/action: the verb, the id its data names
// (0 for submitOffboard) and the inputs submitted with it (reason, form
// fields), as strings.
type Invoke struct {
	Verb   string
	ID     int64
	Inputs map[string]string
}

// maxInvokeData bounds the data ParseInvoke reads: the offboard form's
// inputs with a reason of blocks.MaxReasonLen characters fit easily.
const maxInvokeData = 16 * 1024

// ParseInvoke reads an adaptiveCard/action's action.verb and action.data.
// It accepts only a known verb whose data is a JSON object with kineticId
// of the verb's kind (blocks.ParseID's strict rules), and other members
// that are strings or booleans (input values; a toggle may send either).
// Anything else is an error wrapping ErrBadInvoke, saying what was wrong.
func ParseInvoke(verb string, data json.RawMessage) (Invoke, error) {
	kind, ok := verbKind[verb]
	if !ok {
		return Invoke{}, fmt.Errorf("%w: unknown verb %q", ErrBadInvoke, fit(verb, 40))
	}
	if len(data) > maxInvokeData {
		return Invoke{}, fmt.Errorf("%w: data too large", ErrBadInvoke)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return Invoke{}, fmt.Errorf("%w: data is not an object", ErrBadInvoke)
	}
	inv := Invoke{Verb: verb, Inputs: map[string]string{}}
	for k, v := range raw {
		var s string
		var b bool
		switch {
		case json.Unmarshal(v, &s) == nil:
		case json.Unmarshal(v, &b) == nil:
			s = fmt.Sprint(b)
		default:
			return Invoke{}, fmt.Errorf("%w: %q is not a text value", ErrBadInvoke, fit(k, 40))
		}
		if k == "kineticId" {
			continue
		}
		inv.Inputs[k] = s
	}
	var idText string
	if v, ok := raw["kineticId"]; ok {
		if err := json.Unmarshal(v, &idText); err != nil {
			return Invoke{}, fmt.Errorf("%w: kineticId is not a string", ErrBadInvoke)
		}
	}
	if kind == "" {
		if idText != "" {
			return Invoke{}, fmt.Errorf("%w: %s carries no id", ErrBadInvoke, verb)
		}
		return inv, nil
	}
	if idText == "" {
		return Invoke{}, fmt.Errorf("%w: %s needs a %s id", ErrBadInvoke, verb, kind)
	}
	id, err := blocks.ParseID(idText, kind)
	if err != nil {
		return Invoke{}, fmt.Errorf("%w: %v", ErrBadInvoke, err)
	}
	inv.ID = id
	return inv, nil
}
