package scim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// Requests per call, with the provider's /ServiceProviderConfig read once
// per process before the first (1 more, cached):
//
//	Lookup                            2: filter /Users, filter /Groups
//	deactivate_user (active)          3: filter, PATCH (or PUT), GET read-back
//	deactivate_user (delete)          3: filter, DELETE, GET read-back (404)
//	remove_group_memberships, n groups  3+n: filter, list Groups, n PATCH, list again
//	Verify deactivate_user            1: filter (or GET /Users/{id})
//	Verify remove_group_memberships   2: filter, list Groups
//
// With req.Account set (discovery found the id) the filter is a GET of
// /Users/{id}: the same count. A 412 costs one GET and one repeated PATCH.

// Lookup reports the subject's User and the Groups an offboarding would
// remove it from. A subject with no User is an empty result.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	const op = "lookup"
	if err := ctx.Err(); err != nil {
		return connectors.LookupResult{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	u, err := c.find(ctx, op, s)
	if err != nil || u == nil {
		return connectors.LookupResult{}, err
	}
	groups, err := c.groupsOf(ctx, op, u)
	if err != nil {
		return connectors.LookupResult{}, err
	}
	remove, _ := c.plan(nil, groups)
	acct := connectors.Account{
		ID:     u.ID,
		Kind:   "user",
		Status: u.status(),
		Detail: "SCIM userName " + u.UserName,
	}
	for _, g := range remove {
		acct.Groups = append(acct.Groups, g.label())
	}
	return connectors.LookupResult{Accounts: []connectors.Account{acct}}, nil
}

// Do performs deactivate_user or remove_group_memberships; each reads its
// effect back before it reports success.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	switch req.Operation {
	case connectors.OpDeactivateUser:
		if c.mode == ModeDelete {
			return c.deleteUser(ctx, op, req)
		}
		return c.deactivate(ctx, op, req)
	case connectors.OpRemoveGroupMemberships:
		return c.removeGroups(ctx, op, req)
	}
	return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
		fmt.Errorf("operation %q is not supported by the scim connector (supported: %s)", req.Operation, connectors.OperationNames(Operations())))
}

var noUser = connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no SCIM User for this person"}

// missing is the result when no User was found: none found, or, when the
// request named the account discovery found (req.Account) and it answers
// 404 now, already done — it existed and is gone, which is the state
// deactivation (and group removal: a deleted User is in no Group) asks
// for.
func missing(req connectors.Request) connectors.Result {
	if id := strings.TrimSpace(req.Account); id != "" {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: id,
			Detail: fmt.Sprintf("SCIM User %s no longer exists (GET 404)", id)}
	}
	return noUser
}

// deactivate sets active=false: PATCH replace (RFC 7644 section 3.5.2.3),
// or, where the provider does not support PATCH, a PUT of the User read
// with active false (section 3.5.1). Under ETags the write carries
// If-Match; a 412 re-reads the User and retries once.
func (c *Connector) deactivate(ctx context.Context, op string, req connectors.Request) (connectors.Result, error) {
	u, err := c.resolve(ctx, op, req)
	if err != nil {
		return connectors.Result{}, err
	}
	if u == nil {
		return missing(req), nil
	}
	if !u.isActive() {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID,
			Detail: fmt.Sprintf("SCIM User %s (%s) is already inactive", u.ID, u.UserName)}, nil
	}
	f, err := c.features(ctx, op)
	if err != nil {
		return connectors.Result{}, err
	}
	for attempt := 0; ; attempt++ {
		var r *response
		ifMatch := ""
		if f.etag {
			ifMatch = u.Meta.Version
		}
		if f.patch {
			body := map[string]any{
				"schemas":    []string{schemaPatchOp},
				"Operations": []map[string]any{{"op": "replace", "path": "active", "value": false}},
			}
			r, err = c.call(ctx, op, http.MethodPatch, c.endpoint(nil, "/Users/", u.ID), body, ifMatch)
		} else {
			r, err = c.call(ctx, op, http.MethodPut, c.endpoint(nil, "/Users/", u.ID), putBody(u), ifMatch)
		}
		if err != nil {
			return connectors.Result{}, err
		}
		switch {
		case r.ok():
		case r.status == http.StatusNotFound:
			return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID,
				Detail: fmt.Sprintf("SCIM User %s was deleted meanwhile", u.ID)}, nil
		case r.status == http.StatusPreconditionFailed && attempt == 0:
			// RFC 7644 section 3.14: the User changed since it was read.
			c.log.WithField("op", op).Debug("scim: 412 Precondition Failed; reading the User again and retrying once")
			id := u.ID
			if u, err = c.getUser(ctx, op, id); err != nil {
				return connectors.Result{}, err
			}
			if u == nil {
				return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: id,
					Detail: fmt.Sprintf("SCIM User %s was deleted meanwhile", id)}, nil
			}
			if !u.isActive() {
				return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID,
					Detail: fmt.Sprintf("SCIM User %s (%s) was deactivated meanwhile", u.ID, u.UserName)}, nil
			}
			continue
		case r.status == http.StatusPreconditionFailed:
			e := c.httpError(op, r)
			e.Kind = connectors.KindTransient
			e.Err = fmt.Errorf("the User changed again between a re-read and the retry (412 twice): %w", e.Err)
			return connectors.Result{}, e
		default:
			return connectors.Result{}, c.httpError(op, r)
		}
		break
	}
	back, err := c.getUser(ctx, op, u.ID)
	if err != nil {
		return connectors.Result{}, err
	}
	method := "PATCH"
	if !f.patch {
		method = "PUT"
	}
	if back != nil && back.isActive() {
		return connectors.Result{}, connectors.NewError(connectors.KindTransient, c.name, op,
			fmt.Errorf("the service provider accepted the %s but still reports User %s active=true on read-back", method, u.ID))
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.ID,
		Detail: fmt.Sprintf("SCIM User %s (%s) deactivated (active=false, %s; read back)", u.ID, u.UserName, method),
		Data:   map[string]string{"user_id": u.ID, "user_name": u.UserName, "previous_active": "true"}}, nil
}

// putBody is the User as read with active false, without meta (read-only;
// RFC 7644 section 3.5.1 has the provider ignore read-only attributes,
// and some refuse them).
func putBody(u *user) map[string]any {
	body := maps.Clone(u.raw)
	if body == nil {
		body = map[string]any{}
	}
	delete(body, "meta")
	body["active"] = false
	return body
}

// deleteUser deletes the User (RFC 7644 section 3.6); 404 is "already
// deleted". The read-back GET must answer 404.
func (c *Connector) deleteUser(ctx context.Context, op string, req connectors.Request) (connectors.Result, error) {
	u, err := c.resolve(ctx, op, req)
	if err != nil {
		return connectors.Result{}, err
	}
	if u == nil {
		return missing(req), nil
	}
	r, err := c.call(ctx, op, http.MethodDelete, c.endpoint(nil, "/Users/", u.ID), nil, "")
	if err != nil {
		return connectors.Result{}, err
	}
	switch {
	case r.ok():
	case r.status == http.StatusNotFound:
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID,
			Detail: fmt.Sprintf("SCIM User %s was already deleted", u.ID)}, nil
	default:
		return connectors.Result{}, c.httpError(op, r)
	}
	back, err := c.getUser(ctx, op, u.ID)
	if err != nil {
		return connectors.Result{}, err
	}
	if back != nil {
		return connectors.Result{}, connectors.NewError(connectors.KindTransient, c.name, op,
			fmt.Errorf("the service provider accepted the DELETE but User %s is still there on read-back", u.ID))
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.ID,
		Detail: fmt.Sprintf("SCIM User %s (%s) deleted (read back: 404)", u.ID, u.UserName),
		Data:   map[string]string{"user_id": u.ID, "user_name": u.UserName, "deleted": "true"}}, nil
}

// plan splits groups into those to remove and those kept (keep_groups and
// the request's "keep" parameter, by id or displayName, case-insensitive).
func (c *Connector) plan(params map[string]string, groups []group) (remove, kept []group) {
	keep := slices.Clone(c.keep)
	for _, k := range strings.Split(params["keep"], ",") {
		if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
			keep = append(keep, k)
		}
	}
	for _, g := range groups {
		if slices.Contains(keep, strings.ToLower(g.ID)) || (g.DisplayName != "" && slices.Contains(keep, strings.ToLower(g.DisplayName))) {
			kept = append(kept, g)
			continue
		}
		remove = append(remove, g)
	}
	return remove, kept
}

type groupFailure struct {
	g   group
	err error
}

// removeGroups removes the User from every Group it is in (but the kept
// ones) with a PATCH remove of members[value eq "id"] on each Group
// (RFC 7644 section 3.5.2.2), then lists the User's Groups again to check.
// One failure does not stop the rest; the error reports every failure.
func (c *Connector) removeGroups(ctx context.Context, op string, req connectors.Request) (connectors.Result, error) {
	u, err := c.resolve(ctx, op, req)
	if err != nil {
		return connectors.Result{}, err
	}
	if u == nil {
		return missing(req), nil
	}
	groups, err := c.groupsOf(ctx, op, u)
	if err != nil {
		return connectors.Result{}, err
	}
	remove, kept := c.plan(req.Params, groups)

	var removed, gone []group
	var failures []groupFailure
	for _, g := range remove {
		if ctx.Err() != nil {
			failures = append(failures, groupFailure{g, connectors.NewError(connectors.KindCanceled, c.name, op, ctx.Err())})
			continue
		}
		wasGone, err := c.removeMember(ctx, op, g, u.ID)
		switch {
		case err != nil:
			failures = append(failures, groupFailure{g, err})
		case wasGone:
			gone = append(gone, g)
		default:
			removed = append(removed, g)
		}
	}

	// Read back: none of the Groups acted on may still list the User.
	if len(removed)+len(gone) > 0 && ctx.Err() == nil {
		after, err := c.groupsOf(ctx, op, u)
		if err != nil {
			failures = append(failures, groupFailure{group{ID: "(read-back)"}, err})
		} else {
			for _, g := range after {
				if i := slices.IndexFunc(removed, func(x group) bool { return x.ID == g.ID }); i >= 0 {
					failures = append(failures, groupFailure{g, connectors.NewError(connectors.KindTransient, c.name, op,
						errors.New("the service provider accepted the PATCH but still lists the User as a member on read-back"))})
					removed = slices.Delete(removed, i, i+1)
				}
			}
		}
	}

	res := connectors.Result{Account: u.ID, Outcome: connectors.OutcomeAlreadyDone}
	if len(removed) > 0 {
		res.Outcome = connectors.OutcomeDone
		res.Data = map[string]string{"removed_groups": ids(removed)}
	}
	var parts []string
	switch {
	case len(removed) > 0:
		parts = append(parts, fmt.Sprintf("removed from %d %s (%s; read back)", len(removed), text.Plural(len(removed), "group"), labels(removed)))
	case len(failures) == 0:
		parts = append(parts, "no group memberships to remove")
	}
	if len(gone) > 0 {
		parts = append(parts, fmt.Sprintf("%d already gone (%s)", len(gone), labels(gone)))
	}
	if len(kept) > 0 {
		parts = append(parts, fmt.Sprintf("kept %s", labels(kept)))
	}
	res.Detail = fmt.Sprintf("SCIM User %s: %s", u.ID, strings.Join(parts, "; "))
	if len(failures) > 0 {
		return res, c.groupError(op, failures, len(removed), len(remove))
	}
	return res, nil
}

// removeMember removes userID from g; gone is true when the Group no
// longer exists or no longer has the member (a 400 noTarget: "the
// specified path did not yield an attribute or attribute value that could
// be operated on", RFC 7644 section 3.12).
func (c *Connector) removeMember(ctx context.Context, op string, g group, userID string) (gone bool, err error) {
	f, err := c.features(ctx, op)
	if err != nil {
		return false, err
	}
	version := g.Meta.Version
	if f.etag && version == "" {
		v, found, err := c.getGroupVersion(ctx, op, g.ID)
		if err != nil || !found {
			return !found, err
		}
		version = v
	}
	body := map[string]any{
		"schemas":    []string{schemaPatchOp},
		"Operations": []map[string]any{{"op": "remove", "path": "members[value eq " + quote(userID) + "]"}},
	}
	for attempt := 0; ; attempt++ {
		ifMatch := ""
		if f.etag {
			ifMatch = version
		}
		r, err := c.call(ctx, op, http.MethodPatch, c.endpoint(nil, "/Groups/", g.ID), body, ifMatch)
		if err != nil {
			return false, err
		}
		switch {
		case r.ok():
			return false, nil
		case r.status == http.StatusNotFound:
			return true, nil
		case r.status == http.StatusBadRequest && strings.EqualFold(scimType(r), "noTarget"):
			return true, nil
		case r.status == http.StatusPreconditionFailed && attempt == 0:
			v, found, err := c.getGroupVersion(ctx, op, g.ID)
			if err != nil || !found {
				return !found, err
			}
			version = v
			continue
		case r.status == http.StatusPreconditionFailed:
			e := c.httpError(op, r)
			e.Kind = connectors.KindTransient
			e.Err = fmt.Errorf("the Group changed again between a re-read and the retry (412 twice): %w", e.Err)
			return false, e
		default:
			return false, c.httpError(op, r)
		}
	}
}

// groupError reports every failed Group in one classified error: the kind
// of a retryable failure when there is one (so the job layer retries), else
// the first's.
func (c *Connector) groupError(op string, failures []groupFailure, removed, planned int) error {
	pick := failures[0].err
	for _, f := range failures {
		if connectors.IsRetryable(f.err) {
			pick = f.err
			break
		}
	}
	ce := connectors.Classify(c.name, op, pick)
	msgs := make([]string, len(failures))
	for i, f := range failures {
		msg := f.err.Error()
		var fe *connectors.Error
		if errors.As(f.err, &fe) {
			msg = string(fe.Kind)
			if fe.Status != 0 {
				msg += fmt.Sprintf(" (status %d)", fe.Status)
			}
			if fe.Err != nil {
				msg += ": " + fe.Err.Error()
			}
		}
		msgs[i] = fmt.Sprintf("%s (%s): %s", f.g.ID, f.g.label(), msg)
	}
	return &connectors.Error{
		Kind: ce.Kind, Connector: c.name, Op: op, Status: ce.Status, RetryAfter: ce.RetryAfter,
		Err: &groupErrors{msg: fmt.Sprintf("removed %d of %d groups; %d failed: %s", removed, planned, len(failures), strings.Join(msgs, "; ")), cause: pick},
	}
}

// groupErrors carries the summary and unwraps to the picked failure, so
// errors.Is(err, context.Canceled) still works.
type groupErrors struct {
	msg   string
	cause error
}

func (e *groupErrors) Error() string { return e.msg }
func (e *groupErrors) Unwrap() error { return e.cause }

func ids(gs []group) string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.ID
	}
	return strings.Join(out, ",")
}

func labels(gs []group) string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.label()
	}
	return strings.Join(out, ", ")
}

// Verify reads the operation's effect back: the User inactive (or gone in
// delete mode), or in no Group but the kept ones. No User verifies.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Verification{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	if req.Operation != connectors.OpDeactivateUser && req.Operation != connectors.OpRemoveGroupMemberships {
		return connectors.Verification{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported by the scim connector", req.Operation))
	}
	u, err := c.resolve(ctx, op, req)
	if err != nil {
		return connectors.Verification{}, err
	}
	if u == nil {
		return connectors.Verification{OK: true, Detail: "no SCIM User for this person"}, nil
	}
	if req.Operation == connectors.OpDeactivateUser {
		switch {
		case c.mode == ModeDelete:
			return connectors.Verification{OK: false, Detail: fmt.Sprintf("SCIM User %s still exists (active=%t)", u.ID, u.isActive())}, nil
		case u.isActive():
			return connectors.Verification{OK: false, Detail: fmt.Sprintf("SCIM User %s is active", u.ID)}, nil
		}
		return connectors.Verification{OK: true, Detail: fmt.Sprintf("SCIM User %s active=false", u.ID)}, nil
	}
	groups, err := c.groupsOf(ctx, op, u)
	if err != nil {
		return connectors.Verification{}, err
	}
	remove, kept := c.plan(req.Params, groups)
	if len(remove) > 0 {
		return connectors.Verification{OK: false, Detail: fmt.Sprintf("SCIM User %s is still in %d %s (%s)", u.ID, len(remove), text.Plural(len(remove), "group"), labels(remove))}, nil
	}
	d := fmt.Sprintf("SCIM User %s is in no group", u.ID)
	if len(kept) > 0 {
		d = fmt.Sprintf("SCIM User %s is only in kept groups (%s)", u.ID, labels(kept))
	}
	return connectors.Verification{OK: true, Detail: d}, nil
}
