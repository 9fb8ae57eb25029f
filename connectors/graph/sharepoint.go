package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// SharePoint sites and OneDrive, through Microsoft Graph only.
//
// What Graph allows, and so what these operations do:
//
//   - A group-connected site (a team site behind a Microsoft 365 group)
//     grants access through the group: its members are the site's members
//     and its owners the site's owners. Removing the person from the group's
//     members and owners removes their access
//     (https://learn.microsoft.com/en-us/graph/api/group-delete-members,
//     https://learn.microsoft.com/en-us/graph/api/group-delete-owners). The
//     group behind a site is the owner of the site's default document
//     library (GET /sites/{id}/drive, owner.group:
//     https://learn.microsoft.com/en-us/graph/api/resources/drive).
//   - Anything shared with the person directly on the site's library root is
//     a permission on that driveItem, listed and deleted through Graph
//     (https://learn.microsoft.com/en-us/graph/api/driveitem-list-permissions,
//     https://learn.microsoft.com/en-us/graph/api/permission-delete; only
//     permissions that are not inherited can be deleted).
//   - The SharePoint groups of a site that is not group-connected (its
//     Owners, Members and Visitors groups) are not exposed by Graph v1.0;
//     Graph's /sites/{id}/permissions covers application permissions
//     (Sites.Selected) only
//     (https://learn.microsoft.com/en-us/graph/api/site-list-permissions).
//     Such a site is reported in the Detail and Data["sites_not_group_connected"]
//     so the site's owner removes the person there; nothing pretends it was
//     done.
//
// OneDrive: the departing person's OneDrive is their drive
// (/users/{id}/drive). grant_drive_access shares its root with the grantee
// through an invitation that sends no mail (POST …/root/invite with
// sendInvitation false: https://learn.microsoft.com/en-us/graph/api/driveitem-invite);
// remove_drive_access deletes that permission. The invite's
// expirationDateTime applies to sharing links only on OneDrive for
// Business, so the end of the period is an action the engine schedules (the
// exception's at_expiry, as for forwarding), not a property of the grant.

// identity is an identitySet member (user) as permissions report it.
type identity struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Email       string `json:"email"`
}

// drivePermission is the part of Graph's permission resource read here:
// https://learn.microsoft.com/en-us/graph/api/resources/permission
type drivePermission struct {
	ID          string   `json:"id"`
	Roles       []string `json:"roles"`
	GrantedToV2 *struct {
		User *identity `json:"user"`
	} `json:"grantedToV2"`
	GrantedTo *struct {
		User *identity `json:"user"`
	} `json:"grantedTo"`
	Invitation *struct {
		Email string `json:"email"`
	} `json:"invitation"`
	InheritedFrom *struct {
		ID string `json:"id"`
	} `json:"inheritedFrom"`
	Link *struct {
		Type string `json:"type"`
	} `json:"link"`
}

// grantedTo reports whether p is a direct (not inherited, not a link) grant
// to the user with this object ID or address.
func (p drivePermission) grantedTo(id, email string) bool {
	if p.InheritedFrom != nil && p.InheritedFrom.ID != "" {
		return false
	}
	var users []*identity
	if p.GrantedToV2 != nil {
		users = append(users, p.GrantedToV2.User)
	}
	if p.GrantedTo != nil {
		users = append(users, p.GrantedTo.User)
	}
	for _, u := range users {
		if u == nil {
			continue
		}
		if id != "" && strings.EqualFold(u.ID, id) {
			return true
		}
		if email != "" && strings.EqualFold(u.Email, email) {
			return true
		}
	}
	return email != "" && p.Invitation != nil && strings.EqualFold(p.Invitation.Email, email)
}

func (p drivePermission) hasRole(roles ...string) bool {
	for _, r := range p.Roles {
		for _, want := range roles {
			if strings.EqualFold(r, want) {
				return true
			}
		}
	}
	return false
}

// site is the part of Graph's site resource read here.
type site struct {
	ID          string `json:"id"`
	WebURL      string `json:"webUrl"`
	DisplayName string `json:"displayName"`
}

func (s site) name() string {
	if s.WebURL != "" {
		return s.WebURL
	}
	return s.ID
}

// sitePath turns a site reference from params into a Graph path: a site URL
// (https://contoso.sharepoint.com/sites/sales) becomes
// /sites/{hostname}:/{server-relative path}
// (https://learn.microsoft.com/en-us/graph/api/site-getbypath); anything
// else is taken as a site ID (hostname,siteCollectionId,webId).
func sitePath(ref string) (string, error) {
	ref = strings.TrimSpace(ref)
	if strings.Contains(ref, "://") {
		u, err := url.Parse(ref)
		if err != nil {
			return "", fmt.Errorf("a site is not a URL: %v", urlParseErr(err))
		}
		if u.User != nil { // never repeat credentials
			u.User = nil
			return "", fmt.Errorf("site %q must not carry user info", u.String())
		}
		if u.Host == "" || u.Scheme != "https" || !hostName(u.Host) {
			return "", fmt.Errorf("site %q is not an https site URL", ref)
		}
		p := strings.Trim(u.Path, "/")
		if p == "" {
			return "/sites/" + seg(u.Host), nil
		}
		parts := strings.Split(p, "/")
		for i := range parts {
			if parts[i] == "" || parts[i] == "." || parts[i] == ".." {
				return "", fmt.Errorf("site %q has an empty, . or .. path segment", ref)
			}
			parts[i] = seg(parts[i])
		}
		return "/sites/" + seg(u.Host) + ":/" + strings.Join(parts, "/"), nil
	}
	if ref == "" || ref == "." || ref == ".." || strings.ContainsAny(ref, "/?#\\") {
		return "", fmt.Errorf("site %q is neither a site URL nor a site ID", ref)
	}
	return "/sites/" + seg(ref), nil
}

// urlParseErr keeps url.Parse's description without the input it quotes.
func urlParseErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "unparseable"
}

// hostName accepts a DNS name with an optional port: letters, digits, '-',
// and dots between labels.
func hostName(h string) bool {
	name, port, hasPort := strings.Cut(h, ":")
	if hasPort && (port == "" || strings.Trim(port, "0123456789") != "") {
		return false
	}
	if name == "" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return false
	}
	return strings.Trim(strings.ToLower(name), "abcdefghijklmnopqrstuvwxyz0123456789-.") == ""
}

// siteRefs splits Params["sites"] (comma, space or newline separated).
func siteRefs(params map[string]string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.FieldsFunc(params["sites"], func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
		if k := strings.ToLower(strings.TrimRight(f, "/")); !seen[k] {
			seen[k] = true
			out = append(out, strings.TrimRight(f, "/"))
		}
	}
	return out
}

// siteState is what one site grants the user.
type siteState struct {
	ref   string
	site  site
	group *group // the Microsoft 365 group behind it, nil when not group-connected
	perms []drivePermission
	sp    *spMembership // site groups of a classic site (SharePoint REST), when read
	err   *connectors.Error
}

// readSite resolves one site, the group behind it and the library root's
// permissions granted to uid. Errors are per site (kept in st.err).
func (c *Connector) readSite(ctx context.Context, op, ref, uid, email string) siteState {
	st := siteState{ref: ref}
	fail := func(err error) siteState {
		var ce *connectors.Error
		if !errors.As(err, &ce) {
			ce = connectors.Classify(c.name, op, err)
		}
		st.err = ce
		return st
	}
	path, err := sitePath(ref)
	if err != nil {
		return fail(connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("params.sites: %v", err)))
	}
	if _, err := c.call(ctx, op, apiRequest{method: http.MethodGet, path: path, query: query("$select", "id,webUrl,displayName")}, &st.site); err != nil {
		return fail(needs(err, PermSitesRead))
	}
	if st.site.ID == "" {
		return fail(connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("GET %s: Graph answered without the site's id", path)))
	}
	var d struct {
		ID    string `json:"id"`
		Owner struct {
			Group *struct {
				ID          string `json:"id"`
				DisplayName string `json:"displayName"`
			} `json:"group"`
		} `json:"owner"`
	}
	sp := "/sites/" + seg(st.site.ID)
	_, err = c.call(ctx, op, apiRequest{method: http.MethodGet, path: sp + "/drive", query: query("$select", "id,owner")}, &d)
	switch {
	case isNotFound(err): // a site without a document library grants nothing through one
		return st
	case err != nil:
		return fail(needs(err, PermSitesRead))
	}
	if d.Owner.Group != nil && d.Owner.Group.ID != "" {
		st.group = &group{ID: d.Owner.Group.ID, DisplayName: d.Owner.Group.DisplayName}
	}
	perms, err := list[drivePermission](ctx, c, op, apiRequest{method: http.MethodGet, path: sp + "/drive/items/root/permissions"})
	if err != nil && !isNotFound(err) {
		return fail(needs(err, PermSitesRead))
	}
	for _, p := range perms {
		if p.ID != "" && p.grantedTo(uid, email) {
			st.perms = append(st.perms, p)
		}
	}
	if st.group == nil && c.spBase != nil {
		if st.sp, err = c.readSPMembership(ctx, op, st.site.WebURL, email); err != nil {
			return fail(err)
		}
	}
	return st
}

// groupRoles lists the groups the user is a member of and those it owns,
// by ID: https://learn.microsoft.com/en-us/graph/api/user-list-ownedobjects
func (c *Connector) groupRoles(ctx context.Context, op, uid string) (member, owner map[string]bool, err error) {
	ms, err := c.memberOf(ctx, op, uid)
	if err != nil {
		return nil, nil, err
	}
	os, err := list[group](ctx, c, op, apiRequest{method: http.MethodGet, path: "/users/" + seg(uid) + "/ownedObjects/microsoft.graph.group", query: query("$select", "id,displayName")})
	if err != nil {
		return nil, nil, err
	}
	member, owner = map[string]bool{}, map[string]bool{}
	for _, g := range ms {
		member[strings.ToLower(g.ID)] = true
	}
	for _, g := range os {
		owner[strings.ToLower(g.ID)] = true
	}
	return member, owner, nil
}

// siteAccess is what the user still holds on the listed sites.
type siteAccess struct {
	sites   []siteState
	member  map[string]bool
	owner   map[string]bool
	failed  []string // "site: error"
	errs    []*connectors.Error
	classic []string // sites not group-connected
}

func (c *Connector) readSiteAccess(ctx context.Context, op string, u *user, refs []string) (*siteAccess, error) {
	member, owner, err := c.groupRoles(ctx, op, u.ID)
	if err != nil {
		return nil, err
	}
	a := &siteAccess{member: member, owner: owner}
	email := u.Mail
	if email == "" {
		email = u.UserPrincipalName
	}
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return nil, c.classify(op, err)
		}
		st := c.readSite(ctx, op, ref, u.ID, email)
		if st.err != nil {
			if st.err.Kind == connectors.KindCanceled {
				return nil, st.err
			}
			a.failed = append(a.failed, fmt.Sprintf("%s (%s)", ref, cause(st.err)))
			a.errs = append(a.errs, st.err)
			continue
		}
		if st.group == nil && c.spBase == nil {
			a.classic = append(a.classic, st.site.name())
		}
		a.sites = append(a.sites, st)
	}
	return a, nil
}

// left lists what access remains, one phrase per grant.
func (a *siteAccess) left() []string {
	var out []string
	for _, st := range a.sites {
		if g := st.group; g != nil {
			if a.member[strings.ToLower(g.ID)] {
				out = append(out, fmt.Sprintf("member of %s (group %s)", st.site.name(), g.name()))
			}
			if a.owner[strings.ToLower(g.ID)] {
				out = append(out, fmt.Sprintf("owner of %s (group %s)", st.site.name(), g.name()))
			}
		}
		for _, p := range st.perms {
			out = append(out, fmt.Sprintf("%s shared directly on %s", strings.Join(p.Roles, "/"), st.site.name()))
		}
		if m := st.sp; m != nil {
			for _, g := range m.groups {
				out = append(out, fmt.Sprintf("in SharePoint group %q of %s", g.Title, st.site.name()))
			}
			if m.siteAdmin {
				out = append(out, "site collection administrator of "+st.site.name())
			}
		}
	}
	return out
}

func cause(e *connectors.Error) string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Error()
}

// classicNote names the sites whose SharePoint groups Graph cannot change.
func classicNote(classic []string) string {
	if len(classic) == 0 {
		return ""
	}
	return fmt.Sprintf("%d %s not group-connected: their SharePoint groups (Owners, Members, Visitors) are not reachable through Graph; the site owner removes the person there: %s",
		len(classic), text.Plural(len(classic), "site"), strings.Join(classic, ", "))
}

// worst picks the error to return for several failures: retryable wins
// (the job retries and the finished parts are not repeated), then the
// longest Retry-After.
func worst(errs []*connectors.Error) *connectors.Error {
	pick := errs[0]
	for _, e := range errs[1:] {
		if e.Retryable() && (!pick.Retryable() || e.RetryAfter > pick.RetryAfter) {
			pick = e
		}
	}
	return pick
}

// ---------------------------------------------------------------------------
// remove_site_access

// removeSiteAccess removes the user from the sites in Params["sites"]: from
// the members and owners of the group behind each group-connected site, and
// every permission shared with them directly on the site library's root.
// Every site is attempted even when some fail. A Graph 404 on a removal
// means it is already gone. Removing the last owner of a group is refused
// by Graph; that comes back as that site's failure, and the rest proceeds.
type removeSiteAccess struct{}

func (c *Connector) siteRequest(ctx context.Context, op string, req connectors.Request) (*user, []string, error) {
	refs := siteRefs(req.Params)
	if len(refs) == 0 {
		return nil, nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s needs params.sites (site URLs or IDs, comma separated)", op))
	}
	for _, r := range refs {
		if _, err := sitePath(r); err != nil {
			return nil, nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("params.sites: %v", err))
		}
	}
	u, err := c.findUser(ctx, op, req, selSites)
	return u, refs, err
}

func (removeSiteAccess) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	u, refs, err := c.siteRequest(ctx, op, req)
	if err != nil || u == nil {
		return noneFound(), err
	}
	a, err := c.readSiteAccess(ctx, op, u, refs)
	if err != nil {
		return connectors.Result{}, err
	}
	var removed []string
	errs := a.errs
	failed := a.failed
	del := func(path, what string, perm string) {
		_, err := c.call(ctx, op, apiRequest{method: http.MethodDelete, path: path}, nil)
		var ce *connectors.Error
		switch {
		case err == nil:
			removed = append(removed, what)
		case isNotFound(err):
		default:
			if !errors.As(err, &ce) {
				ce = connectors.Classify(c.name, op, err)
			}
			ce = asError(needs(ce, perm))
			errs = append(errs, ce)
			failed = append(failed, fmt.Sprintf("%s (%s)", what, cause(ce)))
		}
	}
	for _, st := range a.sites {
		if ctx.Err() != nil {
			return connectors.Result{}, c.classify(op, ctx.Err())
		}
		if g := st.group; g != nil {
			if a.member[strings.ToLower(g.ID)] {
				del("/groups/"+seg(g.ID)+"/members/"+seg(u.ID)+"/$ref", "member of "+st.site.name(), PermGroupMember)
			}
			if a.owner[strings.ToLower(g.ID)] {
				del("/groups/"+seg(g.ID)+"/owners/"+seg(u.ID)+"/$ref", "owner of "+st.site.name(), PermGroupMember)
			}
		}
		for _, p := range st.perms {
			del("/sites/"+seg(st.site.ID)+"/drive/items/root/permissions/"+seg(p.ID), "direct share on "+st.site.name(), PermFilesWrite)
		}
		if m := st.sp; m != nil {
			for _, g := range m.groups {
				what := fmt.Sprintf("SharePoint group %q of %s", g.Title, st.site.name())
				if err := c.removeSPGroup(ctx, op, st.site.WebURL, m, g); err != nil {
					ce := asError(err)
					errs = append(errs, ce)
					failed = append(failed, fmt.Sprintf("%s (%s)", what, cause(ce)))
					continue
				}
				removed = append(removed, what)
			}
			if m.siteAdmin {
				ce := connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("a site collection administrator keeps full control whatever the groups say; remove them in the SharePoint admin center"))
				errs = append(errs, ce)
				failed = append(failed, fmt.Sprintf("site collection administrator of %s (%s)", st.site.name(), cause(ce)))
			}
		}
	}
	res := connectors.Result{Account: u.ID, Outcome: connectors.OutcomeAlreadyDone, Data: map[string]string{}}
	var parts []string
	if len(removed) > 0 {
		res.Outcome = connectors.OutcomeDone
		parts = append(parts, fmt.Sprintf("removed %d: %s", len(removed), strings.Join(removed, "; ")))
		res.Data["removed"] = strings.Join(removed, "; ")
	} else {
		parts = append(parts, "already done: no access left through Graph on "+fmt.Sprint(len(refs))+" "+text.Plural(len(refs), "site"))
	}
	if len(a.classic) > 0 {
		res.Data["sites_not_group_connected"] = strings.Join(a.classic, ",")
	}
	if len(failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", len(failed)))
	}
	res.Detail = joinDetail(strings.Join(parts, "; "), classicNote(a.classic))
	if len(res.Data) == 0 {
		res.Data = nil
	}
	if len(failed) > 0 {
		w := worst(errs)
		return res, &connectors.Error{Kind: w.Kind, Connector: c.name, Op: op, Status: w.Status, RetryAfter: w.RetryAfter,
			Err: fmt.Errorf("site access: %d failed: %s", len(failed), strings.Join(failed, "; "))}
	}
	return res, nil
}

func asError(err error) *connectors.Error {
	var ce *connectors.Error
	errors.As(err, &ce)
	return ce
}

func (removeSiteAccess) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	u, refs, err := c.siteRequest(ctx, op, req)
	if err != nil || u == nil {
		return noAccount(), err
	}
	a, err := c.readSiteAccess(ctx, op, u, refs)
	if err != nil {
		return connectors.Verification{}, err
	}
	if len(a.failed) > 0 {
		return connectors.Verification{}, worst(a.errs)
	}
	if left := a.left(); len(left) > 0 {
		return connectors.Verification{Detail: joinDetail("still has: "+strings.Join(left, "; "), classicNote(a.classic))}, nil
	}
	return connectors.Verification{OK: true, Detail: joinDetail(fmt.Sprintf("no group membership, ownership or direct share left on %d %s", len(refs), text.Plural(len(refs), "site")), classicNote(a.classic))}, nil
}
