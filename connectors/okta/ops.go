package okta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// Okta user statuses.
// https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserLifecycle
const (
	statusActive          = "ACTIVE"
	statusStaged          = "STAGED"
	statusProvisioned     = "PROVISIONED"
	statusRecovery        = "RECOVERY"
	statusPasswordExpired = "PASSWORD_EXPIRED"
	statusLockedOut       = "LOCKED_OUT"
	statusSuspended       = "SUSPENDED"
	statusDeprovisioned   = "DEPROVISIONED"
)

// Okta group types. Only OKTA_GROUP memberships are managed in Okta;
// APP_GROUP memberships are imported from an app (Active Directory, LDAP,
// Workday…) and are changed there; BUILT_IN is "Everyone", which every user
// is in.
const (
	groupOkta    = "OKTA_GROUP"
	groupApp     = "APP_GROUP"
	groupBuiltIn = "BUILT_IN"
)

// user is the part of Okta's user object the connector reads.
type user struct {
	ID                    string     `json:"id"`
	Status                string     `json:"status"`
	TransitioningToStatus string     `json:"transitioningToStatus"`
	LastLogin             *time.Time `json:"lastLogin"`
	StatusChanged         *time.Time `json:"statusChanged"`
	Profile               struct {
		Login          string `json:"login"`
		Email          string `json:"email"`
		EmployeeNumber string `json:"employeeNumber"`
	} `json:"profile"`
}

// group is the part of Okta's group object the connector reads.
type group struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
}

func (g group) label() string {
	if g.Profile.Name == "" {
		return g.ID
	}
	return g.Profile.Name
}

// normalStatus maps an Okta status to the connectors vocabulary. Statuses
// in which the user can still (or again) sign in are active; an unknown
// status is treated as active too, so it is never mistaken for revoked.
func normalStatus(s string) string {
	switch s {
	case statusSuspended:
		return connectors.StatusDisabled
	case statusDeprovisioned:
		return connectors.StatusDeprovisioned
	case statusActive, statusStaged, statusProvisioned, statusRecovery, statusPasswordExpired, statusLockedOut:
		return connectors.StatusActive
	}
	return connectors.StatusActive
}

func (u *user) account() connectors.Account {
	detail := "okta status=" + u.Status
	if u.TransitioningToStatus != "" {
		detail += " transitioning_to=" + u.TransitioningToStatus
	}
	if u.Profile.Login != "" {
		detail += " login=" + u.Profile.Login
	}
	if u.LastLogin != nil {
		detail += " last_login=" + u.LastLogin.UTC().Format(time.RFC3339)
	}
	// Sessions stays 0: Okta's Management API cannot count a user's
	// sessions, so say so rather than imply there are none.
	detail += " sessions=unknown"
	return connectors.Account{ID: u.ID, Kind: "user", Status: normalStatus(u.Status), Detail: detail}
}

// getUser reads one user by id or login: GET /api/v1/users/{id}. The path
// takes "an ID, login, or login shortname (as long as the shortname is
// unambiguous)", and /api/v1/users/me is the caller itself. A missing user
// is (nil, nil).
// https://developer.okta.com/docs/reference/api/users/
func (c *Connector) getUser(ctx context.Context, op, idOrLogin string) (*user, error) {
	if strings.EqualFold(strings.TrimSpace(idOrLogin), "me") {
		// /api/v1/users/me is the caller: with an API token, the admin who
		// owns it. Never let a subject resolve to the service account.
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New(`"me" is not a user id or login`))
	}
	r, err := c.call(ctx, op, http.MethodGet, c.apiURL(nil, "/api/v1/users/", idOrLogin))
	if err != nil {
		return nil, err
	}
	switch {
	case r.status == http.StatusNotFound:
		return nil, nil
	case !r.ok():
		return nil, c.httpError(op, r)
	}
	var u user
	if err := c.decode(op, r, &u); err != nil {
		return nil, err
	}
	if u.ID == "" {
		return nil, connectors.NewError(connectors.KindTransient, c.name, op, errors.New("Okta returned a user without an id"))
	}
	return &u, nil
}

// searchLimit bounds a search answer; a subject matching more users than
// this is ambiguous anyway.
const searchLimit = 10

// searchUsers lists users matching `property eq "value"` with the search
// parameter of GET /api/v1/users. String literals are double-quoted with
// backslash escapes for '"' and '\'; the whole expression is
// percent-encoded in the query.
func (c *Connector) searchUsers(ctx context.Context, op, property, value string) ([]user, error) {
	expr := fmt.Sprintf(`%s eq "%s"`, property, escapeSearch(value))
	q := url.Values{"search": {expr}, "limit": {fmt.Sprint(searchLimit)}}
	r, err := c.call(ctx, op, http.MethodGet, c.apiURL(q, "/api/v1/users"))
	if err != nil {
		return nil, err
	}
	if !r.ok() {
		return nil, c.httpError(op, r)
	}
	var us []user
	if err := c.decode(op, r, &us); err != nil {
		return nil, err
	}
	return us, nil
}

func escapeSearch(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			// Control characters have no place in an email or employee
			// number; dropping them keeps the expression well formed.
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// findUsers resolves a subject to Okta users:
//
//  1. by login, GET /api/v1/users/{email}, when the email has an "@" (the
//     path also accepts a "login shortname", so a bare name could match
//     someone else's login, and "me" is the caller);
//  2. by profile.email, for users whose login is not their email;
//  3. by profile.employeeNumber;
//  4. by profile.login equal to the username (an exact match, never a
//     shortname).
//
// The first step that finds anyone decides. More than one user found is
// ambiguous, reported by the caller.
func (c *Connector) findUsers(ctx context.Context, op string, s connectors.Subject) ([]user, error) {
	email := strings.TrimSpace(s.Email)
	if email != "" {
		if strings.Contains(email, "@") {
			u, err := c.getUser(ctx, op, email)
			if err != nil || u != nil {
				return oneOrNone(u), err
			}
		}
		us, err := c.searchUsers(ctx, op, "profile.email", email)
		if err != nil || len(us) > 0 {
			return us, err
		}
	}
	if id := strings.TrimSpace(s.EmployeeID); id != "" {
		us, err := c.searchUsers(ctx, op, "profile.employeeNumber", id)
		if err != nil || len(us) > 0 {
			return us, err
		}
	}
	if name := strings.TrimSpace(s.Username); name != "" && !strings.EqualFold(name, email) {
		return c.searchUsers(ctx, op, "profile.login", name)
	}
	return nil, nil
}

func oneOrNone(u *user) []user {
	if u == nil {
		return nil
	}
	return []user{*u}
}

// ambiguous is the error for a subject matching several users.
func (c *Connector) ambiguous(op string, s connectors.Subject, us []user) error {
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	more := ""
	if len(us) >= searchLimit {
		more = " (or more)"
	}
	return connectors.NewError(connectors.KindInvalid, c.name, op,
		fmt.Errorf("subject %s matches %d Okta users%s: %s; name the account to act on", subjectLabel(s), len(us), more, strings.Join(ids, ", ")))
}

func subjectLabel(s connectors.Subject) string {
	switch {
	case s.Email != "":
		return s.Email
	case s.EmployeeID != "":
		return "employee " + s.EmployeeID
	case s.Username != "":
		return s.Username
	}
	return "(no identifier)"
}

// resolve finds the one user a request is about: req.Account when set,
// else the subject. (nil, nil) means none.
func (c *Connector) resolve(ctx context.Context, op string, req connectors.Request) (*user, error) {
	if id := strings.TrimSpace(req.Account); id != "" {
		return c.getUser(ctx, op, id)
	}
	us, err := c.findUsers(ctx, op, req.Subject)
	switch {
	case err != nil:
		return nil, err
	case len(us) == 0:
		return nil, nil
	case len(us) > 1:
		return nil, c.ambiguous(op, req.Subject, us)
	}
	return &us[0], nil
}

// Lookup reports the subject's Okta user: Account.ID is the Okta user id,
// Status the normalised status (SUSPENDED → disabled, DEPROVISIONED →
// deprovisioned, every other status → active) and Detail the raw Okta
// status. None found is an empty result; a subject matching several users
// is a KindInvalid error naming their ids.
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	const op = "lookup"
	if err := ctx.Err(); err != nil {
		return connectors.LookupResult{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	us, err := c.findUsers(ctx, op, s)
	if err != nil {
		return connectors.LookupResult{}, err
	}
	if len(us) > 1 {
		return connectors.LookupResult{}, c.ambiguous(op, s, us)
	}
	var res connectors.LookupResult
	for i := range us {
		res.Accounts = append(res.Accounts, us[i].account())
	}
	return res, nil
}

// Do performs one operation on the subject's Okta user (req.Account when
// set), reading before it writes; no user is OutcomeNoneFound.
//
//   - deactivate_user deactivates the user (deactivate_mode: deactivate,
//     status DEPROVISIONED, without the admin email) or suspends an ACTIVE
//     user (suspend); a user already in that state, or being deactivated,
//     is OutcomeAlreadyDone. Data records previous_status.
//   - revoke_sessions clears every Okta session and OAuth token of the
//     user. It is OutcomeAlreadyDone only when this connector cleared them
//     before and the user has not signed in since; Okta cannot tell whether
//     a user has sessions, so otherwise the (harmless) clear is repeated.
//     Data records cleared_at.
//   - remove_group_memberships removes every OKTA_GROUP membership except
//     keep_groups and the request's "keep" parameter (comma-separated ids
//     or names); imported (APP_GROUP) and built-in groups are left alone.
//     Data records removed_groups (ids, comma-separated), also alongside an
//     error when some removals failed.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Result{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	if err := c.checkOp(op, req.Operation); err != nil {
		return connectors.Result{}, err
	}
	switch req.Operation {
	case connectors.OpDeactivateUser:
		return c.deactivate(ctx, op, req)
	case connectors.OpRevokeSessions:
		return c.revokeSessions(ctx, op, req)
	default: // OpRemoveGroupMemberships
		return c.removeGroups(ctx, op, req)
	}
}

// Verify reads back the state an operation should have produced. No user
// verifies OK.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	if err := ctx.Err(); err != nil {
		return connectors.Verification{}, connectors.NewError(connectors.KindCanceled, c.name, op, err)
	}
	if err := c.checkOp(op, req.Operation); err != nil {
		return connectors.Verification{}, err
	}
	switch req.Operation {
	case connectors.OpDeactivateUser:
		return c.verifyDeactivate(ctx, op, req)
	case connectors.OpRevokeSessions:
		return c.verifySessions(ctx, op, req)
	default:
		return c.verifyGroups(ctx, op, req)
	}
}

func (c *Connector) checkOp(op string, o connectors.Operation) error {
	if connectors.Supports(c.ops, o) {
		return nil
	}
	return connectors.NewError(connectors.KindInvalid, c.name, op,
		fmt.Errorf("operation %q is not supported by this Okta connector (supported: %s)", o, connectors.OperationNames(c.ops)))
}

var noUser = connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no Okta user"}

// deactivate_user.
//
// Lifecycle operations are not idempotent: deactivating a user that is
// already DEPROVISIONED, or suspending one that is not ACTIVE, is an error
// (E0000001 "API validation failed"), so the status is read first and
// only a needed transition is asked for.
// https://developer.okta.com/docs/api/openapi/okta-management/management/tag/UserLifecycle
// https://developer.okta.com/docs/reference/error-codes/
//
// Deactivation (POST …/lifecycle/deactivate?sendEmail=false; synchronous
// unless "Prefer: respond-async" is sent) deprovisions the user from every
// assigned app and cannot be undone; meanwhile transitioningToStatus is
// DEPROVISIONED. It keeps the user's group memberships ("deactivated users
// … aren't removed from any groups"), which is why
// remove_group_memberships is a separate operation.
// https://developer.okta.com/docs/api/openapi/okta-management/management/tags/userlifecycle/other/deactivateuser
// https://help.okta.com/en-us/Content/Topics/users-groups-profiles/usgp-deactivate-user-account.htm
func (c *Connector) deactivate(ctx context.Context, op string, req connectors.Request) (connectors.Result, error) {
	u, err := c.resolve(ctx, op, req)
	if err != nil || u == nil {
		return noUser, err
	}
	var action, target string
	switch c.mode {
	case ModeSuspend:
		switch {
		case u.Status == statusSuspended || u.Status == statusDeprovisioned:
			return already(u, "user is already "+u.Status), nil
		case u.Status != statusActive:
			// Okta suspends only ACTIVE users; deactivating instead would be
			// a different, destructive change nobody configured.
			return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
				fmt.Errorf("cannot suspend Okta user %s in status %s: Okta suspends only ACTIVE users (use deactivate_mode: deactivate, or act in the Admin Console)", u.ID, u.Status))
		}
		action, target = "suspend", statusSuspended
	default:
		switch {
		case u.Status == statusDeprovisioned:
			return already(u, "user is already DEPROVISIONED"), nil
		case u.TransitioningToStatus == statusDeprovisioned:
			return already(u, "deactivation is already in progress (transitioningToStatus DEPROVISIONED)"), nil
		}
		action, target = "deactivate", statusDeprovisioned
	}

	var q url.Values
	if action == "deactivate" {
		q = url.Values{"sendEmail": {"false"}}
	}
	r, err := c.call(ctx, op, http.MethodPost, c.apiURL(q, "/api/v1/users/", u.ID, "/lifecycle/"+action))
	if err != nil {
		return connectors.Result{}, err
	}
	switch {
	case r.ok():
		return connectors.Result{
			Outcome: connectors.OutcomeDone,
			Account: u.ID,
			Detail:  fmt.Sprintf("okta user %s: %s → %s", u.ID, u.Status, target),
			Data:    map[string]string{"previous_status": u.Status, "status": target},
		}, nil
	case r.status == http.StatusNotFound:
		return noUser, nil
	case r.status >= 400 && r.status < 500 && r.status != http.StatusUnauthorized && r.status != http.StatusTooManyRequests:
		// Someone (another worker, an admin) may have made the transition
		// between our read and our request; Okta then refuses it. Read
		// again before calling it a failure.
		if now, rerr := c.getUser(ctx, op, u.ID); rerr == nil && now != nil &&
			(now.Status == target || now.Status == statusDeprovisioned) {
			return already(now, "user became "+now.Status+" concurrently"), nil
		}
	}
	return connectors.Result{}, c.httpError(op, r)
}

func already(u *user, why string) connectors.Result {
	return connectors.Result{
		Outcome: connectors.OutcomeAlreadyDone,
		Account: u.ID,
		Detail:  fmt.Sprintf("okta user %s: %s", u.ID, why),
	}
}

func (c *Connector) verifyDeactivate(ctx context.Context, op string, req connectors.Request) (connectors.Verification, error) {
	u, err := c.resolve(ctx, op, req)
	if err != nil {
		return connectors.Verification{}, err
	}
	if u == nil {
		return connectors.Verification{OK: true, Detail: "no Okta user"}, nil
	}
	ok := u.Status == statusDeprovisioned || c.mode == ModeSuspend && u.Status == statusSuspended
	detail := "okta status=" + u.Status
	if u.TransitioningToStatus != "" {
		detail += " transitioning_to=" + u.TransitioningToStatus
	}
	return connectors.Verification{OK: ok, Detail: detail}, nil
}

// revoke_sessions: DELETE /api/v1/users/{id}/sessions?oauthTokens=true
// ends every Okta (IdP) session of the user and, with oauthTokens=true,
// revokes the OpenID Connect and OAuth access and refresh tokens issued to
// them (UserSessions revokeUserSessions(userId, oauthTokens)).
// https://developer.okta.com/okta-sdk-java/apidocs/com/okta/sdk/resource/api/UserSessionsApi.html
// https://help.okta.com/en/prod/Content/Topics/Workflows/connector-reference/okta/actions/clearusersessions.htm
//
// The Management API has no per-user session list (the Sessions API reads
// one session by its id), so the effect cannot be read back directly.
// https://developer.okta.com/docs/reference/api/sessions
//
// The connector remembers, per user, when it last cleared their sessions
// (Okta's Date header of the answer); a repeat while the user's lastLogin
// is not later answers AlreadyDone. Another process without that record
// clears again, which is harmless: the DELETE is safe to repeat.
func (c *Connector) revokeSessions(ctx context.Context, op string, req connectors.Request) (connectors.Result, error) {
	u, err := c.resolve(ctx, op, req)
	if err != nil || u == nil {
		return noUser, err
	}
	if at, ok := c.clearedAt(u.ID); ok && !signedInAfter(u, at) {
		return already(u, fmt.Sprintf("sessions and OAuth tokens were cleared at %s and the user has not signed in since (%s)",
			at.UTC().Format(time.RFC3339), lastLogin(u))), nil
	}
	r, err := c.call(ctx, op, http.MethodDelete, c.apiURL(url.Values{"oauthTokens": {"true"}}, "/api/v1/users/", u.ID, "/sessions"))
	if err != nil {
		return connectors.Result{}, err
	}
	switch {
	case r.ok():
		at := c.now()
		if d, err := http.ParseTime(r.header.Get("Date")); err == nil {
			at = d
		}
		c.noteCleared(u.ID, at)
		return connectors.Result{
			Outcome: connectors.OutcomeDone,
			Account: u.ID,
			Detail:  fmt.Sprintf("okta user %s: cleared all sessions and OAuth tokens (Okta does not say how many)", u.ID),
			Data:    map[string]string{"cleared_at": at.UTC().Format(time.RFC3339)},
		}, nil
	case r.status == http.StatusNotFound:
		return noUser, nil
	case u.Status == statusDeprovisioned && r.status >= 400 && r.status < 500 &&
		r.status != http.StatusUnauthorized && r.status != http.StatusTooManyRequests:
		// Deactivation already ended the user's sessions; Okta may refuse
		// the call for a deactivated user.
		return already(u, "user is DEPROVISIONED (no sessions); Okta refused the clear: "+c.message(r)), nil
	}
	return connectors.Result{}, c.httpError(op, r)
}

func (c *Connector) verifySessions(ctx context.Context, op string, req connectors.Request) (connectors.Verification, error) {
	u, err := c.resolve(ctx, op, req)
	if err != nil {
		return connectors.Verification{}, err
	}
	if u == nil {
		return connectors.Verification{OK: true, Detail: "no Okta user"}, nil
	}
	if at, ok := c.clearedAt(u.ID); ok {
		if signedInAfter(u, at) {
			return connectors.Verification{OK: false, Detail: fmt.Sprintf("signed in again at %s after sessions were cleared at %s (status=%s)",
				u.LastLogin.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339), u.Status)}, nil
		}
		return connectors.Verification{OK: true, Detail: fmt.Sprintf("no sign-in since sessions were cleared at %s (status=%s, %s); Okta has no per-user session list to count",
			at.UTC().Format(time.RFC3339), u.Status, lastLogin(u))}, nil
	}
	switch u.Status {
	case statusSuspended, statusDeprovisioned:
		return connectors.Verification{OK: true, Detail: fmt.Sprintf("status=%s: Okta refuses sign-in and has ended the user's sessions (%s)", u.Status, lastLogin(u))}, nil
	}
	return connectors.Verification{OK: true, Detail: fmt.Sprintf("not read back: Okta's Management API has no per-user session list, and this process has no record of clearing them (status=%s, %s)",
		u.Status, lastLogin(u))}, nil
}

func signedInAfter(u *user, at time.Time) bool { return u.LastLogin != nil && u.LastLogin.After(at) }

func lastLogin(u *user) string {
	if u.LastLogin == nil {
		return "last_login=never"
	}
	return "last_login=" + u.LastLogin.UTC().Format(time.RFC3339)
}

// clearedRetention bounds how long a session clear is remembered.
const clearedRetention = 24 * time.Hour

func (c *Connector) noteCleared(id string, at time.Time) {
	c.clearMu.Lock()
	defer c.clearMu.Unlock()
	cutoff := c.now().Add(-clearedRetention)
	for k, t := range c.cleared {
		if t.Before(cutoff) {
			delete(c.cleared, k)
		}
	}
	c.cleared[id] = at
}

func (c *Connector) clearedAt(id string) (time.Time, bool) {
	c.clearMu.Lock()
	defer c.clearMu.Unlock()
	at, ok := c.cleared[id]
	if ok && at.Before(c.now().Add(-clearedRetention)) {
		return time.Time{}, false
	}
	return at, ok
}

// remove_group_memberships.
//
// GET /api/v1/users/{id}/groups lists the user's groups, paginated with
// Link rel="next"; each OKTA_GROUP membership that is not kept is removed
// with DELETE /api/v1/groups/{groupId}/users/{userId}. APP_GROUP
// memberships (imported from a directory or app) and the BUILT_IN
// "Everyone" group cannot be changed in Okta and are skipped. A 404 on
// removal means the membership (or group) is already gone.
// https://developer.okta.com/docs/api/openapi/okta-management/management/tags/userresources/other/listusergroups
// https://developer.okta.com/docs/reference/api/groups/
//
// A failure removing one group does not stop the others; the error then
// lists every failure, and Result.Data still records what was removed.
func (c *Connector) removeGroups(ctx context.Context, op string, req connectors.Request) (connectors.Result, error) {
	uid, found, err := c.userID(ctx, op, req)
	if err != nil || !found {
		return noUser, err
	}
	groups, found, err := c.listGroups(ctx, op, uid)
	if err != nil || !found {
		return noUser, err
	}
	plan := c.planGroups(req, groups)

	var removed, gone []group
	var failures []groupFailure
	for _, g := range plan.remove {
		r, err := c.call(ctx, op, http.MethodDelete, c.apiURL(nil, "/api/v1/groups/", g.ID, "/users/", uid))
		switch {
		case err != nil:
			failures = append(failures, groupFailure{g, err})
		case r.ok():
			removed = append(removed, g)
		case r.status == http.StatusNotFound:
			gone = append(gone, g)
		default:
			failures = append(failures, groupFailure{g, c.httpError(op, r)})
		}
		if ctx.Err() != nil {
			break
		}
	}

	res := connectors.Result{Account: uid}
	if len(removed) > 0 {
		res.Outcome = connectors.OutcomeDone
		res.Data = map[string]string{"removed_groups": ids(removed)}
	} else {
		res.Outcome = connectors.OutcomeAlreadyDone
	}
	var parts []string
	if len(removed) > 0 {
		parts = append(parts, fmt.Sprintf("removed %d %s (%s)", len(removed), text.Plural(len(removed), "group"), labels(removed)))
	} else if len(failures) == 0 {
		parts = append(parts, "no Okta-managed group memberships to remove")
	}
	if len(gone) > 0 {
		parts = append(parts, fmt.Sprintf("%d already removed (%s)", len(gone), labels(gone)))
	}
	parts = append(parts, plan.summary()...)
	res.Detail = fmt.Sprintf("okta user %s: %s", uid, strings.Join(parts, "; "))

	if len(failures) > 0 {
		return res, c.groupError(op, failures, len(removed), len(plan.remove))
	}
	return res, nil
}

// userID returns the target user's id: req.Account as given (the listing
// answers 404 when it is gone), else the subject resolved.
func (c *Connector) userID(ctx context.Context, op string, req connectors.Request) (string, bool, error) {
	if id := strings.TrimSpace(req.Account); id != "" {
		if strings.EqualFold(id, "me") {
			return "", false, connectors.NewError(connectors.KindInvalid, c.name, op, errors.New(`"me" is not a user id`))
		}
		return id, true, nil
	}
	u, err := c.resolve(ctx, op, req)
	if err != nil || u == nil {
		return "", false, err
	}
	return u.ID, true, nil
}

// maxPages bounds pagination (200 groups a page).
const maxPages = 100

// listGroups lists every group of the user; found is false when the user
// does not exist.
func (c *Connector) listGroups(ctx context.Context, op, uid string) (groups []group, found bool, err error) {
	next := c.apiURL(url.Values{"limit": {"200"}}, "/api/v1/users/", uid, "/groups")
	seen := map[string]bool{}
	for page := 0; next != ""; page++ {
		if page >= maxPages || seen[next] {
			return nil, true, connectors.NewError(connectors.KindTransient, c.name, op,
				fmt.Errorf("Okta's group pagination did not end after %d pages", page))
		}
		seen[next] = true
		r, err := c.call(ctx, op, http.MethodGet, next)
		if err != nil {
			return nil, true, err
		}
		switch {
		case r.status == http.StatusNotFound && page == 0:
			return nil, false, nil
		case !r.ok():
			return nil, true, c.httpError(op, r)
		}
		var gs []group
		if err := c.decode(op, r, &gs); err != nil {
			return nil, true, err
		}
		groups = append(groups, gs...)
		if next, err = c.nextLink(r); err != nil {
			return nil, true, connectors.NewError(connectors.KindInvalid, c.name, op, err)
		}
	}
	return groups, true, nil
}

// groupPlan sorts a user's groups into those to remove, those kept by
// configuration or request, and those Okta does not manage.
type groupPlan struct {
	remove, kept, foreign []group
}

func (c *Connector) planGroups(req connectors.Request, groups []group) groupPlan {
	keep := slices.Clone(c.keep)
	for _, k := range strings.Split(req.Params["keep"], ",") {
		if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
			keep = append(keep, k)
		}
	}
	var p groupPlan
	for _, g := range groups {
		switch {
		case g.Type != groupOkta:
			p.foreign = append(p.foreign, g)
		case slices.Contains(keep, strings.ToLower(g.ID)) || g.Profile.Name != "" && slices.Contains(keep, strings.ToLower(g.Profile.Name)):
			p.kept = append(p.kept, g)
		default:
			p.remove = append(p.remove, g)
		}
	}
	return p
}

func (p groupPlan) summary() []string {
	var out []string
	if len(p.kept) > 0 {
		out = append(out, fmt.Sprintf("kept %d (%s)", len(p.kept), labels(p.kept)))
	}
	if len(p.foreign) > 0 {
		var ls []string
		for _, g := range p.foreign {
			ls = append(ls, g.label()+" "+g.Type)
		}
		out = append(out, fmt.Sprintf("skipped %d not managed in Okta (%s)", len(p.foreign), strings.Join(ls, ", ")))
	}
	return out
}

type groupFailure struct {
	g   group
	err error
}

// groupError reports every failed removal in one classified error. Its
// kind is the first retryable failure's (a retry then removes what is
// left), else the first failure's.
func (c *Connector) groupError(op string, failures []groupFailure, removed, planned int) error {
	pick := failures[0].err
	for _, f := range failures {
		if connectors.IsRetryable(f.err) {
			pick = f.err
			break
		}
	}
	var ce *connectors.Error
	if !errors.As(pick, &ce) {
		ce = connectors.Classify(c.name, op, pick)
	}
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
	out := &connectors.Error{
		Kind: ce.Kind, Connector: c.name, Op: op, Status: ce.Status, RetryAfter: ce.RetryAfter,
		Err: &groupErrors{msg: fmt.Sprintf("removed %d of %d groups; %d failed: %s", removed, planned, len(failures), strings.Join(msgs, "; ")), cause: pick},
	}
	return out
}

// groupErrors carries the summary message and unwraps to the picked
// failure, so errors.Is(err, context.Canceled) still works.
type groupErrors struct {
	msg   string
	cause error
}

func (e *groupErrors) Error() string { return e.msg }
func (e *groupErrors) Unwrap() error { return e.cause }

func (c *Connector) verifyGroups(ctx context.Context, op string, req connectors.Request) (connectors.Verification, error) {
	uid, found, err := c.userID(ctx, op, req)
	if err != nil {
		return connectors.Verification{}, err
	}
	if !found {
		return connectors.Verification{OK: true, Detail: "no Okta user"}, nil
	}
	groups, found, err := c.listGroups(ctx, op, uid)
	if err != nil {
		return connectors.Verification{}, err
	}
	if !found {
		return connectors.Verification{OK: true, Detail: "no Okta user"}, nil
	}
	p := c.planGroups(req, groups)
	parts := []string{fmt.Sprintf("%d Okta-managed %s left to remove", len(p.remove), text.Plural(len(p.remove), "membership"))}
	if len(p.remove) > 0 {
		parts[0] += " (" + labels(p.remove) + ")"
	}
	parts = append(parts, p.summary()...)
	return connectors.Verification{OK: len(p.remove) == 0, Detail: strings.Join(parts, "; ")}, nil
}

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
	sort.Strings(out)
	return strings.Join(out, ", ")
}
