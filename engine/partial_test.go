package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// partlyRefusingDirectory is the simulated directory with one change: a
// group removal removes two groups and is then refused on a third, as a
// bind without rights on Domain Admins is by a real directory. It answers
// with what it did change beside the error.
type partlyRefusingDirectory struct {
	connectors.Connector
	calls int
}

func (d *partlyRefusingDirectory) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	if req.Operation != connectors.OpRemoveGroupMemberships {
		return d.Connector.Do(ctx, req)
	}
	d.calls++
	removed := `["CN=VPN Users,DC=example,DC=test","CN=Finance,DC=example,DC=test"]`
	kind := connectors.KindTransient
	if d.calls > 1 {
		// The retry finds those two gone and removes one more before the
		// same refusal, now final.
		removed, kind = `["CN=Wiki,DC=example,DC=test"]`, connectors.KindForbidden
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Detail: "removed from some groups", Data: map[string]string{"removed_groups": removed}},
		connectors.NewError(kind, "ad", string(req.Operation), errors.New("insufficient access rights on CN=Domain Admins"))
}

// TestPartialGroupRemovalKeepsWhatWasRemoved: a group removal refused
// after it removed some groups fails, and the action's stored result still
// names every group any attempt removed, so a rehire's restore finds them.
func TestPartialGroupRemovalKeepsWhatWasRemoved(t *testing.T) {
	k := testkit.New(t, testkit.Options{RedisDB: redisDB})
	in, ok := k.Connectors.Get("ad")
	if !ok {
		t.Fatal("no ad connector")
	}
	dir := &partlyRefusingDirectory{Connector: in.Connector}
	in.Connector = dir
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	c := open(t, k, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned"})
	c = k.WaitClosed(t, c.ID, 60*time.Second)
	var act *store.Action
	for i := range c.Actions {
		if c.Actions[i].Name == "remove_ad_groups" {
			act = &c.Actions[i]
		}
	}
	if act == nil || act.Status != store.ActionFailed {
		t.Fatalf("remove_ad_groups: %+v, want failed", act)
	}
	for _, g := range []string{"CN=VPN Users", "CN=Finance", "CN=Wiki"} {
		if !strings.Contains(act.ResultData, g) {
			t.Errorf("stored result %q forgets %s, removed by an attempt that then failed", act.ResultData, g)
		}
	}
	var failed store.AuditEvent
	if err := k.Store.TestDB().Where("action_id = ? AND event = ?", act.ID, "action.failed").First(&failed).Error; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(failed.Detail, "CN=Wiki") {
		t.Errorf("the failure's audit event does not say what was changed: %q", failed.Detail)
	}
}
