package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

func noneFound() connectors.Result {
	return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no Entra ID user"}
}

func noAccount() connectors.Verification {
	return connectors.Verification{OK: true, Detail: "no account"}
}

func isNotFound(err error) bool { return connectors.KindOf(err) == connectors.KindNotFound }

// ---------------------------------------------------------------------------
// disable_account

// disableAccount blocks sign-in: PATCH /users/{id} {"accountEnabled": false}
// (https://learn.microsoft.com/en-us/graph/api/user-update). It reads the
// user first, so an already blocked user needs no PATCH. For a user synced
// from on-premises AD the PATCH is still made — it holds until the next sync
// — and the result carries SyncedWarning and Data["on_premises_synced"].
type disableAccount struct{}

func (disableAccount) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	u, err := c.findUser(ctx, op, req, selDisable)
	if err != nil || u == nil {
		return noneFound(), err
	}
	res := connectors.Result{Account: u.ID, Data: map[string]string{}}
	if !u.enabled() {
		res.Outcome = connectors.OutcomeAlreadyDone
		res.Detail = "already done: sign-in is blocked (accountEnabled=false)"
	} else {
		_, err := c.call(ctx, op, apiRequest{method: http.MethodPatch, path: "/users/" + seg(u.ID), body: map[string]bool{"accountEnabled": false}}, nil)
		if isNotFound(err) { // deleted since the read
			return noneFound(), nil
		}
		if err != nil {
			return connectors.Result{}, needs(err, PermDisableAccount)
		}
		res.Outcome = connectors.OutcomeDone
		res.Detail = "sign-in blocked (accountEnabled true->false)"
	}
	if u.synced() {
		res.Detail += "; " + SyncedWarning
		res.Data["on_premises_synced"] = "true"
	}
	if len(res.Data) == 0 {
		res.Data = nil
	}
	return res, nil
}

func (disableAccount) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	u, err := c.findUser(ctx, "verify "+string(req.Operation), req, selDisable)
	if err != nil || u == nil {
		return noAccount(), err
	}
	v := connectors.Verification{OK: !u.enabled(), Detail: fmt.Sprintf("accountEnabled=%t upn=%s", u.enabled(), u.UserPrincipalName)}
	if u.synced() {
		v.Detail += "; " + SyncedWarning
	}
	return v, nil
}

// ---------------------------------------------------------------------------
// revoke_sessions

// revokeWindow is how recent signInSessionsValidFromDateTime must be for the
// sessions to count as revoked when the request names no not_before time.
const revokeWindow = 15 * time.Minute

// revokeSessions invalidates the user's refresh tokens and session cookies:
// POST /users/{id}/revokeSignInSessions
// (https://learn.microsoft.com/en-us/graph/api/user-revokesigninsessions).
//
// That call always answers 200 {"value": true} — a known service issue; the
// documented advice is to treat any 2xx as success
// (https://learn.microsoft.com/en-us/graph/known-issues#revoke-sign-in-sessions-returns-wrong-http-code)
// — so the answer says nothing. What it does is reset the user's
// signInSessionsValidFromDateTime to the current time, and that is what is
// read back: the sessions count as revoked when that timestamp is at or after
// Params["not_before"] (RFC 3339, for example the case's start), or when the
// request names none, within the last 15 minutes (which covers retries and
// clock skew between us and Entra). Graph has no count of live sessions to
// read instead. Access tokens already issued stay valid until they expire
// (about an hour) unless the app supports continuous access evaluation.
type revokeSessions struct{}

func (c *Connector) revokeThreshold(op string, req connectors.Request) (time.Time, error) {
	if s := strings.TrimSpace(req.Params["not_before"]); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("params.not_before %q is not an RFC 3339 time", s))
		}
		return t, nil
	}
	return c.now().Add(-revokeWindow), nil
}

func (revokeSessions) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	since, err := c.revokeThreshold(op, req)
	if err != nil {
		return connectors.Result{}, err
	}
	u, err := c.findUser(ctx, op, req, selRevoke)
	if err != nil || u == nil {
		return noneFound(), err
	}
	if vf := u.SignInSessionsValidFrom; vf != nil && !vf.Before(since) {
		return connectors.Result{
			Outcome: connectors.OutcomeAlreadyDone,
			Account: u.ID,
			Detail:  "already done: sign-in sessions revoked at " + vf.UTC().Format(time.RFC3339),
		}, nil
	}
	_, err = c.call(ctx, op, apiRequest{method: http.MethodPost, path: "/users/" + seg(u.ID) + "/revokeSignInSessions"}, nil)
	if isNotFound(err) {
		return noneFound(), nil
	}
	if err != nil {
		// The page lists User.RevokeSessions.All as the least privileged
		// application permission and "Not available" as higher ones:
		// User.ReadWrite.All does not cover it.
		return connectors.Result{}, needs(err, PermRevokeSessions)
	}
	at := c.now().UTC().Format(time.RFC3339)
	return connectors.Result{
		Outcome: connectors.OutcomeDone,
		Account: u.ID,
		Detail:  "sign-in sessions revoked at " + at + " (refresh tokens and session cookies invalidated; issued access tokens expire within about an hour)",
		Data:    map[string]string{"revoked_at": at},
	}, nil
}

func (revokeSessions) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	since, err := c.revokeThreshold(op, req)
	if err != nil {
		return connectors.Verification{}, err
	}
	u, err := c.findUser(ctx, op, req, selRevoke)
	if err != nil || u == nil {
		return noAccount(), err
	}
	vf := u.SignInSessionsValidFrom
	if vf == nil {
		return connectors.Verification{Detail: "Graph did not report signInSessionsValidFromDateTime"}, nil
	}
	ok := !vf.Before(since)
	detail := "sign-in sessions revoked at " + vf.UTC().Format(time.RFC3339)
	if !ok {
		detail = fmt.Sprintf("sessions last revoked at %s, before %s", vf.UTC().Format(time.RFC3339), since.UTC().Format(time.RFC3339))
	}
	return connectors.Verification{OK: ok, Detail: detail}, nil
}

// ---------------------------------------------------------------------------
// remove_group_memberships

// removeGroups removes the user from every group it is a direct member of
// that can be changed here: DELETE /groups/{gid}/members/{uid}/$ref
// (https://learn.microsoft.com/en-us/graph/api/group-delete-members), sent
// as JSON batches of up to 20 (POST /$batch) unless Config.Batch is false.
// Groups named in keep_groups or Params["keep"] are kept; dynamic groups,
// groups synced from on-premises AD and Exchange-managed groups are reported
// as skipped (see group.cannotChange). A 404 for a removal means the
// membership (or the group) is already gone and counts as removed before:
// Graph answers Request_ResourceNotFound "… does not exist or one of its
// queried reference-property objects are not present" for a member that is
// not in the group (see https://github.com/KelvinTegelaar/CIPP/issues/2141).
// Every removal is attempted even when some fail; the error then lists each
// failure and the result still records what was removed.
type removeGroups struct{}

// groupPlan sorts a user's groups.
type groupPlan struct {
	remove, kept []group
	skipped      []group
	why          map[string]string // group ID → why it is skipped
}

func (c *Connector) planGroups(groups []group, params map[string]string) groupPlan {
	keep := map[string]bool{}
	for _, k := range c.keep {
		keep[strings.ToLower(k)] = true
	}
	for _, k := range strings.Split(params["keep"], ",") {
		if k = strings.TrimSpace(k); k != "" {
			keep[strings.ToLower(k)] = true
		}
	}
	p := groupPlan{why: map[string]string{}}
	for _, g := range groups {
		switch why := g.cannotChange(); {
		case keep[strings.ToLower(g.ID)] || (g.DisplayName != "" && keep[strings.ToLower(g.DisplayName)]):
			p.kept = append(p.kept, g)
		case why != "":
			p.skipped = append(p.skipped, g)
			p.why[g.ID] = why
		default:
			p.remove = append(p.remove, g)
		}
	}
	return p
}

// summary describes the kept and skipped groups, "" when there are none.
func (p groupPlan) summary() string {
	var parts []string
	if len(p.kept) > 0 {
		parts = append(parts, fmt.Sprintf("kept %d: %s", len(p.kept), groupNames(p.kept)))
	}
	if len(p.skipped) > 0 {
		s := make([]string, len(p.skipped))
		for i, g := range p.skipped {
			s[i] = fmt.Sprintf("%s (%s)", g.name(), p.why[g.ID])
		}
		parts = append(parts, fmt.Sprintf("skipped %d that cannot be changed here: %s", len(p.skipped), strings.Join(s, ", ")))
	}
	return strings.Join(parts, "; ")
}

func groupNames(gs []group) string {
	n := make([]string, len(gs))
	for i, g := range gs {
		n[i] = g.name()
	}
	return strings.Join(n, ", ")
}

func groupIDs(gs []group) string {
	n := make([]string, len(gs))
	for i, g := range gs {
		n[i] = g.ID
	}
	return strings.Join(n, ",")
}

type groupFailure struct {
	group group
	err   *connectors.Error
}

// removal is what removing a user from groups came to.
type removal struct {
	removed, gone []group
	failed        []groupFailure
}

func (removeGroups) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noneFound(), err
	}
	groups, err := c.memberOf(ctx, op, uid)
	if isNotFound(err) {
		return noneFound(), nil
	}
	if err != nil {
		return connectors.Result{}, err
	}
	plan := c.planGroups(groups, req.Params)
	res := connectors.Result{Account: uid}
	if len(plan.remove) == 0 {
		res.Outcome = connectors.OutcomeAlreadyDone
		res.Detail = joinDetail("already done: no group memberships to remove", plan.summary())
		if len(plan.skipped) > 0 {
			res.Data = map[string]string{"skipped_groups": groupIDs(plan.skipped)}
		}
		return res, nil
	}
	r, err := c.removeMembers(ctx, op, uid, plan.remove)
	if err != nil { // cancelled: stop at once
		return connectors.Result{}, err
	}
	res.Outcome = connectors.OutcomeAlreadyDone
	var parts []string
	res.Data = map[string]string{}
	if len(r.removed) > 0 {
		res.Outcome = connectors.OutcomeDone
		parts = append(parts, fmt.Sprintf("removed from %d %s: %s", len(r.removed), text.Plural(len(r.removed), "group"), groupNames(r.removed)))
		res.Data["removed_groups"] = groupIDs(r.removed)
	}
	if len(r.gone) > 0 {
		parts = append(parts, fmt.Sprintf("%d already removed: %s", len(r.gone), groupNames(r.gone)))
	}
	if len(plan.skipped) > 0 {
		res.Data["skipped_groups"] = groupIDs(plan.skipped)
	}
	if len(r.failed) > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", len(r.failed)))
	}
	res.Detail = joinDetail(strings.Join(parts, "; "), plan.summary())
	if len(res.Data) == 0 {
		res.Data = nil
	}
	if len(r.failed) > 0 {
		return res, c.groupFailures(op, r)
	}
	return res, nil
}

// removeMembers removes uid from every group, in batches when enabled and
// useful. Only a cancelled context stops it early (returned as the error);
// every other failure is recorded per group.
func (c *Connector) removeMembers(ctx context.Context, op, uid string, groups []group) (removal, error) {
	var r removal
	ref := func(g group) string { return "/groups/" + seg(g.ID) + "/members/" + seg(uid) + "/$ref" }
	single := func(g group) error {
		_, err := c.call(ctx, op, apiRequest{method: http.MethodDelete, path: ref(g)}, nil)
		var ce *connectors.Error
		switch {
		case err == nil:
			r.removed = append(r.removed, g)
		case isNotFound(err):
			r.gone = append(r.gone, g)
		case ctx.Err() != nil:
			return err
		case errors.As(err, &ce):
			r.failed = append(r.failed, groupFailure{g, c.memberError(g, ce)})
		default:
			r.failed = append(r.failed, groupFailure{g, connectors.Classify(c.name, op, err)})
		}
		return nil
	}
	if !c.cfg.BatchEnabled() || len(groups) == 1 {
		for _, g := range groups {
			if err := single(g); err != nil {
				return r, err
			}
		}
		return r, nil
	}
	for start := 0; start < len(groups); start += maxBatch {
		chunk := groups[start:min(start+maxBatch, len(groups))]
		if len(chunk) == 1 { // a batch of one saves nothing
			if err := single(chunk[0]); err != nil {
				return r, err
			}
			continue
		}
		items := make([]batchItem, len(chunk))
		for i, g := range chunk {
			items[i] = batchItem{ID: batchID(i), Method: http.MethodDelete, URL: ref(g)}
		}
		answers, err := c.batch(ctx, op, items)
		if err != nil {
			if ctx.Err() != nil {
				return r, err
			}
			ce := connectors.Classify(c.name, op, err)
			for _, g := range chunk {
				r.failed = append(r.failed, groupFailure{g, ce})
			}
			continue
		}
		for i, it := range items {
			a, ok := answers[it.ID]
			switch {
			case !ok:
				r.failed = append(r.failed, groupFailure{chunk[i], connectors.NewError(connectors.KindTransient, c.name, op,
					fmt.Errorf("%s %s: no answer for this request in the batch", it.Method, it.URL))})
			case a.Status >= 200 && a.Status < 300:
				r.removed = append(r.removed, chunk[i])
			case a.Status == http.StatusNotFound:
				r.gone = append(r.gone, chunk[i])
			default:
				r.failed = append(r.failed, groupFailure{chunk[i], c.memberError(chunk[i], c.itemError(op, it, a))})
			}
		}
	}
	return r, nil
}

// memberError names, on a 403, the permission removing a member of g needs:
// GroupMember.ReadWrite.All for every group and, for a role-assignable group
// (isAssignableToRole), RoleManagement.ReadWrite.Directory as well — without
// it Graph answers 403 Authorization_RequestDenied for that group only
// (https://learn.microsoft.com/en-us/graph/api/group-delete-members). Such a
// group is named as role-assignable so the gap is plain.
func (c *Connector) memberError(g group, ce *connectors.Error) *connectors.Error {
	if ce.Kind != connectors.KindForbidden {
		return ce
	}
	out := *ce
	if g.roleAssignable() {
		out.Err = fmt.Errorf("%w (role-assignable group: removing its members needs the application permission %s in addition to %s)", ce.Err, PermRoleManagement, PermGroupMember)
	} else {
		out.Err = fmt.Errorf("%w (the app needs the Microsoft Graph application permission %s, admin consented)", ce.Err, PermGroupMember)
	}
	return &out
}

// groupFailures joins the failed removals into one classified error. Its
// kind is retryable when any failure is (the longest Retry-After wins), so
// the job retries; the removals that succeeded are not repeated then, since
// the next memberOf no longer lists them.
func (c *Connector) groupFailures(op string, r removal) error {
	pick := r.failed[0].err
	for _, f := range r.failed[1:] {
		if f.err.Retryable() && (!pick.Retryable() || f.err.RetryAfter > pick.RetryAfter) {
			pick = f.err
		}
	}
	msgs := make([]string, len(r.failed))
	for i, f := range r.failed {
		cause := f.err.Error()
		if f.err.Err != nil {
			cause = f.err.Err.Error()
		}
		msgs[i] = fmt.Sprintf("%s (%s)", f.group.name(), cause)
	}
	total := len(r.removed) + len(r.gone) + len(r.failed)
	return &connectors.Error{
		Kind: pick.Kind, Connector: c.name, Op: op, Status: pick.Status, RetryAfter: pick.RetryAfter,
		Err: fmt.Errorf("removed %d of %d group memberships; %d failed: %s", len(r.removed)+len(r.gone), total, len(r.failed), strings.Join(msgs, "; ")),
	}
}

func (removeGroups) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noAccount(), err
	}
	groups, err := c.memberOf(ctx, op, uid)
	if isNotFound(err) {
		return noAccount(), nil
	}
	if err != nil {
		return connectors.Verification{}, err
	}
	plan := c.planGroups(groups, req.Params)
	if len(plan.remove) > 0 {
		return connectors.Verification{Detail: joinDetail(
			fmt.Sprintf("still a member of %d %s: %s", len(plan.remove), text.Plural(len(plan.remove), "group"), groupNames(plan.remove)), plan.summary())}, nil
	}
	return connectors.Verification{OK: true, Detail: joinDetail(fmt.Sprintf("%d group memberships, none removable left", len(groups)), plan.summary())}, nil
}

// ---------------------------------------------------------------------------
// remove_licenses

// removeLicenses removes every license assigned directly to the user:
// POST /users/{id}/assignLicense {"addLicenses": [], "removeLicenses": [...]}
// (https://learn.microsoft.com/en-us/graph/api/user-assignlicense). The
// licenses come from the user's licenseAssignmentStates, which — unlike
// /users/{id}/licenseDetails — say which are inherited through group-based
// licensing (assignedByGroup set); those cannot be removed per user, would
// fail the whole call, and are reported instead. See
// connectors.OpRemoveLicenses for the mailbox consequence.
type removeLicenses struct{}

func splitLicenses(u *user) (direct []string, inherited []string) {
	seen := map[string]bool{}
	for _, l := range u.LicenseAssignmentStates {
		if l.SkuID == "" {
			continue
		}
		if l.AssignedByGroup != nil && *l.AssignedByGroup != "" {
			inherited = append(inherited, fmt.Sprintf("%s (group %s)", l.SkuID, *l.AssignedByGroup))
			continue
		}
		if !seen[strings.ToLower(l.SkuID)] {
			seen[strings.ToLower(l.SkuID)] = true
			direct = append(direct, l.SkuID)
		}
	}
	sort.Strings(direct)
	return direct, inherited
}

func inheritedNote(inherited []string) string {
	if len(inherited) == 0 {
		return ""
	}
	return fmt.Sprintf("%d inherited through group-based licensing, removed with the group membership: %s", len(inherited), strings.Join(inherited, ", "))
}

func (removeLicenses) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	u, err := c.findUser(ctx, op, req, selLicenses)
	if err != nil || u == nil {
		return noneFound(), err
	}
	direct, inherited := splitLicenses(u)
	if len(direct) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID,
			Detail: joinDetail("already done: no directly assigned licenses", inheritedNote(inherited))}, nil
	}
	body := map[string]any{"addLicenses": []any{}, "removeLicenses": direct}
	_, err = c.call(ctx, op, apiRequest{method: http.MethodPost, path: "/users/" + seg(u.ID) + "/assignLicense", body: body}, nil)
	if isNotFound(err) {
		return noneFound(), nil
	}
	if err != nil {
		return connectors.Result{}, err
	}
	return connectors.Result{
		Outcome: connectors.OutcomeDone,
		Account: u.ID,
		Detail: joinDetail(fmt.Sprintf("removed %d %s: %s", len(direct), text.Plural(len(direct), "license"), strings.Join(direct, ", ")),
			inheritedNote(inherited)),
		Data: map[string]string{"removed_licenses": strings.Join(direct, ",")},
	}, nil
}

func (removeLicenses) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	u, err := c.findUser(ctx, "verify "+string(req.Operation), req, selLicenses)
	if err != nil || u == nil {
		return noAccount(), err
	}
	direct, inherited := splitLicenses(u)
	if len(direct) > 0 {
		return connectors.Verification{Detail: joinDetail("directly assigned licenses left: "+strings.Join(direct, ", "), inheritedNote(inherited))}, nil
	}
	return connectors.Verification{OK: true, Detail: joinDetail("no directly assigned licenses", inheritedNote(inherited))}, nil
}

func joinDetail(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}
