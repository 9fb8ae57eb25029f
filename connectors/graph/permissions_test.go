package graph_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/graph"
)

// A 403 names the Graph application permission the call needs: Graph's own
// Authorization_RequestDenied does not.
func TestForbiddenNamesThePermission(t *testing.T) {
	denied := graphErr("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")

	t.Run("revoke_sessions names User.RevokeSessions.All, not User.ReadWrite.All", func(t *testing.T) {
		s := newScript(t,
			tokenCall(tok1),
			getUser("u1", selRevoke, tok1, `{"id":"u1","signInSessionsValidFromDateTime":"2024-11-02T08:00:00Z"}`),
			call{method: http.MethodPost, path: "/v1.0/users/u1/revokeSignInSessions", token: tok1, status: http.StatusForbidden, resp: denied},
		)
		_, err := newConn(t, s).Do(ctxT(t), req(connectors.OpRevokeSessions, "u1"))
		assertKind(t, err, connectors.KindForbidden, false)
		if !strings.Contains(err.Error(), "User.RevokeSessions.All") || strings.Contains(err.Error(), "User.ReadWrite.All") {
			t.Fatalf("error %q: want User.RevokeSessions.All named (and not User.ReadWrite.All)", err)
		}
		if !strings.Contains(err.Error(), "Authorization_RequestDenied") {
			t.Errorf("error %q lost Graph's code", err)
		}
	})

	t.Run("disable_account names User.EnableDisableAccount.All", func(t *testing.T) {
		s := newScript(t,
			tokenCall(tok1),
			getUser("u1", selDisable, tok1, `{"id":"u1","accountEnabled":true}`),
			call{method: http.MethodPatch, path: "/v1.0/users/u1", token: tok1, body: `{"accountEnabled":false}`, status: http.StatusForbidden, resp: denied},
		)
		_, err := newConn(t, s).Do(ctxT(t), req(connectors.OpDisableAccount, "u1"))
		assertKind(t, err, connectors.KindForbidden, false)
		if !strings.Contains(err.Error(), graph.PermDisableAccount) {
			t.Fatalf("error %q does not name %s", err, graph.PermDisableAccount)
		}
	})

	t.Run("a 403 naming the permission already is not repeated", func(t *testing.T) {
		s := newScript(t,
			tokenCall(tok1),
			getUser("u1", selRevoke, tok1, `{"id":"u1","signInSessionsValidFromDateTime":"2024-11-02T08:00:00Z"}`),
			call{method: http.MethodPost, path: "/v1.0/users/u1/revokeSignInSessions", token: tok1, status: http.StatusForbidden,
				resp: graphErr("Authorization_RequestDenied", "Missing role permissions on the request. API requires one of 'User.RevokeSessions.All'.")},
		)
		_, err := newConn(t, s).Do(ctxT(t), req(connectors.OpRevokeSessions, "u1"))
		assertKind(t, err, connectors.KindForbidden, false)
		if n := strings.Count(err.Error(), "User.RevokeSessions.All"); n != 1 {
			t.Fatalf("error %q names the permission %d times, want once", err, n)
		}
	})

	t.Run("other statuses are left as they are", func(t *testing.T) {
		s := newScript(t,
			tokenCall(tok1),
			getUser("u1", selRevoke, tok1, `{"id":"u1","signInSessionsValidFromDateTime":"2024-11-02T08:00:00Z"}`),
			call{method: http.MethodPost, path: "/v1.0/users/u1/revokeSignInSessions", token: tok1, status: http.StatusServiceUnavailable,
				headers: map[string]string{"Retry-After": "7"}, resp: graphErr("serviceNotAvailable", "try later")},
		)
		_, err := newConn(t, s).Do(ctxT(t), req(connectors.OpRevokeSessions, "u1"))
		if ce := assertKind(t, err, connectors.KindTransient, true); ce.RetryAfter == 0 {
			t.Errorf("RetryAfter lost: %v", err)
		}
		if strings.Contains(err.Error(), "permission") {
			t.Fatalf("error %q: a 503 is not about permissions", err)
		}
	})
}

// gRole is a role-assignable group (isAssignableToRole true).
const gRole = `{"id":"g-role","displayName":"Helpdesk Admins","groupTypes":[],"membershipRule":null,"onPremisesSyncEnabled":null,"mailEnabled":false,"securityEnabled":true,"isAssignableToRole":true}`

func TestRoleAssignableGroups(t *testing.T) {
	denied := graphErr("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")

	t.Run("a role-assignable group refused for want of RoleManagement.ReadWrite.Directory is named, and the rest is removed", func(t *testing.T) {
		s := newScript(t,
			tokenCall(tok1),
			memberOf("u1", tok1, groups(gA, gRole)),
			batchCall(tok1, []string{"g-a", "g-role"}, `{"responses":[{"id":"1","status":204},{"id":"2","status":403,"body":`+denied+`}]}`),
		)
		res, err := newConn(t, s).Do(ctxT(t), req(connectors.OpRemoveGroupMemberships, "u1"))
		assertKind(t, err, connectors.KindForbidden, false)
		for _, want := range []string{"Helpdesk Admins", "role-assignable group", graph.PermRoleManagement, "removed 1 of 2"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if res.Data["removed_groups"] != "g-a" {
			t.Errorf("result data = %v, want g-a recorded as removed", res.Data)
		}
	})

	t.Run("an ordinary group refused names GroupMember.ReadWrite.All only", func(t *testing.T) {
		off := false
		s := newScript(t,
			tokenCall(tok1),
			memberOf("u1", tok1, groups(gA)),
			call{method: http.MethodDelete, path: "/v1.0/groups/g-a/members/u1/$ref", token: tok1, status: http.StatusForbidden, resp: denied},
		)
		_, err := newConn(t, s, func(c *graph.Config) { c.Batch = &off }).Do(ctxT(t), req(connectors.OpRemoveGroupMemberships, "u1"))
		assertKind(t, err, connectors.KindForbidden, false)
		if !strings.Contains(err.Error(), graph.PermGroupMember) || strings.Contains(err.Error(), graph.PermRoleManagement) {
			t.Fatalf("error %q: want %s only", err, graph.PermGroupMember)
		}
	})

	t.Run("with the permission a role-assignable group is removed like any other", func(t *testing.T) {
		s := newScript(t,
			tokenCall(tok1),
			memberOf("u1", tok1, groups(gRole)),
			call{method: http.MethodDelete, path: "/v1.0/groups/g-role/members/u1/$ref", token: tok1, status: http.StatusNoContent},
			memberOf("u1", tok1, groups()),
		)
		c := newConn(t, s)
		res, err := c.Do(ctxT(t), req(connectors.OpRemoveGroupMemberships, "u1"))
		if err != nil || res.Data["removed_groups"] != "g-role" {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if v, err := c.Verify(ctxT(t), req(connectors.OpRemoveGroupMemberships, "u1")); err != nil || !v.OK {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
	})
}
