package graph

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// Mailbox preservation and deletion through Microsoft Purview eDiscovery
// (the Graph security API) and the user resource.
//
// preserve_mailbox places a real hold: the person becomes a custodian of the
// eDiscovery case named in Config.EDiscoveryCaseID (one legal keeps for
// departures), with their mailbox and OneDrive as the custodian's user
// source, and the custodian hold is applied
// (https://learn.microsoft.com/en-us/graph/api/security-ediscoverycase-post-custodians,
// https://learn.microsoft.com/en-us/graph/api/security-ediscoverycustodian-post-usersources,
// https://learn.microsoft.com/en-us/graph/api/security-ediscoverycustodian-applyhold).
// applyHold answers 202 and works in the background: the custodian's
// holdStatus goes from applying to applied
// (https://learn.microsoft.com/en-us/graph/api/resources/security-ediscoverycustodian),
// so the read-back is OK only at applied and the engine retries the
// read-back until then.
//
// delete_mailbox deletes the Entra ID user (DELETE /users/{id}:
// https://learn.microsoft.com/en-us/graph/api/user-delete), which
// soft-deletes the user and their mailbox (restorable for 30 days). Graph
// has no call that deletes only an Exchange Online mailbox. Before that it
// reads every eDiscovery hold that could cover the person — every open
// case's custodians, and every case's legal holds (ediscoveryHoldPolicy)
// with their user sources — and refuses with a permanent error while one
// does. A hold that cannot be read (a 403 for want of eDiscovery.Read.All,
// a 5xx) refuses the deletion too: the gate fails closed.
//
// convert_mailbox (to a shared mailbox) has no Graph API: it is
// Set-Mailbox -Type Shared in Exchange Online PowerShell, so it is a manual
// step in the policy (see docs/connectors.md), never claimed here.

// custodian is Graph's security.ediscoveryCustodian.
type custodian struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	DisplayName string `json:"displayName"`
	Status      string `json:"status"`     // active, released
	HoldStatus  string `json:"holdStatus"` // notApplied, applied, applying, removing, partial
}

// ediscoveryCase is Graph's security.ediscoveryCase.
type ediscoveryCase struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Status      string `json:"status"` // unknown, active, pendingDelete, closing, closed, closedWithError
}

func (k ediscoveryCase) name() string {
	if k.DisplayName != "" {
		return fmt.Sprintf("%q (%s)", k.DisplayName, k.ID)
	}
	return k.ID
}

// holdPolicy is Graph's security.ediscoveryHoldPolicy.
type holdPolicy struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	IsEnabled   *bool  `json:"isEnabled"`
	Status      string `json:"status"`
}

type userSource struct {
	Email string `json:"email"`
}

const casesPath = "/security/cases/ediscoveryCases"

func casePath(id string) string { return casesPath + "/" + seg(id) }

// mailOf is the address eDiscovery knows the user by.
func mailOf(u *user) string {
	if u.Mail != "" {
		return u.Mail
	}
	return u.UserPrincipalName
}

func (c *Connector) findCustodian(ctx context.Context, op, caseID, email string) (*custodian, error) {
	cs, err := list[custodian](ctx, c, op, apiRequest{method: http.MethodGet, path: casePath(caseID) + "/custodians"})
	if err != nil {
		return nil, needs(err, PermEDiscoveryRead)
	}
	for i := range cs {
		if strings.EqualFold(cs[i].Email, email) {
			return &cs[i], nil
		}
	}
	return nil, nil
}

func (c *Connector) needCase(op string) (string, error) {
	id := strings.TrimSpace(c.cfg.EDiscoveryCaseID)
	if id == "" {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s needs graph.ediscovery_case_id (the eDiscovery case holds are placed in)", op))
	}
	return id, nil
}

// ---------------------------------------------------------------------------
// preserve_mailbox

type preserveMailbox struct{}

func (preserveMailbox) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	caseID, err := c.needCase(op)
	if err != nil {
		return connectors.Result{}, err
	}
	u, err := c.findUser(ctx, op, req, selSites)
	if err != nil || u == nil {
		return noneFound(), err
	}
	email := mailOf(u)
	cu, err := c.findCustodian(ctx, op, caseID, email)
	if err != nil {
		return connectors.Result{}, err
	}
	var steps []string
	cp := casePath(caseID) + "/custodians"
	addSource := func() error {
		// The custodian's mailbox and OneDrive are its user source.
		src := map[string]string{"email": email, "includedSources": "mailbox,site"}
		if _, err := c.call(ctx, op, apiRequest{method: http.MethodPost, path: cp + "/" + seg(cu.ID) + "/userSources", body: src}, nil); err != nil {
			return needs(err, PermEDiscoveryWrite)
		}
		steps = append(steps, "mailbox and OneDrive added as sources")
		return nil
	}
	if cu == nil {
		var created custodian
		if _, err := c.call(ctx, op, apiRequest{method: http.MethodPost, path: cp, body: map[string]string{"email": email}}, &created); err != nil {
			return connectors.Result{}, needs(err, PermEDiscoveryWrite)
		}
		if created.ID == "" {
			return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("POST %s: Graph answered without the custodian's id", cp))
		}
		cu = &created
		steps = append(steps, "added as custodian")
		if err := addSource(); err != nil {
			return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.ID, Detail: "custodian added; its mailbox source was not", Data: map[string]string{"custodian_id": cu.ID}}, err
		}
	} else if h := strings.ToLower(cu.HoldStatus); h != "applied" && h != "applying" {
		// A custodian from an earlier, interrupted attempt (or added by
		// hand) may lack the user source the hold needs.
		srcs, err := list[userSource](ctx, c, op, apiRequest{method: http.MethodGet, path: cp + "/" + seg(cu.ID) + "/userSources"})
		if err != nil {
			return connectors.Result{}, needs(err, PermEDiscoveryRead)
		}
		has := false
		for _, src := range srcs {
			has = has || strings.EqualFold(src.Email, email)
		}
		if !has {
			if err := addSource(); err != nil {
				return connectors.Result{}, err
			}
		}
	}
	data := map[string]string{"custodian_id": cu.ID, "ediscovery_case_id": caseID}
	if strings.EqualFold(cu.Status, "released") {
		if _, err := c.call(ctx, op, apiRequest{method: http.MethodPost, path: cp + "/" + seg(cu.ID) + "/activate"}, nil); err != nil {
			return connectors.Result{}, needs(err, PermEDiscoveryWrite)
		}
		steps = append(steps, "custodian re-activated")
	} else if len(steps) == 0 {
		switch strings.ToLower(cu.HoldStatus) {
		case "applied":
			return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID, Data: data,
				Detail: "already done: " + email + " is on hold in eDiscovery case " + caseID}, nil
		case "applying":
			return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID, Data: data,
				Detail: "already done: the hold on " + email + " is being applied in eDiscovery case " + caseID}, nil
		}
	}
	if _, err := c.call(ctx, op, apiRequest{method: http.MethodPost, path: cp + "/" + seg(cu.ID) + "/applyHold"}, nil); err != nil {
		res := connectors.Result{Account: u.ID, Data: data, Outcome: connectors.OutcomeAlreadyDone}
		if len(steps) > 0 {
			res.Outcome, res.Detail = connectors.OutcomeDone, strings.Join(steps, "; ")+"; the hold was not applied"
		}
		return res, needs(err, PermEDiscoveryWrite)
	}
	steps = append(steps, "hold requested (Purview applies it in the background)")
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.ID, Data: data,
		Detail: email + " in eDiscovery case " + caseID + ": " + strings.Join(steps, "; ")}, nil
}

func (preserveMailbox) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	caseID, err := c.needCase(op)
	if err != nil {
		return connectors.Verification{}, err
	}
	u, err := c.findUser(ctx, op, req, selSites)
	if err != nil || u == nil {
		return noAccount(), err
	}
	cu, err := c.findCustodian(ctx, op, caseID, mailOf(u))
	if err != nil {
		return connectors.Verification{}, err
	}
	switch {
	case cu == nil:
		return connectors.Verification{Detail: mailOf(u) + " is not a custodian of eDiscovery case " + caseID}, nil
	case strings.EqualFold(cu.Status, "active") && strings.EqualFold(cu.HoldStatus, "applied"):
		return connectors.Verification{OK: true, Detail: fmt.Sprintf("custodian %s of case %s: status active, holdStatus applied", cu.ID, caseID)}, nil
	}
	return connectors.Verification{Detail: fmt.Sprintf("custodian %s of case %s: status %s, holdStatus %s (not yet applied)", cu.ID, caseID, cu.Status, cu.HoldStatus)}, nil
}

// ---------------------------------------------------------------------------
// delete_mailbox

type deleteMailbox struct{}

// holdsOn lists every eDiscovery hold that covers email, as "case: what".
// Closed cases are skipped (closing a case releases its holds).
func (c *Connector) holdsOn(ctx context.Context, op, email string) ([]string, error) {
	cases, err := list[ediscoveryCase](ctx, c, op, apiRequest{method: http.MethodGet, path: casesPath, query: query("$select", "id,displayName,status")})
	if err != nil {
		return nil, needs(err, PermEDiscoveryRead)
	}
	var found []string
	for _, k := range cases {
		switch strings.ToLower(k.Status) {
		case "closed", "closedwitherror":
			continue
		}
		cs, err := list[custodian](ctx, c, op, apiRequest{method: http.MethodGet, path: casePath(k.ID) + "/custodians"})
		if err != nil {
			return nil, needs(err, PermEDiscoveryRead)
		}
		for _, cu := range cs {
			if strings.EqualFold(cu.Email, email) && !strings.EqualFold(cu.Status, "released") && !strings.EqualFold(cu.HoldStatus, "notApplied") {
				found = append(found, fmt.Sprintf("case %s: custodian hold %s", k.name(), cu.HoldStatus))
			}
		}
		hs, err := list[holdPolicy](ctx, c, op, apiRequest{method: http.MethodGet, path: casePath(k.ID) + "/legalHolds"})
		if err != nil {
			return nil, needs(err, PermEDiscoveryRead)
		}
		for _, h := range hs {
			if h.IsEnabled != nil && !*h.IsEnabled {
				continue
			}
			us, err := list[userSource](ctx, c, op, apiRequest{method: http.MethodGet, path: casePath(k.ID) + "/legalHolds/" + seg(h.ID) + "/userSources"})
			if err != nil {
				return nil, needs(err, PermEDiscoveryRead)
			}
			for _, s := range us {
				if strings.EqualFold(s.Email, email) {
					found = append(found, fmt.Sprintf("case %s: legal hold %q", k.name(), h.DisplayName))
				}
			}
		}
	}
	return found, nil
}

func (deleteMailbox) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	u, err := c.findUser(ctx, op, req, selSites)
	if err != nil {
		return connectors.Result{}, err
	}
	if u == nil {
		return c.alreadyDeleted(ctx, op, req)
	}
	found, err := c.holdsOn(ctx, op, mailOf(u))
	if err != nil {
		ce := asError(err)
		out := *ce
		out.Err = fmt.Errorf("deletion refused: cannot tell whether an eDiscovery hold covers %s: %w", mailOf(u), ce.Err)
		return connectors.Result{}, &out
	}
	if len(found) > 0 {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("deletion refused: %s is under %d eDiscovery %s (%s); release the hold first", mailOf(u), len(found), text.Plural(len(found), "hold"), strings.Join(found, "; ")))
	}
	_, err = c.call(ctx, op, apiRequest{method: http.MethodDelete, path: "/users/" + seg(u.ID)}, nil)
	if isNotFound(err) {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Account: u.ID, Detail: "no Entra ID user (already deleted)"}, nil
	}
	if err != nil {
		return connectors.Result{}, needs(err, PermDeleteUser)
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.ID,
		Detail: "user " + u.label() + " deleted with the mailbox (no eDiscovery hold covers it); restorable from deleted items for 30 days"}, nil
}

// alreadyDeleted tells a user this connector (or anyone) deleted from one
// that never existed, when the request names the object ID: a deleted user
// stays in the directory's deleted items for 30 days
// (GET /directory/deletedItems/{id}:
// https://learn.microsoft.com/en-us/graph/api/directory-deleteditems-get).
// A subject without an object ID cannot be told apart (a deleted user's
// userPrincipalName is rewritten), so that is none found.
func (c *Connector) alreadyDeleted(ctx context.Context, op string, req connectors.Request) (connectors.Result, error) {
	id := strings.TrimSpace(req.Account)
	if id == "" {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no Entra ID user (never existed, or already deleted)"}, nil
	}
	var d struct {
		ID      string `json:"id"`
		Deleted string `json:"deletedDateTime"`
	}
	_, err := c.call(ctx, op, apiRequest{method: http.MethodGet, path: "/directory/deletedItems/" + seg(id), query: query("$select", "id,deletedDateTime")}, &d)
	if isNotFound(err) {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Account: id, Detail: "no Entra ID user (never existed, or deleted for good)"}, nil
	}
	if err != nil {
		return connectors.Result{}, err
	}
	return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: id, Detail: "already done: the user is in deleted items since " + d.Deleted}, nil
}

func (deleteMailbox) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	u, err := c.findUser(ctx, "verify "+string(req.Operation), req, selSites)
	if err != nil {
		return connectors.Verification{}, err
	}
	if u == nil {
		return connectors.Verification{OK: true, Detail: "the user no longer exists (deleted)"}, nil
	}
	return connectors.Verification{Detail: "user " + u.label() + " still exists"}, nil
}
