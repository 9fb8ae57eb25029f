package graph

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
)

// SharePoint's REST API, for the one thing remove_site_access needs that
// Graph v1.0 does not expose: the SharePoint groups (Owners, Members,
// Visitors) of a site that is not group-connected. Only when
// Config.SharePointURL is set; the token is app-only for
// https://{tenant}.sharepoint.com/.default, signed with the certificate
// (SharePoint refuses tokens obtained with a client secret:
// https://techcommunity.microsoft.com/blog/microsoftmissioncriticalblog/avoiding-access-errors-with-sharepoint-app-only-access/4459761).
// With an OAuth bearer token no form digest (X-RequestDigest) is needed.
//
//   - GET {site}/_api/web/siteusers?$filter=Email eq '{email}' finds the
//     person among the site's users (none: nothing to remove);
//   - GET {site}/_api/web/siteusers/getbyid({id})/groups lists their site
//     groups;
//   - POST {site}/_api/web/sitegroups/getbyid({gid})/users/removebyid({id})
//     removes them from one
//     (https://learn.microsoft.com/en-us/previous-versions/office/developer/sharepoint-rest-reference/dn531432(v=office.15),
//     UserCollection.removeById).
//
// A site collection administrator (IsSiteAdmin) keeps full control whatever
// the groups say; that is reported as access left, for the site's owner.

// spMembership is what one classic site grants the user through SharePoint.
type spMembership struct {
	userID    int
	siteAdmin bool
	groups    []spGroup
}

type spGroup struct {
	ID    int    `json:"Id"`
	Title string `json:"Title"`
}

// spAccept asks SharePoint for plain JSON (collections as {"value": […]}).
var spAccept = map[string]string{"Accept": "application/json;odata=nometadata"}

// spSitePath maps a site's webUrl onto sharepoint_url: the site must be on
// the configured SharePoint host (the token is for that host only).
func (c *Connector) spSitePath(webURL string) (string, error) {
	u, err := url.Parse(webURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("Graph reported the site's webUrl as %q, not a URL", webURL)
	}
	if !strings.EqualFold(u.Host, c.spBase.Host) {
		return "", fmt.Errorf("site %s is not on sharepoint_url's host %s", webURL, c.spBase.Host)
	}
	return strings.TrimRight(u.EscapedPath(), "/"), nil
}

// readSPMembership reads the person's site groups on a classic site; nil and
// no error when they are not a user of the site.
func (c *Connector) readSPMembership(ctx context.Context, op, webURL, email string) (*spMembership, error) {
	base, err := c.spSitePath(webURL)
	if err != nil {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, err)
	}
	var us page[struct {
		ID        int  `json:"Id"`
		SiteAdmin bool `json:"IsSiteAdmin"`
	}]
	_, err = c.call(ctx, op, apiRequest{sharePoint: true, method: http.MethodGet, header: spAccept,
		path:  base + "/_api/web/siteusers",
		query: query("$filter", "Email eq "+odataString(email), "$select", "Id,IsSiteAdmin")}, &us)
	if err != nil {
		return nil, needs(err, PermSharePointSites)
	}
	switch {
	case len(us.Value) == 0:
		return nil, nil
	case len(us.Value) > 1:
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%d users of site %s have the address %s; remove them by hand", len(us.Value), webURL, email))
	}
	u := us.Value[0]
	m := &spMembership{userID: u.ID, siteAdmin: u.SiteAdmin}
	var gs page[spGroup]
	if _, err := c.call(ctx, op, apiRequest{sharePoint: true, method: http.MethodGet, header: spAccept,
		path:  base + "/_api/web/siteusers/getbyid(" + strconv.Itoa(u.ID) + ")/groups",
		query: query("$select", "Id,Title")}, &gs); err != nil && !isNotFound(err) {
		return nil, needs(err, PermSharePointSites)
	}
	m.groups = gs.Value
	return m, nil
}

// removeSPGroup removes the site user from one site group.
func (c *Connector) removeSPGroup(ctx context.Context, op, webURL string, m *spMembership, g spGroup) error {
	base, err := c.spSitePath(webURL)
	if err != nil {
		return connectors.NewError(connectors.KindInvalid, c.name, op, err)
	}
	_, err = c.call(ctx, op, apiRequest{sharePoint: true, method: http.MethodPost, header: spAccept,
		path: base + "/_api/web/sitegroups/getbyid(" + strconv.Itoa(g.ID) + ")/users/removebyid(" + strconv.Itoa(m.userID) + ")"}, nil)
	if isNotFound(err) {
		return nil
	}
	return needs(err, PermSharePointSites)
}
