package blocks

import (
	"errors"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/kineticsec/kinetic/engine/view"
	"github.com/kineticsec/kinetic/store"
)

// denyModal7 is the deny modal of approval 7, for parser tests.
func denyModal7() slack.ModalViewRequest {
	return DenyReasonModal(view.ApprovalView{Approval: store.Approval{ID: 7}}, ApprovalInfo{})
}

// The reason modals name the exception, the person being offboarded and
// the requester, not an approval number.
func TestApprovalModalsNameThePerson(t *testing.T) {
	info := approvalInfo(true)
	for name, m := range map[string]slack.ModalViewRequest{
		"deny":    DenyReasonModal(testApproval(), info),
		"approve": ApproveReasonModal(testApproval(), info),
	} {
		raw := string(encode(t, m))
		for _, want := range []string{"*email forwarding*", "Dana Whitfield", "E1001", "Pat Manager (E2001)", info.Description} {
			if !strings.Contains(raw, want) {
				t.Errorf("%s modal lacks %q:\n%s", name, want, raw)
			}
		}
		if strings.Contains(raw, "approval 7") {
			t.Errorf("%s modal still speaks of an approval number:\n%s", name, raw)
		}
	}
	if raw := string(encode(t, ApproveReasonModal(testApproval(), info))); !strings.Contains(raw, "step *security*") {
		t.Errorf("approve modal doesn't name the step that needs a reason:\n%s", raw)
	}
}

func TestParseApproveReason(t *testing.T) {
	m := ApproveReasonModal(testApproval(), ApprovalInfo{})
	v := slack.View{CallbackID: m.CallbackID, PrivateMetadata: m.PrivateMetadata,
		State: &slack.ViewState{Values: map[string]map[string]slack.BlockAction{blockWhy: {actionValue: {Value: " litigation pending, case 24-113 "}}}}}
	id, why, errs, err := ParseApproveReason(v)
	if err != nil || len(errs) > 0 || id != 7 || why != "litigation pending, case 24-113" {
		t.Fatalf("approve: %d %q %v %v", id, why, errs, err)
	}
	v.State.Values[blockWhy][actionValue] = slack.BlockAction{Value: " "}
	if _, _, errs, _ := ParseApproveReason(v); errs[blockWhy] == "" {
		t.Error("an empty reason to approve is accepted")
	}
	// A deny view is not an approve view, and the other way round.
	if _, _, _, err := ParseDenyReason(v); !errors.Is(err, ErrBadValue) {
		t.Errorf("deny parser on an approve view: %v", err)
	}
}
