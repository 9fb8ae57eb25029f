package graphtest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// The fake Graph's SharePoint, OneDrive and eDiscovery parts. Called with
// f.mu held.

type fakeSite struct {
	id, webURL string
	groupID    string           // the Microsoft 365 group behind it, "" for a classic site
	perms      []map[string]any // library root permissions
}

type fakeCase struct {
	id, name, status string
	custodians       []map[string]any
	holds            []fakeHold
	seq              int
}

type fakeHold struct {
	id, name string
	enabled  bool
	emails   []string
}

func notFound(what string) answer {
	return gerr(404, "itemNotFound", what+" not found")
}

func userPerm(id, userID, email string, roles ...string) map[string]any {
	return map[string]any{"id": id, "roles": roles, "grantedToV2": map[string]any{"user": map[string]any{"id": userID, "email": email, "displayName": email}}}
}

func (f *Fake) addSite(s *fakeSite, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sites[key] = s
	f.sites[s.id] = s
}

// permsRoute serves a root's permissions: list, invite, delete.
func (f *Fake) permsRoute(method string, perms *[]map[string]any, rest string, body []byte) (answer, bool) {
	switch {
	case rest == "permissions" && method == "GET":
		return answer{status: 200, body: map[string]any{"value": *perms}}, true
	case rest == "invite" && method == "POST":
		var in struct {
			Recipients []struct {
				Email string `json:"email"`
			} `json:"recipients"`
			Roles          []string `json:"roles"`
			RequireSignIn  bool     `json:"requireSignIn"`
			SendInvitation bool     `json:"sendInvitation"`
		}
		if json.Unmarshal(body, &in) != nil || len(in.Recipients) != 1 || !in.RequireSignIn || in.SendInvitation {
			return gerr(400, "invalidRequest", "bad invite"), true
		}
		var uid string
		for _, u := range f.users {
			if strings.EqualFold(u.mail, in.Recipients[0].Email) {
				uid = u.id
			}
		}
		f.permSeq++
		p := userPerm(fmt.Sprintf("perm-%d", f.permSeq), uid, in.Recipients[0].Email, in.Roles...)
		*perms = append(*perms, p)
		return answer{status: 200, body: map[string]any{"value": []any{p}}}, true
	case strings.HasPrefix(rest, "permissions/") && method == "DELETE":
		id := strings.TrimPrefix(rest, "permissions/")
		for i, p := range *perms {
			if p["id"] == id {
				if p["inheritedFrom"] != nil {
					return gerr(400, "invalidRequest", "inherited permissions cannot be deleted"), true
				}
				*perms = append((*perms)[:i], (*perms)[i+1:]...)
				return answer{status: 204}, true
			}
		}
		return notFound("permission"), true
	}
	return answer{}, false
}

func (f *Fake) userRouteM365(method string, u *fakeUser, sub string, q url.Values, body []byte) (answer, bool) {
	switch {
	case sub == "" && method == "DELETE":
		delete(f.users, u.id)
		return answer{status: 204}, true
	case sub == "manager" && method == "GET":
		if m := f.users[u.manager]; m != nil {
			return answer{status: 200, body: f.userJSON(m)}, true
		}
		return gerr(404, "Request_ResourceNotFound", "Resource 'manager' does not exist or one of its queried reference-property objects are not present."), true
	case sub == "ownedObjects/microsoft.graph.group" && method == "GET":
		var all []any
		for _, id := range f.order {
			if g := f.groups[id]; g.owners[u.id] {
				all = append(all, groupJSON(g))
			}
		}
		return answer{status: 200, body: map[string]any{"value": all}}, true
	case strings.HasPrefix(sub, "drive/items/root/"):
		if u.drive == nil {
			return notFound("drive"), true
		}
		return f.permsRoute(method, &u.drive, strings.TrimPrefix(sub, "drive/items/root/"), body)
	}
	return answer{}, false
}

func (f *Fake) routeM365(method, path string, q url.Values, body []byte) (answer, bool) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(seg) == 5 && seg[0] == "groups" && seg[2] == "owners" && seg[4] == "$ref" && method == "DELETE":
		g := f.groups[seg[1]]
		if g == nil || !g.owners[seg[3]] {
			return gerr(404, "Request_ResourceNotFound", "Resource does not exist"), true
		}
		if len(g.owners) == 1 {
			return gerr(400, "Request_BadRequest", "The group must have at least one owner, hence this owner cannot be removed."), true
		}
		delete(g.owners, seg[3])
		return answer{status: 204}, true
	case strings.HasPrefix(path, "/sites/"):
		rest := strings.TrimPrefix(path, "/sites/")
		if strings.Contains(rest, ":") { // by path
			s := f.sites[rest]
			if s == nil || method != "GET" {
				return notFound("site"), true
			}
			return answer{status: 200, body: map[string]any{"id": s.id, "webUrl": s.webURL, "displayName": s.webURL}}, true
		}
		id, sub, _ := strings.Cut(rest, "/")
		s := f.sites[id]
		if s == nil {
			return notFound("site"), true
		}
		switch {
		case sub == "drive" && method == "GET":
			owner := map[string]any{"user": map[string]any{"displayName": "System Account"}}
			if s.groupID != "" {
				owner = map[string]any{"group": map[string]any{"id": s.groupID, "displayName": f.groups[s.groupID].name}}
			}
			return answer{status: 200, body: map[string]any{"id": "drive-" + s.id, "owner": owner}}, true
		case strings.HasPrefix(sub, "drive/items/root/"):
			return f.permsRoute(method, &s.perms, strings.TrimPrefix(sub, "drive/items/root/"), body)
		}
		return gerr(400, "BadRequest", "unsupported "+method+" "+path), true
	case path == "/security/cases/ediscoveryCases" && method == "GET":
		var all []any
		for _, k := range f.sortedCases() {
			all = append(all, map[string]any{"id": k.id, "displayName": k.name, "status": k.status})
		}
		return answer{status: 200, body: map[string]any{"value": all}}, true
	case len(seg) >= 5 && seg[0] == "security" && seg[1] == "cases" && seg[2] == "ediscoveryCases":
		k := f.cases[seg[3]]
		if k == nil {
			return notFound("case"), true
		}
		return f.caseRoute(method, k, seg[4:], body), true
	}
	return answer{}, false
}

func (f *Fake) sortedCases() []*fakeCase {
	var out []*fakeCase
	for _, id := range []string{"case-departures", "case-litigation"} {
		if k := f.cases[id]; k != nil {
			out = append(out, k)
		}
	}
	return out
}

func (f *Fake) caseRoute(method string, k *fakeCase, seg []string, body []byte) answer {
	find := func(id string) map[string]any {
		for _, c := range k.custodians {
			if c["id"] == id {
				return c
			}
		}
		return nil
	}
	switch {
	case len(seg) == 1 && seg[0] == "custodians" && method == "GET":
		return answer{status: 200, body: map[string]any{"value": k.custodians}}
	case len(seg) == 1 && seg[0] == "custodians" && method == "POST":
		var in map[string]string
		json.Unmarshal(body, &in)
		for _, c := range k.custodians {
			if strings.EqualFold(c["email"].(string), in["email"]) {
				return gerr(409, "Conflict", "custodian already exists")
			}
		}
		k.seq++
		c := map[string]any{"id": fmt.Sprintf("cust-%d", k.seq), "email": in["email"], "status": "active", "holdStatus": "notApplied"}
		k.custodians = append(k.custodians, c)
		return answer{status: 201, body: c}
	case len(seg) == 3 && seg[0] == "custodians" && seg[2] == "userSources" && method == "GET":
		c := find(seg[1])
		if c == nil {
			return notFound("custodian")
		}
		var all []any
		if c["sources"] != nil {
			all = append(all, map[string]any{"email": c["email"], "includedSources": "mailbox,site"})
		}
		return answer{status: 200, body: map[string]any{"value": all}}
	case len(seg) == 3 && seg[0] == "custodians" && method == "POST":
		c := find(seg[1])
		if c == nil {
			return notFound("custodian")
		}
		switch seg[2] {
		case "userSources":
			c["sources"] = string(body)
			return answer{status: 201, body: map[string]any{"id": "src-1"}}
		case "applyHold":
			c["holdStatus"] = "applied"
			return answer{status: 202}
		case "activate":
			c["status"] = "active"
			return answer{status: 202}
		}
	case len(seg) == 1 && seg[0] == "legalHolds" && method == "GET":
		var all []any
		for _, h := range k.holds {
			all = append(all, map[string]any{"id": h.id, "displayName": h.name, "isEnabled": h.enabled, "status": "success"})
		}
		return answer{status: 200, body: map[string]any{"value": all}}
	case len(seg) == 3 && seg[0] == "legalHolds" && seg[2] == "userSources" && method == "GET":
		for _, h := range k.holds {
			if h.id == seg[1] {
				var all []any
				for _, e := range h.emails {
					all = append(all, map[string]any{"email": e, "includedSources": "mailbox,site"})
				}
				return answer{status: 200, body: map[string]any{"value": all}}
			}
		}
		return notFound("hold")
	}
	return gerr(400, "BadRequest", "unsupported case request "+method+" "+strings.Join(seg, "/"))
}
