package graph

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

// SyncedWarning is the source-of-authority warning for users synced from
// on-premises Active Directory (onPremisesSyncEnabled=true): Entra Connect
// overwrites the cloud object with AD's state on every sync.
const SyncedWarning = "synced from on-premises AD: disable in AD first (the cloud-side change is undone by the next sync)"

// $select lists. Graph returns only the selected properties, and some
// (signInSessionsValidFromDateTime, licenseAssignmentStates,
// onPremisesSyncEnabled) only when selected:
// https://learn.microsoft.com/en-us/graph/api/resources/user
const (
	selLookup   = "id,displayName,userPrincipalName,mail,accountEnabled,onPremisesSyncEnabled"
	selDisable  = "id,accountEnabled,onPremisesSyncEnabled,userPrincipalName"
	selRevoke   = "id,userPrincipalName,signInSessionsValidFromDateTime"
	selLicenses = "id,userPrincipalName,licenseAssignmentStates"
	selBasic    = "id,userPrincipalName"
	selSites    = "id,userPrincipalName,mail"
	selGroups   = "id,displayName,groupTypes,membershipRule,onPremisesSyncEnabled,mailEnabled,securityEnabled,isAssignableToRole"
)

// user is the part of Graph's user resource this connector reads.
type user struct {
	ID                      string         `json:"id"`
	DisplayName             string         `json:"displayName"`
	UserPrincipalName       string         `json:"userPrincipalName"`
	Mail                    string         `json:"mail"`
	AccountEnabled          *bool          `json:"accountEnabled"`
	OnPremisesSyncEnabled   *bool          `json:"onPremisesSyncEnabled"`
	SignInSessionsValidFrom *time.Time     `json:"signInSessionsValidFromDateTime"`
	LicenseAssignmentStates []licenseState `json:"licenseAssignmentStates"`
}

// licenseState is one licenseAssignmentState: assignedByGroup is null for a
// direct assignment and the group's ID for an inherited one.
// https://learn.microsoft.com/en-us/graph/api/resources/licenseassignmentstate
type licenseState struct {
	SkuID           string  `json:"skuId"`
	AssignedByGroup *string `json:"assignedByGroup"`
	State           string  `json:"state"`
}

// enabled reports accountEnabled; an absent value counts as enabled, so an
// unknown state is never taken for a blocked one.
func (u *user) enabled() bool { return u.AccountEnabled == nil || *u.AccountEnabled }

// synced reports whether the user is mastered in on-premises AD.
func (u *user) synced() bool { return u.OnPremisesSyncEnabled != nil && *u.OnPremisesSyncEnabled }

func (u *user) status() string {
	if u.enabled() {
		return connectors.StatusActive
	}
	return connectors.StatusDisabled
}

func (u *user) label() string {
	if u.UserPrincipalName != "" {
		return fmt.Sprintf("%s (id %s)", u.UserPrincipalName, u.ID)
	}
	return "id " + u.ID
}

// findUser resolves the request's Entra ID user with the given $select: by
// object ID when req.Account is set (GET /users/{id}), else by the subject
// (see subjectFilters). It returns nil and no error when there is no such
// user, and a KindInvalid error naming every match when the subject matches
// more than one.
func (c *Connector) findUser(ctx context.Context, op string, req connectors.Request, sel string) (*user, error) {
	if id := strings.TrimSpace(req.Account); id != "" {
		var u user
		_, err := c.call(ctx, op, apiRequest{method: http.MethodGet, path: "/users/" + seg(id), query: query("$select", sel)}, &u)
		if connectors.KindOf(err) == connectors.KindNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if u.ID == "" {
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("GET /users/%s: Graph answered without the user's id", id))
		}
		return &u, nil
	}
	filters := subjectFilters(req.Subject)
	if len(filters) == 0 {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("the subject has no email, upn attribute or employee ID to find an Entra ID user by"))
	}
	for _, f := range filters {
		var p page[user]
		if _, err := c.call(ctx, op, apiRequest{method: http.MethodGet, path: "/users", query: query("$filter", f, "$select", sel)}, &p); err != nil {
			return nil, err
		}
		switch {
		case len(p.Value) == 1 && p.NextLink == "":
			if p.Value[0].ID == "" {
				return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("GET /users: Graph answered without the user's id"))
			}
			return &p.Value[0], nil
		case len(p.Value) > 1:
			names := make([]string, len(p.Value))
			for i := range p.Value {
				names[i] = p.Value[i].label()
			}
			more := ""
			if p.NextLink != "" {
				more = " and more"
			}
			return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
				fmt.Errorf("the subject matches %d Entra ID users%s: %s; name the account explicitly or fix the directory", len(p.Value), more, strings.Join(names, ", ")))
		}
	}
	return nil, nil
}

// subjectFilters returns the $filter expressions that find a subject's user,
// tried in order: first the user principal name (Attributes["upn"]) and the
// email as either UPN or primary SMTP address, in one request so that two
// users sharing them are caught; then the employee ID, for a subject whose
// address changed. eq on userPrincipalName, mail and employeeId works without
// advanced query parameters (no ConsistencyLevel header needed):
// https://learn.microsoft.com/en-us/graph/aad-advanced-queries
func subjectFilters(s connectors.Subject) []string {
	var terms []string
	seen := map[string]bool{}
	add := func(prop, v string) {
		v = strings.TrimSpace(v)
		key := prop + "\x00" + strings.ToLower(v)
		if v == "" || seen[key] {
			return
		}
		seen[key] = true
		terms = append(terms, prop+" eq "+odataString(v))
	}
	add("userPrincipalName", s.Attributes["upn"])
	add("userPrincipalName", s.Email)
	add("mail", s.Email)
	var out []string
	if len(terms) > 0 {
		out = append(out, strings.Join(terms, " or "))
	}
	if id := strings.TrimSpace(s.EmployeeID); id != "" {
		out = append(out, "employeeId eq "+odataString(id))
	}
	return out
}

// odataString quotes v as an OData string literal: single quotes are doubled
// (http://docs.oasis-open.org/odata/odata/v4.01/odata-v4.01-part2-url-conventions.html,
// "primitive literals").
func odataString(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// userID returns the request's user object ID: req.Account when set (a
// missing user then shows up as a 404 on the next call), else the subject's
// resolved user. "" and no error means none found.
func (c *Connector) userID(ctx context.Context, op string, req connectors.Request) (string, error) {
	if id := strings.TrimSpace(req.Account); id != "" {
		return id, nil
	}
	u, err := c.findUser(ctx, op, req, selBasic)
	if err != nil || u == nil {
		return "", err
	}
	return u.ID, nil
}

// group is the part of Graph's group resource this connector reads.
type group struct {
	ID                    string   `json:"id"`
	DisplayName           string   `json:"displayName"`
	GroupTypes            []string `json:"groupTypes"`
	MembershipRule        *string  `json:"membershipRule"`
	OnPremisesSyncEnabled *bool    `json:"onPremisesSyncEnabled"`
	MailEnabled           *bool    `json:"mailEnabled"`
	SecurityEnabled       *bool    `json:"securityEnabled"`
	// IsAssignableToRole marks a role-assignable group: Entra roles can be
	// assigned to it, so changing its members is a privileged operation
	// that also needs RoleManagement.ReadWrite.Directory
	// (https://learn.microsoft.com/en-us/graph/api/group-delete-members;
	// https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/groups-concept).
	IsAssignableToRole *bool `json:"isAssignableToRole"`
}

// roleAssignable reports isAssignableToRole.
func (g group) roleAssignable() bool { return g.IsAssignableToRole != nil && *g.IsAssignableToRole }

func (g group) name() string {
	if g.DisplayName != "" {
		return g.DisplayName
	}
	return g.ID
}

func (g group) hasType(t string) bool {
	for _, x := range g.GroupTypes {
		if strings.EqualFold(x, t) {
			return true
		}
	}
	return false
}

// cannotChange says why this connector cannot remove a member from g, or ""
// when it can.
//
//   - Dynamic groups compute their members from a rule; "You can't remove a
//     member from groups with dynamic memberships":
//     https://learn.microsoft.com/en-us/graph/api/group-delete-members
//   - Groups synced from on-premises AD are changed in AD; Graph refuses
//     with "Unable to update the specified properties for on-premises
//     mastered Directory Sync objects".
//   - Mail-enabled security groups and distribution lists are read-only in
//     Graph (managed in Exchange Online):
//     https://learn.microsoft.com/en-us/graph/api/resources/groups-overview
func (g group) cannotChange() string {
	switch {
	case g.hasType("DynamicMembership") || (g.MembershipRule != nil && *g.MembershipRule != ""):
		return "dynamic membership rule"
	case g.OnPremisesSyncEnabled != nil && *g.OnPremisesSyncEnabled:
		return "synced from on-premises AD; remove the membership in AD"
	case g.MailEnabled != nil && *g.MailEnabled && !g.hasType("Unified"):
		return "mail-enabled security group or distribution list; managed in Exchange Online"
	}
	return ""
}

// memberOf lists the groups the user is a direct member of (the OData cast
// leaves out directory roles and administrative units), following
// @odata.nextLink:
// https://learn.microsoft.com/en-us/graph/api/user-list-memberof
func (c *Connector) memberOf(ctx context.Context, op, uid string) ([]group, error) {
	return list[group](ctx, c, op, apiRequest{
		method: http.MethodGet,
		path:   "/users/" + seg(uid) + "/memberOf/microsoft.graph.group",
		query:  query("$select", selGroups),
	})
}
