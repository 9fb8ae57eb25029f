package okta

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
)

func restoreAndVerify(t *testing.T, c *Connector, req connectors.Request) (connectors.Result, connectors.Verification) {
	t.Helper()
	res, err := c.Restore(ctxT(t), req)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	v, err := c.VerifyRestore(ctxT(t), req)
	if err != nil {
		t.Fatalf("VerifyRestore: %v", err)
	}
	return res, v
}

func TestRestoreDeactivatedUser(t *testing.T) {
	req := connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana, Account: "00u1"}

	t.Run("a DEPROVISIONED user is activated with the email sent by Okta and reads back PROVISIONED", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "DEPROVISIONED", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/activate", query: q("sendEmail", "true"), body: `{}`},
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "PROVISIONED", "dana@example.com")},
		)
		res, v := restoreAndVerify(t, s.conn(Config{}), req)
		wantOutcome(t, res, connectors.OutcomeDone)
		if res.Data["previous_status"] != "DEPROVISIONED" || !v.OK || !strings.Contains(v.Detail, "PROVISIONED") {
			t.Fatalf("result %+v, verification %+v", res, v)
		}
	})
	t.Run("a SUSPENDED user is unsuspended", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "SUSPENDED", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/unsuspend", body: `{}`},
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
		)
		res, v := restoreAndVerify(t, s.conn(Config{}), req)
		wantOutcome(t, res, connectors.OutcomeDone)
		if !v.OK {
			t.Fatalf("verification %+v", v)
		}
	})
	t.Run("an ACTIVE user needs no lifecycle call", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
		)
		res, err := s.conn(Config{}).Restore(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		wantOutcome(t, res, connectors.OutcomeAlreadyDone)
	})
	t.Run("a refusal because someone else activated meanwhile is already done", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "DEPROVISIONED", "dana@example.com")},
			exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/activate", query: q("sendEmail", "true"),
				status: 403, body: oktaErr("E0000038", "This operation is not allowed in the user's current status.")},
			exch{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "ACTIVE", "dana@example.com")},
		)
		res, err := s.conn(Config{}).Restore(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		wantOutcome(t, res, connectors.OutcomeAlreadyDone)
	})
	for _, tc := range []struct {
		name string
		last exch
		more []exch
		kind connectors.Kind
	}{
		{name: "a deleted user is not found", last: exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/activate", query: q("sendEmail", "true"),
			status: 404, body: oktaErr("E0000007", "Not found: Resource not found: 00u1 (User)")}, kind: connectors.KindNotFound},
		{name: "401 is auth", last: exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/activate", query: q("sendEmail", "true"),
			status: 401, body: oktaErr("E0000011", "Invalid token provided")}, kind: connectors.KindAuth},
		{name: "403 without the permission is forbidden", last: exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/activate", query: q("sendEmail", "true"),
			status: 403, body: oktaErr("E0000006", "You do not have permission to perform the requested action")},
			more: []exch{{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "DEPROVISIONED", "dana@example.com")}}, kind: connectors.KindForbidden},
		{name: "429 is rate limited", last: exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/activate", query: q("sendEmail", "true"),
			status: 429, header: map[string]string{"Retry-After": "7"}, body: oktaErr("E0000047", "API call exceeded rate limit due to too many requests.")}, kind: connectors.KindRateLimited},
		{name: "an HTML 502 is transient", last: exch{method: "POST", path: "/api/v1/users/00u1/lifecycle/activate", query: q("sendEmail", "true"),
			status: http.StatusBadGateway, header: map[string]string{"Content-Type": "text/html"}, body: "<html>bad gateway</html>"}, kind: connectors.KindTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := append([]exch{{method: "GET", path: "/api/v1/users/00u1", body: userJSON("00u1", "DEPROVISIONED", "dana@example.com")}, tc.last}, tc.more...)
			s := newScript(t, script...)
			_, err := s.conn(Config{}).Restore(ctxT(t), req)
			ce := wantKind(t, err, tc.kind)
			if strings.Contains(ce.Error(), testToken) {
				t.Fatal("the API token leaked into the error")
			}
		})
	}
	t.Run("no user at all is not found", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1", status: 404, body: oktaErr("E0000007", "Not found")},
		)
		_, err := s.conn(Config{}).Restore(ctxT(t), req)
		wantKind(t, err, connectors.KindNotFound)
	})
}

func TestRestoreGroups(t *testing.T) {
	req := connectors.Request{Operation: connectors.OpRemoveGroupMemberships, Subject: dana, Account: "00u1",
		Data: map[string]string{connectors.DataRemovedGroups: "00gENG,00gSALES,00gOLD"}}

	t.Run("re-adds the recorded groups not already held; one failure does not stop the rest", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("limit", "200"),
				body: "[" + groupJSON("00gEVERYONE", "BUILT_IN", "Everyone") + "," + groupJSON("00gENG", "OKTA_GROUP", "Engineering") + "]"},
			exch{method: "PUT", path: "/api/v1/groups/00gSALES/users/00u1", status: 204},
			exch{method: "PUT", path: "/api/v1/groups/00gOLD/users/00u1", status: 404, body: oktaErr("E0000007", "Not found: Resource not found: 00gOLD (UserGroup)")},
		)
		res, err := s.conn(Config{}).Restore(ctxT(t), req)
		wantKind(t, err, connectors.KindNotFound)
		if res.Outcome != connectors.OutcomeDone || res.Data["restored_groups"] != "00gSALES" || !strings.Contains(err.Error(), "00gOLD") {
			t.Fatalf("partial result %+v, %v", res, err)
		}
	})
	t.Run("verifies every recorded group is held", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("limit", "200"),
				body: "[" + groupJSON("00gENG", "OKTA_GROUP", "Engineering") + "," + groupJSON("00gSALES", "OKTA_GROUP", "Sales") + "]"},
		)
		v, err := s.conn(Config{}).VerifyRestore(ctxT(t), req)
		if err != nil || v.OK || !strings.Contains(v.Detail, "00gOLD") {
			t.Fatalf("VerifyRestore = %+v, %v; want not OK naming 00gOLD", v, err)
		}
	})
	t.Run("all held is already done with no write", func(t *testing.T) {
		s := newScript(t,
			exch{method: "GET", path: "/api/v1/users/00u1/groups", query: q("limit", "200"),
				body: "[" + groupJSON("00gENG", "OKTA_GROUP", "Engineering") + "," + groupJSON("00gSALES", "OKTA_GROUP", "Sales") + "," + groupJSON("00gOLD", "OKTA_GROUP", "Old") + "]"},
		)
		res, err := s.conn(Config{}).Restore(ctxT(t), req)
		if err != nil {
			t.Fatal(err)
		}
		wantOutcome(t, res, connectors.OutcomeAlreadyDone)
	})
}
