package graph

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// ---------------------------------------------------------------------------
// grant_drive_access and remove_drive_access

// The grantee is Params["grantee"] (an address or object ID), else
// Params["forward_to"] (the recipient an approved forwarding exception
// names, so the person who gets the mail gets the files too), else the
// departing user's manager as Entra records it
// (GET /users/{id}/manager: https://learn.microsoft.com/en-us/graph/api/user-list-manager).
// The grantee must be a user of the tenant: it is resolved to its object ID
// so that the permission is matched by ID, not by a display name.
//
// grant_drive_access reads the root's permissions
// (GET /users/{id}/drive/items/root/permissions) and, unless the grantee
// already holds write (or owner) there, shares the root with them:
// POST /users/{id}/drive/items/root/invite {"recipients": [{"email": …}],
// "roles": ["write"], "requireSignIn": true, "sendInvitation": false}
// (https://learn.microsoft.com/en-us/graph/api/driveitem-invite).
// Params["role"] may ask for read instead. A user without a OneDrive (never
// provisioned, or already deleted) is none found.
//
// remove_drive_access deletes every permission on that root granted to the
// grantee directly (DELETE …/root/permissions/{id}:
// https://learn.microsoft.com/en-us/graph/api/permission-delete).
type grantDriveAccess struct{}

type removeDriveAccess struct{}

// grantee is the person given access to the drive.
type grantee struct {
	id, email, label string
}

func (c *Connector) resolveGrantee(ctx context.Context, op string, req connectors.Request, uid string) (*grantee, error) {
	ref := strings.TrimSpace(req.Params["grantee"])
	if ref == "" {
		ref = strings.TrimSpace(req.Params["forward_to"])
	}
	var u user
	if ref == "" {
		_, err := c.call(ctx, op, apiRequest{method: http.MethodGet, path: "/users/" + seg(uid) + "/manager", query: query("$select", "id,userPrincipalName,mail")}, &u)
		if isNotFound(err) {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
				fmt.Errorf("the user has no manager in Entra ID: name the person to get the files in params.grantee"))
		}
		if err != nil {
			return nil, err
		}
	} else {
		r := connectors.Request{Subject: connectors.Subject{Email: ref}}
		if !strings.Contains(ref, "@") {
			r = connectors.Request{Account: ref}
		}
		found, err := c.findUser(ctx, op, r, "id,userPrincipalName,mail")
		if err != nil {
			return nil, err
		}
		if found == nil {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("grantee %q is not a user of this tenant", ref))
		}
		u = *found
	}
	if u.ID == "" {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("Graph answered the grantee without an id"))
	}
	if strings.EqualFold(u.ID, uid) {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("the grantee is the departing user"))
	}
	g := &grantee{id: u.ID, email: u.Mail, label: u.label()}
	if g.email == "" {
		g.email = u.UserPrincipalName
	}
	if g.email == "" {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("grantee %s has no address to share with", u.label()))
	}
	return g, nil
}

// drivePerms lists the root permissions of uid's OneDrive; nil and no error
// when the user has no OneDrive.
func (c *Connector) drivePerms(ctx context.Context, op, uid string) ([]drivePermission, bool, error) {
	perms, err := list[drivePermission](ctx, c, op, apiRequest{method: http.MethodGet, path: "/users/" + seg(uid) + "/drive/items/root/permissions"})
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, needs(err, PermFilesRead)
	}
	return perms, true, nil
}

func driveRole(op string, c *Connector, params map[string]string) (string, error) {
	switch r := strings.ToLower(strings.TrimSpace(params["role"])); r {
	case "", "write":
		return "write", nil
	case "read":
		return "read", nil
	default:
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("params.role %q must be read or write", params["role"]))
	}
}

func holds(perms []drivePermission, g *grantee, role string) []drivePermission {
	var out []drivePermission
	for _, p := range perms {
		if p.ID == "" || !p.grantedTo(g.id, g.email) {
			continue
		}
		if role == "" || p.hasRole(role, "write", "owner") {
			out = append(out, p)
		}
	}
	return out
}

func (grantDriveAccess) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	role, err := driveRole(op, c, req.Params)
	if err != nil {
		return connectors.Result{}, err
	}
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noneFound(), err
	}
	g, err := c.resolveGrantee(ctx, op, req, uid)
	if err != nil {
		return connectors.Result{}, err
	}
	perms, ok, err := c.drivePerms(ctx, op, uid)
	if err != nil {
		return connectors.Result{}, err
	}
	if !ok {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Account: uid, Detail: "no OneDrive for this user"}, nil
	}
	data := map[string]string{"grantee": g.id, "grantee_email": g.email}
	if have := holds(perms, g, role); len(have) > 0 {
		data["permission_id"] = have[0].ID
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: uid, Data: data,
			Detail: fmt.Sprintf("already done: %s holds %s on the OneDrive", g.label, strings.Join(have[0].Roles, "/"))}, nil
	}
	body := map[string]any{
		"recipients":     []map[string]string{{"email": g.email}},
		"roles":          []string{role},
		"requireSignIn":  true,
		"sendInvitation": false,
	}
	var out page[drivePermission]
	_, err = c.call(ctx, op, apiRequest{method: http.MethodPost, path: "/users/" + seg(uid) + "/drive/items/root/invite", body: body}, &out)
	if isNotFound(err) {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Account: uid, Detail: "no OneDrive for this user"}, nil
	}
	if err != nil {
		return connectors.Result{}, needs(err, PermFilesWrite)
	}
	for _, p := range out.Value {
		if p.ID != "" {
			data["permission_id"] = p.ID
			break
		}
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: uid, Data: data,
		Detail: fmt.Sprintf("%s can %s the departing user's OneDrive (no mail sent)", g.label, role)}, nil
}

func (grantDriveAccess) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	role, err := driveRole(op, c, req.Params)
	if err != nil {
		return connectors.Verification{}, err
	}
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noAccount(), err
	}
	g, err := c.resolveGrantee(ctx, op, req, uid)
	if err != nil {
		return connectors.Verification{}, err
	}
	perms, ok, err := c.drivePerms(ctx, op, uid)
	if err != nil || !ok {
		return connectors.Verification{OK: err == nil, Detail: "no OneDrive"}, err
	}
	if have := holds(perms, g, role); len(have) > 0 {
		return connectors.Verification{OK: true, Detail: fmt.Sprintf("%s holds %s on the OneDrive root (permission %s)", g.label, strings.Join(have[0].Roles, "/"), have[0].ID)}, nil
	}
	return connectors.Verification{Detail: fmt.Sprintf("%s holds no %s permission on the OneDrive root", g.label, role)}, nil
}

func (removeDriveAccess) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noneFound(), err
	}
	g, err := c.resolveGrantee(ctx, op, req, uid)
	if err != nil {
		return connectors.Result{}, err
	}
	perms, ok, err := c.drivePerms(ctx, op, uid)
	if err != nil {
		return connectors.Result{}, err
	}
	if !ok {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Account: uid, Detail: "no OneDrive for this user"}, nil
	}
	have := holds(perms, g, "")
	if len(have) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: uid, Detail: fmt.Sprintf("already done: %s holds no permission on the OneDrive", g.label)}, nil
	}
	var removed []string
	for _, p := range have {
		_, err := c.call(ctx, op, apiRequest{method: http.MethodDelete, path: "/users/" + seg(uid) + "/drive/items/root/permissions/" + seg(p.ID)}, nil)
		if err != nil && !isNotFound(err) {
			res := connectors.Result{Account: uid, Outcome: connectors.OutcomeAlreadyDone}
			if len(removed) > 0 {
				res.Outcome, res.Data = connectors.OutcomeDone, map[string]string{"removed_permissions": strings.Join(removed, ",")}
			}
			return res, needs(err, PermFilesWrite)
		}
		removed = append(removed, p.ID)
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: uid,
		Data:   map[string]string{"removed_permissions": strings.Join(removed, ","), "grantee": g.id},
		Detail: fmt.Sprintf("%s no longer has access to the OneDrive (%d %s removed)", g.label, len(removed), text.Plural(len(removed), "permission"))}, nil
}

func (removeDriveAccess) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noAccount(), err
	}
	g, err := c.resolveGrantee(ctx, op, req, uid)
	if err != nil {
		return connectors.Verification{}, err
	}
	perms, ok, err := c.drivePerms(ctx, op, uid)
	if err != nil || !ok {
		return connectors.Verification{OK: err == nil, Detail: "no OneDrive"}, err
	}
	if have := holds(perms, g, ""); len(have) > 0 {
		return connectors.Verification{Detail: fmt.Sprintf("%s still holds %d %s on the OneDrive root", g.label, len(have), text.Plural(len(have), "permission"))}, nil
	}
	return connectors.Verification{OK: true, Detail: fmt.Sprintf("%s holds no permission on the OneDrive root", g.label)}, nil
}
