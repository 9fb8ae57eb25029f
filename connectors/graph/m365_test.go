package graph_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/graph"
	"github.com/kineticsec/kinetic/connectors/graph/graphtest"
)

// Scripted tests of the SharePoint, OneDrive and eDiscovery operations: each
// request is checked in order (method, path, query, bearer, body).

const (
	selSites  = "id,userPrincipalName,mail"
	danaJSON  = `{"id":"u1","userPrincipalName":"dana@contoso.com","mail":"dana@contoso.com"}`
	pxSite    = "contoso.sharepoint.com,s-px,w-px"
	legalSite = "contoso.sharepoint.com,s-lg,w-lg"
	caseID    = "case-dep"
)

func siteCalls(tok, byPath, id, driveOwner, perms string) []call {
	return []call{
		{method: http.MethodGet, path: "/v1.0/sites/" + byPath, query: map[string]string{"$select": "id,webUrl,displayName"}, token: tok,
			resp: `{"id":"` + id + `","webUrl":"https://` + strings.Replace(byPath, ":", "", 1) + `"}`},
		{method: http.MethodGet, path: "/v1.0/sites/" + id + "/drive", query: map[string]string{"$select": "id,owner"}, token: tok,
			resp: `{"id":"d1","owner":` + driveOwner + `}`},
		{method: http.MethodGet, path: "/v1.0/sites/" + id + "/drive/items/root/permissions", token: tok, resp: perms},
	}
}

func ownedObjects(uid, tok, resp string) call {
	return call{method: http.MethodGet, path: "/v1.0/users/" + uid + "/ownedObjects/microsoft.graph.group",
		query: map[string]string{"$select": "id,displayName"}, token: tok, resp: resp}
}

func seq(parts ...any) []call {
	var out []call
	for _, p := range parts {
		switch v := p.(type) {
		case call:
			out = append(out, v)
		case []call:
			out = append(out, v...)
		}
	}
	return out
}

func TestRemoveSiteAccess(t *testing.T) {
	gPX := `{"id":"g-px","displayName":"Project X","groupTypes":["Unified"],"mailEnabled":true,"securityEnabled":false}`
	pxOwner := `{"group":{"id":"g-px","displayName":"Project X"}}`
	classicOwner := `{"user":{"displayName":"System Account"}}`
	danaShare := `{"value":[{"id":"p-dana","roles":["write"],"grantedToV2":{"user":{"id":"u1","email":"dana@contoso.com"}}},` +
		`{"id":"p-inh","roles":["read"],"inheritedFrom":{"id":"x"},"grantedToV2":{"user":{"id":"u1"}}},` +
		`{"id":"p-grp","roles":["write"],"grantedToV2":{"siteGroup":{"id":"5","displayName":"Legal Members"}}}]}`
	params := map[string]string{"sites": "https://contoso.sharepoint.com/sites/projectx,https://contoso.sharepoint.com/sites/legal"}
	r := func() connectors.Request {
		return connectors.Request{Operation: connectors.OpRemoveSiteAccess, Subject: connectors.Subject{Email: "dana@contoso.com"}, Params: params}
	}

	t.Run("removes group membership, ownership and direct shares, reports the classic site, and reads back", func(t *testing.T) {
		s := newScript(t, seq(
			tokenCall(tok1),
			findUsers("userPrincipalName eq 'dana@contoso.com' or mail eq 'dana@contoso.com'", selSites, tok1, `{"value":[`+danaJSON+`]}`),
			memberOf("u1", tok1, groups(gPX)),
			ownedObjects("u1", tok1, groups(gPX)),
			siteCalls(tok1, "contoso.sharepoint.com:/sites/projectx", pxSite, pxOwner, `{"value":[]}`),
			siteCalls(tok1, "contoso.sharepoint.com:/sites/legal", legalSite, classicOwner, danaShare),
			call{method: http.MethodDelete, path: "/v1.0/groups/g-px/members/u1/$ref", token: tok1, status: http.StatusNoContent},
			call{method: http.MethodDelete, path: "/v1.0/groups/g-px/owners/u1/$ref", token: tok1, status: http.StatusNoContent},
			call{method: http.MethodDelete, path: "/v1.0/sites/" + legalSite + "/drive/items/root/permissions/p-dana", token: tok1, status: http.StatusNoContent},
			// Verify
			findUsers("userPrincipalName eq 'dana@contoso.com' or mail eq 'dana@contoso.com'", selSites, tok1, `{"value":[`+danaJSON+`]}`),
			memberOf("u1", tok1, groups()),
			ownedObjects("u1", tok1, groups()),
			siteCalls(tok1, "contoso.sharepoint.com:/sites/projectx", pxSite, pxOwner, `{"value":[]}`),
			siteCalls(tok1, "contoso.sharepoint.com:/sites/legal", legalSite, classicOwner, `{"value":[]}`),
		)...)
		c := newConn(t, s)
		res, err := c.Do(ctxT(t), r())
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		for _, want := range []string{"member of https://contoso.sharepoint.com/sites/projectx", "owner of", "direct share on https://contoso.sharepoint.com/sites/legal", "not group-connected"} {
			if !strings.Contains(res.Detail, want) {
				t.Errorf("Detail %q lacks %q", res.Detail, want)
			}
		}
		if res.Data["sites_not_group_connected"] != "https://contoso.sharepoint.com/sites/legal" {
			t.Errorf("Data = %v", res.Data)
		}
		v, err := c.Verify(ctxT(t), r())
		if err != nil || !v.OK {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
	})

	t.Run("the last owner refused on one site does not stop the other, and the error says what failed", func(t *testing.T) {
		s := newScript(t, seq(
			tokenCall(tok1),
			findUsers("userPrincipalName eq 'dana@contoso.com' or mail eq 'dana@contoso.com'", selSites, tok1, `{"value":[`+danaJSON+`]}`),
			memberOf("u1", tok1, groups()),
			ownedObjects("u1", tok1, groups(gPX)),
			siteCalls(tok1, "contoso.sharepoint.com:/sites/projectx", pxSite, pxOwner, `{"value":[]}`),
			siteCalls(tok1, "contoso.sharepoint.com:/sites/legal", legalSite, classicOwner, danaShare),
			call{method: http.MethodDelete, path: "/v1.0/groups/g-px/owners/u1/$ref", token: tok1, status: http.StatusBadRequest,
				resp: graphErr("Request_BadRequest", "The group must have at least one owner, hence this owner cannot be removed.")},
			call{method: http.MethodDelete, path: "/v1.0/sites/" + legalSite + "/drive/items/root/permissions/p-dana", token: tok1, status: http.StatusNoContent},
		)...)
		res, err := newConn(t, s).Do(ctxT(t), r())
		assertKind(t, err, connectors.KindInvalid, false)
		if !strings.Contains(err.Error(), "owner of https://contoso.sharepoint.com/sites/projectx") || !strings.Contains(err.Error(), "at least one owner") {
			t.Errorf("error %q does not say which removal failed and why", err)
		}
		if res.Data["removed"] != "direct share on https://contoso.sharepoint.com/sites/legal" {
			t.Errorf("partial result lost: %+v", res)
		}
	})

	t.Run("a site the app may not read is named with Sites.Read.All; a missing site is reported, the rest done", func(t *testing.T) {
		s := newScript(t, seq(
			tokenCall(tok1),
			findUsers("userPrincipalName eq 'dana@contoso.com' or mail eq 'dana@contoso.com'", selSites, tok1, `{"value":[`+danaJSON+`]}`),
			memberOf("u1", tok1, groups()),
			ownedObjects("u1", tok1, groups()),
			call{method: http.MethodGet, path: "/v1.0/sites/contoso.sharepoint.com:/sites/projectx", query: map[string]string{"$select": "id,webUrl,displayName"}, token: tok1,
				status: http.StatusForbidden, resp: graphErr("accessDenied", "Either scp or roles claim need to be present in the token.")},
			call{method: http.MethodGet, path: "/v1.0/sites/contoso.sharepoint.com:/sites/legal", query: map[string]string{"$select": "id,webUrl,displayName"}, token: tok1,
				status: http.StatusNotFound, resp: graphErr("itemNotFound", "Requested site could not be found")},
		)...)
		_, err := newConn(t, s).Do(ctxT(t), r())
		assertKind(t, err, connectors.KindForbidden, false)
		for _, want := range []string{graph.PermSitesRead, "sites/legal", "itemNotFound"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
	})

	t.Run("no sites named is invalid before any request", func(t *testing.T) {
		_, err := newConn(t, newScript(t)).Do(ctxT(t), connectors.Request{Operation: connectors.OpRemoveSiteAccess, Subject: connectors.Subject{Email: "a@b.c"}})
		assertKind(t, err, connectors.KindInvalid, false)
		for _, sites := range []string{"http://contoso.sharepoint.com/sites/x", "https://contoso.sharepoint.com/sites/../../users", "https://u:p@contoso.sharepoint.com/sites/x", "..", `a\b`} {
			bad := connectors.Request{Operation: connectors.OpRemoveSiteAccess, Subject: connectors.Subject{Email: "a@b.c"}, Params: map[string]string{"sites": sites}}
			_, err = newConn(t, newScript(t)).Do(ctxT(t), bad)
			assertKind(t, err, connectors.KindInvalid, false)
			if strings.Contains(err.Error(), "u:p@") {
				t.Errorf("error %q repeats the URL's user info", err)
			}
		}
	})
}

func TestDriveAccess(t *testing.T) {
	mgr := `{"id":"m1","userPrincipalName":"walter@contoso.com","mail":"walter@contoso.com"}`
	getMgr := call{method: http.MethodGet, path: "/v1.0/users/u1/manager", query: map[string]string{"$select": "id,userPrincipalName,mail"}, token: tok1, resp: mgr}
	perms := func(resp string) call {
		return call{method: http.MethodGet, path: "/v1.0/users/u1/drive/items/root/permissions", token: tok1, resp: resp}
	}
	ownerOnly := `{"value":[{"id":"p-own","roles":["owner"],"grantedToV2":{"user":{"id":"u1"}}}]}`
	withMgr := `{"value":[{"id":"p-own","roles":["owner"],"grantedToV2":{"user":{"id":"u1"}}},{"id":"p-m","roles":["write"],"grantedToV2":{"user":{"id":"m1","email":"walter@contoso.com"}}}]}`
	invite := call{method: http.MethodPost, path: "/v1.0/users/u1/drive/items/root/invite", token: tok1,
		body: `{"recipients":[{"email":"walter@contoso.com"}],"roles":["write"],"requireSignIn":true,"sendInvitation":false}`,
		resp: `{"value":[{"id":"p-m","roles":["write"],"grantedToV2":{"user":{"id":"m1"}}}]}`}

	t.Run("the manager gets write on the OneDrive root, once, and it reads back", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1), getMgr, perms(ownerOnly), invite, getMgr, perms(withMgr), getMgr, perms(withMgr))
		c := newConn(t, s)
		res, err := c.Do(ctxT(t), req(connectors.OpGrantDriveAccess, "u1"))
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["permission_id"] != "p-m" || res.Data["grantee"] != "m1" {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if v, err := c.Verify(ctxT(t), req(connectors.OpGrantDriveAccess, "u1")); err != nil || !v.OK {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
		if res, err := c.Do(ctxT(t), req(connectors.OpGrantDriveAccess, "u1")); err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("second Do = %+v, %v", res, err)
		}
	})

	t.Run("an approved forwarding's recipient is the grantee, found by address", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1),
			findUsers("userPrincipalName eq 'walter@contoso.com' or mail eq 'walter@contoso.com'", "id,userPrincipalName,mail", tok1, `{"value":[`+mgr+`]}`),
			perms(withMgr))
		r := req(connectors.OpGrantDriveAccess, "u1")
		r.Params = map[string]string{"forward_to": "walter@contoso.com"}
		if res, err := newConn(t, s).Do(ctxT(t), r); err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})

	t.Run("no manager is a clear invalid error; no OneDrive is none found", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1),
			call{method: http.MethodGet, path: "/v1.0/users/u1/manager", query: map[string]string{"$select": "id,userPrincipalName,mail"}, token: tok1,
				status: http.StatusNotFound, resp: graphErr("Request_ResourceNotFound", "Resource 'manager' does not exist")},
			getMgr,
			call{method: http.MethodGet, path: "/v1.0/users/u1/drive/items/root/permissions", token: tok1, status: http.StatusNotFound, resp: graphErr("itemNotFound", "Item not found")},
		)
		c := newConn(t, s)
		_, err := c.Do(ctxT(t), req(connectors.OpGrantDriveAccess, "u1"))
		assertKind(t, err, connectors.KindInvalid, false)
		if !strings.Contains(err.Error(), "params.grantee") {
			t.Errorf("error %q does not say what to do", err)
		}
		if res, err := c.Do(ctxT(t), req(connectors.OpGrantDriveAccess, "u1")); err != nil || res.Outcome != connectors.OutcomeNoneFound {
			t.Fatalf("Do = %+v, %v; want none found", res, err)
		}
	})

	t.Run("remove_drive_access deletes the manager's permission and reads back", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1), getMgr, perms(withMgr),
			call{method: http.MethodDelete, path: "/v1.0/users/u1/drive/items/root/permissions/p-m", token: tok1, status: http.StatusNoContent},
			getMgr, perms(ownerOnly), getMgr, perms(ownerOnly))
		c := newConn(t, s)
		res, err := c.Do(ctxT(t), req(connectors.OpRemoveDriveAccess, "u1"))
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["removed_permissions"] != "p-m" {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if v, err := c.Verify(ctxT(t), req(connectors.OpRemoveDriveAccess, "u1")); err != nil || !v.OK {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
		if res, err := c.Do(ctxT(t), req(connectors.OpRemoveDriveAccess, "u1")); err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("second Do = %+v, %v", res, err)
		}
	})

	// The status table, on the invite.
	for _, tc := range []struct {
		name      string
		status    int
		headers   map[string]string
		resp      string
		kind      connectors.Kind
		retryable bool
		want      string
	}{
		{"403 names Files.ReadWrite.All", 403, nil, graphErr("accessDenied", "Access denied"), connectors.KindForbidden, false, graph.PermFilesWrite},
		{"409 is invalid", 409, nil, graphErr("nameAlreadyExists", "conflict"), connectors.KindInvalid, false, "nameAlreadyExists"},
		{"429 keeps Retry-After", 429, map[string]string{"Retry-After": "17"}, graphErr("TooManyRequests", "slow down"), connectors.KindRateLimited, true, "TooManyRequests"},
		{"500 is transient", 500, nil, graphErr("generalException", "boom"), connectors.KindTransient, true, "generalException"},
		{"an HTML 502 is transient and described", 502, nil, "<html><body>Bad gateway</body></html>", connectors.KindTransient, true, "HTTP 502"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := invite
			bad.status, bad.headers, bad.resp = tc.status, tc.headers, tc.resp
			s := newScript(t, tokenCall(tok1), getMgr, perms(ownerOnly), bad)
			_, err := newConn(t, s).Do(ctxT(t), req(connectors.OpGrantDriveAccess, "u1"))
			ce := assertKind(t, err, tc.kind, tc.retryable)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if tc.status == 429 && ce.RetryAfter != 17*time.Second {
				t.Errorf("RetryAfter = %s", ce.RetryAfter)
			}
		})
	}

	t.Run("401 refreshes the token once, then is auth", func(t *testing.T) {
		denied := graphErr("InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
		m1, m2 := getMgr, getMgr
		m1.status, m1.resp = http.StatusUnauthorized, denied
		m2.token, m2.status, m2.resp = tok2, http.StatusUnauthorized, denied
		s := newScript(t, tokenCall(tok1), getMgr, perms(withMgr), m1, tokenCall(tok2), m2)
		c := newConn(t, s)
		if _, err := c.Do(ctxT(t), req(connectors.OpGrantDriveAccess, "u1")); err != nil {
			t.Fatal(err)
		}
		_, err := c.Do(ctxT(t), req(connectors.OpGrantDriveAccess, "u1"))
		assertKind(t, err, connectors.KindAuth, false)
	})
}

func withCase(c *graph.Config) { c.EDiscoveryCaseID = caseID }

func custodians(tok, resp string) call {
	return call{method: http.MethodGet, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians", token: tok, resp: resp}
}

func TestPreserveMailbox(t *testing.T) {
	getDana := getUser("u1", selSites, tok1, danaJSON)

	t.Run("adds the custodian with mailbox and OneDrive, applies the hold, and reads back applying then applied", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1), getDana,
			custodians(tok1, `{"value":[{"id":"c-9","email":"someone@contoso.com","status":"active","holdStatus":"applied"}]}`),
			call{method: http.MethodPost, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians", token: tok1,
				body: `{"email":"dana@contoso.com"}`, status: http.StatusCreated, resp: `{"id":"c-1","email":"dana@contoso.com","status":"active","holdStatus":"notApplied"}`},
			call{method: http.MethodPost, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians/c-1/userSources", token: tok1,
				body: `{"email":"dana@contoso.com","includedSources":"mailbox,site"}`, status: http.StatusCreated, resp: `{"id":"s-1"}`},
			call{method: http.MethodPost, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians/c-1/applyHold", token: tok1, status: http.StatusAccepted},
			getDana, custodians(tok1, `{"value":[{"id":"c-1","email":"Dana@contoso.com","status":"active","holdStatus":"applying"}]}`),
			getDana, custodians(tok1, `{"value":[{"id":"c-1","email":"Dana@contoso.com","status":"active","holdStatus":"applied"}]}`),
		)
		c := newConn(t, s, withCase)
		res, err := c.Do(ctxT(t), req(connectors.OpPreserveMailbox, "u1"))
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["custodian_id"] != "c-1" {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if v, err := c.Verify(ctxT(t), req(connectors.OpPreserveMailbox, "u1")); err != nil || v.OK || !strings.Contains(v.Detail, "applying") {
			t.Fatalf("Verify while applying = %+v, %v; want not OK yet", v, err)
		}
		if v, err := c.Verify(ctxT(t), req(connectors.OpPreserveMailbox, "u1")); err != nil || !v.OK {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
	})

	t.Run("a released custodian is re-activated and held again", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1), getDana,
			custodians(tok1, `{"value":[{"id":"c-1","email":"dana@contoso.com","status":"released","holdStatus":"notApplied"}]}`),
			call{method: http.MethodGet, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians/c-1/userSources", token: tok1,
				resp: `{"value":[{"email":"DANA@contoso.com","includedSources":"mailbox,site"}]}`},
			call{method: http.MethodPost, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians/c-1/activate", token: tok1, status: http.StatusAccepted},
			call{method: http.MethodPost, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians/c-1/applyHold", token: tok1, status: http.StatusAccepted},
		)
		if res, err := newConn(t, s, withCase).Do(ctxT(t), req(connectors.OpPreserveMailbox, "u1")); err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})

	t.Run("a custodian left without its source by an interrupted run gets it, then the hold", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1), getDana,
			custodians(tok1, `{"value":[{"id":"c-1","email":"dana@contoso.com","status":"active","holdStatus":"notApplied"}]}`),
			call{method: http.MethodGet, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians/c-1/userSources", token: tok1, resp: `{"value":[]}`},
			call{method: http.MethodPost, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians/c-1/userSources", token: tok1,
				body: `{"email":"dana@contoso.com","includedSources":"mailbox,site"}`, status: http.StatusCreated, resp: `{"id":"s-1"}`},
			call{method: http.MethodPost, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians/c-1/applyHold", token: tok1, status: http.StatusAccepted},
		)
		res, err := newConn(t, s, withCase).Do(ctxT(t), req(connectors.OpPreserveMailbox, "u1"))
		if err != nil || res.Outcome != connectors.OutcomeDone || !strings.Contains(res.Detail, "sources") {
			t.Fatalf("Do = %+v, %v", res, err)
		}
	})

	t.Run("403 names eDiscovery.ReadWrite.All", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1), getDana,
			custodians(tok1, `{"value":[{"id":"c-1","email":"dana@contoso.com","status":"active","holdStatus":"notApplied"}]}`),
			call{method: http.MethodGet, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians/c-1/userSources", token: tok1,
				resp: `{"value":[{"email":"dana@contoso.com"}]}`},
			call{method: http.MethodPost, path: "/v1.0/security/cases/ediscoveryCases/" + caseID + "/custodians/c-1/applyHold", token: tok1,
				status: http.StatusForbidden, resp: graphErr("Forbidden", "Insufficient privileges")},
		)
		_, err := newConn(t, s, withCase).Do(ctxT(t), req(connectors.OpPreserveMailbox, "u1"))
		assertKind(t, err, connectors.KindForbidden, false)
		if !strings.Contains(err.Error(), graph.PermEDiscoveryWrite) {
			t.Fatalf("error %q does not name %s", err, graph.PermEDiscoveryWrite)
		}
	})

	t.Run("without ediscovery_case_id the operation is not offered", func(t *testing.T) {
		c := newConn(t, newScript(t))
		if connectors.Supports(c.Type().Operations, connectors.OpPreserveMailbox) {
			t.Fatal("preserve_mailbox offered without a case")
		}
		_, err := c.Do(ctxT(t), req(connectors.OpPreserveMailbox, "u1"))
		assertKind(t, err, connectors.KindInvalid, false)
	})
}

func TestDeleteMailbox(t *testing.T) {
	getDana := getUser("u1", selSites, tok1, danaJSON)
	cases := call{method: http.MethodGet, path: "/v1.0/security/cases/ediscoveryCases", query: map[string]string{"$select": "id,displayName,status"}, token: tok1,
		resp: `{"value":[{"id":"k1","displayName":"Departures","status":"active"},{"id":"k2","displayName":"Old","status":"closed"}]}`}
	custK1 := func(resp string) call {
		return call{method: http.MethodGet, path: "/v1.0/security/cases/ediscoveryCases/k1/custodians", token: tok1, resp: resp}
	}
	holdsK1 := func(resp string) call {
		return call{method: http.MethodGet, path: "/v1.0/security/cases/ediscoveryCases/k1/legalHolds", token: tok1, resp: resp}
	}
	noCust := custK1(`{"value":[{"id":"c-2","email":"dana@contoso.com","status":"released","holdStatus":"applied"}]}`)

	t.Run("a custodian hold refuses the deletion, permanently, and nothing is deleted", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1), getDana, cases,
			custK1(`{"value":[{"id":"c-1","email":"DANA@contoso.com","status":"active","holdStatus":"applied"}]}`),
			holdsK1(`{"value":[]}`))
		_, err := newConn(t, s).Do(ctxT(t), req(connectors.OpDeleteMailbox, "u1"))
		assertKind(t, err, connectors.KindInvalid, false)
		if !strings.Contains(err.Error(), `deletion refused`) || !strings.Contains(err.Error(), `"Departures"`) {
			t.Fatalf("error %q does not name the hold", err)
		}
	})

	t.Run("a legal hold policy naming the mailbox refuses the deletion", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1), getDana, cases, noCust,
			holdsK1(`{"value":[{"id":"h-off","displayName":"Off","isEnabled":false},{"id":"h1","displayName":"Litigation 42","isEnabled":true}]}`),
			call{method: http.MethodGet, path: "/v1.0/security/cases/ediscoveryCases/k1/legalHolds/h1/userSources", token: tok1,
				resp: `{"value":[{"email":"dana@contoso.com","includedSources":"mailbox"}]}`})
		_, err := newConn(t, s).Do(ctxT(t), req(connectors.OpDeleteMailbox, "u1"))
		assertKind(t, err, connectors.KindInvalid, false)
		if !strings.Contains(err.Error(), `legal hold "Litigation 42"`) {
			t.Fatalf("error %q does not name the hold", err)
		}
	})

	t.Run("holds that cannot be read refuse the deletion: 403 names eDiscovery.Read.All, 503 is retried", func(t *testing.T) {
		denied := cases
		denied.status, denied.resp = http.StatusForbidden, graphErr("Forbidden", "Missing role permissions")
		busy := custK1(graphErr("ServiceUnavailable", "try later"))
		busy.status, busy.headers = http.StatusServiceUnavailable, map[string]string{"Retry-After": "30"}
		s := newScript(t, tokenCall(tok1), getDana, denied, getDana, cases, busy)
		c := newConn(t, s)
		_, err := c.Do(ctxT(t), req(connectors.OpDeleteMailbox, "u1"))
		assertKind(t, err, connectors.KindForbidden, false)
		if !strings.Contains(err.Error(), "deletion refused") || !strings.Contains(err.Error(), graph.PermEDiscoveryRead) {
			t.Fatalf("error %q", err)
		}
		_, err = c.Do(ctxT(t), req(connectors.OpDeleteMailbox, "u1"))
		if ce := assertKind(t, err, connectors.KindTransient, true); ce.RetryAfter != 30*time.Second {
			t.Errorf("RetryAfter = %s", ce.RetryAfter)
		}
	})

	t.Run("without a hold the user is deleted, reads back gone, and a repeat finds it in deleted items", func(t *testing.T) {
		gone := getUser("u1", selSites, tok1, graphErr("Request_ResourceNotFound", "Resource 'u1' does not exist"))
		gone.status = http.StatusNotFound
		s := newScript(t, tokenCall(tok1), getDana, cases, noCust, holdsK1(`{"value":[]}`),
			call{method: http.MethodDelete, path: "/v1.0/users/u1", token: tok1, status: http.StatusNoContent},
			gone,
			gone, call{method: http.MethodGet, path: "/v1.0/directory/deletedItems/u1", query: map[string]string{"$select": "id,deletedDateTime"}, token: tok1,
				resp: `{"id":"u1","deletedDateTime":"2025-03-01T12:00:00Z"}`},
		)
		c := newConn(t, s)
		res, err := c.Do(ctxT(t), req(connectors.OpDeleteMailbox, "u1"))
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if v, err := c.Verify(ctxT(t), req(connectors.OpDeleteMailbox, "u1")); err != nil || !v.OK {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
		if res, err := c.Do(ctxT(t), req(connectors.OpDeleteMailbox, "u1")); err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("repeat = %+v, %v; want already_done", res, err)
		}
	})

	t.Run("403 on the delete names User.DeleteRestore.All", func(t *testing.T) {
		s := newScript(t, tokenCall(tok1), getDana, cases, noCust, holdsK1(`{"value":[]}`),
			call{method: http.MethodDelete, path: "/v1.0/users/u1", token: tok1, status: http.StatusForbidden, resp: graphErr("Authorization_RequestDenied", "Insufficient privileges")})
		_, err := newConn(t, s).Do(ctxT(t), req(connectors.OpDeleteMailbox, "u1"))
		assertKind(t, err, connectors.KindForbidden, false)
		if !strings.Contains(err.Error(), graph.PermDeleteUser) {
			t.Fatalf("error %q", err)
		}
	})
}

// TestRequestsPerDepartureM365 counts the Graph requests each new operation
// costs for one departure against the stateful fake: Do then Verify, with
// the object ID from discovery (as the engine sends it), for the two seeded
// sites, the manager's OneDrive grant and its removal, and a hold.
func TestRequestsPerDepartureM365(t *testing.T) {
	for _, tc := range []struct {
		op     connectors.Operation
		params map[string]string
		want   int
	}{
		// user, memberOf, ownedObjects, 3 per site ×2; 3 removals; the same reads again to verify
		{connectors.OpRemoveSiteAccess, siteParams, 9 + 3 + 9},
		// manager, permissions, invite; manager, permissions
		{connectors.OpGrantDriveAccess, nil, 3 + 2},
		// manager, permissions, delete; manager, permissions
		{connectors.OpRemoveDriveAccess, nil, 3 + 2},
		// user, custodians, add custodian, user source, apply hold; user, custodians
		{connectors.OpPreserveMailbox, nil, 5 + 2},
		// user, cases, custodians and legal holds of the one open case, delete; user
		{connectors.OpDeleteMailbox, nil, 5 + 1},
	} {
		t.Run(string(tc.op), func(t *testing.T) {
			f := graphtest.New(t)
			f.SeedDana()
			c := newFakeConn(t, f)
			r := connectors.Request{Operation: tc.op, Subject: present, Account: "9f1c2d3e-dana", Params: tc.params}
			res, err := c.Do(ctxT(t), r)
			if err != nil || res.Outcome != connectors.OutcomeDone {
				t.Fatalf("Do = %+v, %v", res, err)
			}
			v, err := c.Verify(ctxT(t), r)
			if err != nil || !v.OK {
				t.Fatalf("Verify = %+v, %v", v, err)
			}
			g, tok := f.Totals()
			t.Logf("%s: %d Graph requests + %d token request (Do and Verify)", tc.op, g, tok)
			if g != tc.want || tok != 1 {
				t.Errorf("requests = %d Graph + %d token, want %d + 1", g, tok, tc.want)
			}
		})
	}
}
