package graph_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
)

func restoreReq(op connectors.Operation, account string, data map[string]string) connectors.Request {
	return connectors.Request{Operation: op, Account: account, Data: data}
}

func TestRestoreAccount(t *testing.T) {
	enable := restoreReq(connectors.OpDisableAccount, "u1", nil)

	t.Run("allows sign-in again and reads back", func(t *testing.T) {
		s := newScript(t,
			tokenCall(tok1),
			getUser("u1", selDisable, tok1, danaDisabled),
			call{method: http.MethodPatch, path: "/v1.0/users/u1", token: tok1, body: `{"accountEnabled":true}`, status: http.StatusNoContent},
			getUser("u1", selDisable, tok1, danaEnabled),
		)
		c := newConn(t, s)
		res, err := c.Restore(ctxT(t), enable)
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Account != "u1" {
			t.Fatalf("Restore = %+v, %v", res, err)
		}
		v, err := c.VerifyRestore(ctxT(t), enable)
		if err != nil || !v.OK || !strings.Contains(v.Detail, "accountEnabled=true") {
			t.Fatalf("VerifyRestore = %+v, %v", v, err)
		}
	})
	t.Run("an enabled user needs no PATCH", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1), getUser("u1", selDisable, tok1, danaEnabled))
		res, err := newConn(t, s).Restore(ctxT(t), enable)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Restore = %+v, %v", res, err)
		}
	})
	notFound := graphErr("Request_ResourceNotFound", "Resource 'u1' does not exist or one of its queried reference-property objects are not present.")
	for _, tc := range []struct {
		name      string
		status    int
		headers   map[string]string
		resp      string
		kind      connectors.Kind
		retryable bool
	}{
		{"a deleted user is not found", 404, nil, notFound, connectors.KindNotFound, false},
		{"403 names the permission", 403, nil, graphErr("Authorization_RequestDenied", "Insufficient privileges to complete the operation."), connectors.KindForbidden, false},
		{"429 is retried after Retry-After", 429, map[string]string{"Retry-After": "3"}, graphErr("TooManyRequests", "Too many requests"), connectors.KindRateLimited, true},
		{"an HTML 503 is transient", 503, map[string]string{"Content-Type": "text/html"}, "<html>Service Unavailable</html>", connectors.KindTransient, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t,
				tokenCall(tok1),
				getUser("u1", selDisable, tok1, danaDisabled),
				call{method: http.MethodPatch, path: "/v1.0/users/u1", token: tok1, body: `{"accountEnabled":true}`, status: tc.status, headers: tc.headers, resp: tc.resp},
			)
			_, err := newConn(t, s).Restore(ctxT(t), enable)
			ce := assertKind(t, err, tc.kind, tc.retryable)
			if tc.status == 403 && !strings.Contains(ce.Error(), "User.EnableDisableAccount.All") {
				t.Errorf("403 does not name the permission: %v", ce)
			}
			assertNoSecrets(t, err)
		})
	}
}

func TestRestoreGroupMemberships(t *testing.T) {
	data := map[string]string{connectors.DataRemovedGroups: "g-a,g-b,g-c"}
	r := restoreReq(connectors.OpRemoveGroupMemberships, "u1", data)
	add := func(gid string, status int, resp string) call {
		return call{method: http.MethodPost, path: "/v1.0/groups/" + gid + "/members/$ref", token: tok1,
			body: `{"@odata.id":"` + base + `/v1.0/directoryObjects/u1"}`, status: status, resp: resp}
	}

	t.Run("re-adds the recorded groups not held; a 400 for a member already there counts once memberOf shows it; a failure keeps the rest", func(t *testing.T) {
		exists := graphErr("Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
		s := newScript(t,
			tokenCall(tok1),
			memberOf("u1", tok1, groups(gA)),
			add("g-b", http.StatusNoContent, ""),
			add("g-c", http.StatusBadRequest, exists),
			memberOf("u1", tok1, groups(gA, gB, gC)),
			memberOf("u1", tok1, groups(gA, gB, gC)),
		)
		c := newConn(t, s)
		res, err := c.Restore(ctxT(t), r)
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["restored_groups"] != "g-b" {
			t.Fatalf("Restore = %+v, %v", res, err)
		}
		v, err := c.VerifyRestore(ctxT(t), r)
		if err != nil || !v.OK {
			t.Fatalf("VerifyRestore = %+v, %v", v, err)
		}
	})
	t.Run("a group that is gone fails alone, named", func(t *testing.T) {
		s := newScript(t,
			tokenCall(tok1),
			memberOf("u1", tok1, groups()),
			add("g-a", http.StatusNoContent, ""),
			add("g-b", http.StatusNotFound, graphErr("Request_ResourceNotFound", "Resource 'g-b' does not exist.")),
			add("g-c", http.StatusNoContent, ""),
		)
		res, err := newConn(t, s).Restore(ctxT(t), r)
		assertKind(t, err, connectors.KindNotFound, false)
		if res.Data["restored_groups"] != "g-a,g-c" || !strings.Contains(err.Error(), "g-b") {
			t.Fatalf("partial result %+v, %v", res, err)
		}
	})
	t.Run("all held is already done", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1), memberOf("u1", tok1, groups(gA, gB, gC)))
		res, err := newConn(t, s).Restore(ctxT(t), r)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Restore = %+v, %v", res, err)
		}
	})
}
