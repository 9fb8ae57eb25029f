package sandbox_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/directory"
)

// A cleared person's badge opens the building and the secure area; the
// simulated badge system must treat them as two things to revoke (issue
// #17: it deactivated the building badge and then answered already_done
// for the secure-area badge that still opened the SCIF).
func TestBadgeZones(t *testing.T) {
	cleared := withAccounts(dana, "badge", "B-100")
	cleared.Clearance = "top_secret"
	secure := map[string]string{"zone": sandbox.ZoneSecure}
	req := func(params map[string]string) connectors.Request {
		return connectors.Request{Operation: connectors.OpDeactivateBadge, Subject: present, Params: params}
	}
	newBadge := func(t *testing.T) *sandbox.Connector {
		c, err := sandbox.New("badge", sandbox.Config{System: "badge"})
		if err != nil {
			t.Fatal(err)
		}
		c.SeedEmployees([]directory.Employee{cleared})
		return c
	}
	ctx := context.Background()

	t.Run("the secure-area action leaves the building badge to its own action", func(t *testing.T) {
		c := newBadge(t)
		res, err := c.Do(ctx, req(secure))
		if err != nil || res.Outcome != connectors.OutcomeDone || !strings.Contains(res.Detail, "scif") {
			t.Fatalf("secure: %+v, %v", res, err)
		}
		if v, _ := c.Verify(ctx, req(secure)); !v.OK {
			t.Fatalf("secure zone still open after its action: %s", v.Detail)
		}
		if v, _ := c.Verify(ctx, req(nil)); v.OK {
			t.Fatalf("the building badge reads as deactivated before its action ran: %s", v.Detail)
		}
		lr, _ := c.Lookup(ctx, present)
		if lr.Accounts[0].Status != connectors.StatusActive {
			t.Fatalf("badge %+v: still opens the building, so it is active", lr.Accounts[0])
		}
		res, err = c.Do(ctx, req(nil))
		if err != nil || res.Outcome != connectors.OutcomeDone || !strings.Contains(res.Detail, "building") {
			t.Fatalf("building: %+v, %v", res, err)
		}
		if v, _ := c.Verify(ctx, req(nil)); !v.OK {
			t.Fatalf("not verified: %s", v.Detail)
		}
	})
	t.Run("deactivating the badge deactivates every zone", func(t *testing.T) {
		c := newBadge(t)
		res, err := c.Do(ctx, req(nil))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("%+v, %v", res, err)
		}
		for _, z := range []string{"building", "scif"} {
			if !strings.Contains(res.Detail, z) {
				t.Errorf("detail %q does not name zone %s", res.Detail, z)
			}
		}
		// Now, and only now, the secure-area action has nothing left to do.
		res, err = c.Do(ctx, req(secure))
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("secure after all: %+v, %v", res, err)
		}
		lr, _ := c.Lookup(ctx, present)
		if a := lr.Accounts[0]; a.Status != connectors.StatusDisabled || !strings.Contains(a.Detail, "scif=disabled") {
			t.Fatalf("badge %+v", a)
		}
	})
	t.Run("an uncleared badge opens the building only", func(t *testing.T) {
		c, _ := sandbox.New("badge", sandbox.Config{System: "badge"})
		c.SeedEmployees([]directory.Employee{withAccounts(dana, "badge", "B-1")})
		res, err := c.Do(ctx, req(secure))
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("no secure zone to close: %+v, %v", res, err)
		}
		if v, _ := c.Verify(ctx, req(nil)); v.OK {
			t.Fatalf("building badge reads as deactivated: %s", v.Detail)
		}
	})
}
