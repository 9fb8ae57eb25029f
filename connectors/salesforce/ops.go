package salesforce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
)

// FederationIDAttribute is the subject attribute matched against
// User.FederationIdentifier.
const FederationIDAttribute = "federation_id"

// userFields are the User fields every read asks for.
const userFields = "Id, Username, Name, Email, FederationIdentifier, EmployeeNumber, IsActive, ManagerId"

// batchSize is the sObject Collections limit: 200 records or ids per call.
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_update.htm
const batchSize = 200

type sfUser struct {
	ID                   string `json:"Id"`
	Username             string `json:"Username"`
	Name                 string `json:"Name"`
	Email                string `json:"Email"`
	FederationIdentifier string `json:"FederationIdentifier"`
	EmployeeNumber       string `json:"EmployeeNumber"`
	IsActive             bool   `json:"IsActive"`
	ManagerID            string `json:"ManagerId"`
}

type userLogin struct {
	ID       string `json:"Id"`
	IsFrozen bool   `json:"IsFrozen"`
}

type idRow struct {
	ID string `json:"Id"`
}

type tokenRow struct {
	ID          string `json:"Id"`
	AppName     string `json:"AppName"`
	DeleteToken string `json:"DeleteToken"`
}

// saveResult is one element of an sObject Collections answer.
type saveResult struct {
	ID      string `json:"id"`
	Success bool   `json:"success"`
	Errors  []struct {
		StatusCode string   `json:"statusCode"`
		Message    string   `json:"message"`
		Fields     []string `json:"fields"`
	} `json:"errors"`
}

// ---------------------------------------------------------------------------
// Finding the user.

// find returns the subject's User, or nil when there is none. With an
// account id from discovery it reads that User (GET
// /sobjects/User/{id}; 404 is "gone"); otherwise it matches the subject
// with one SOQL query over the match_on identifiers, OR'ed, and two
// different Users matching is a permanent error naming both.
func (c *Connector) find(ctx context.Context, op string, req connectors.Request) (*sfUser, error) {
	var u *sfUser
	var err error
	if req.Account != "" {
		u, err = c.userByID(ctx, op, req.Account)
	} else {
		u, err = c.userBySubject(ctx, op, req.Subject)
	}
	if err != nil || u == nil {
		return nil, err
	}
	if strings.EqualFold(u.Username, c.cfg.Username) {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("user %s is the connector's own integration user (%s); refusing to act on it", u.ID, u.Username))
	}
	return u, nil
}

func (c *Connector) userByID(ctx context.Context, op, id string) (*sfUser, error) {
	if !validID(id) {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("account %q is not a Salesforce user id", id))
	}
	var u sfUser
	_, _, err := c.api(ctx, op, http.MethodGet, "/sobjects/User/"+id,
		url.Values{"fields": {strings.ReplaceAll(userFields, " ", "")}}, nil, &u)
	if connectors.KindOf(err) == connectors.KindNotFound {
		return nil, nil // deleted or never there: nothing to revoke
	}
	if err != nil {
		return nil, err
	}
	if u.ID == "" {
		return nil, c.malformed(op, "the User record has no Id")
	}
	return &u, nil
}

func (c *Connector) userBySubject(ctx context.Context, op string, s connectors.Subject) (*sfUser, error) {
	var conds, used []string
	for _, m := range c.cfg.matchOn() {
		var field, value string
		switch m {
		case MatchFederationID:
			field, value = "FederationIdentifier", s.Attributes[FederationIDAttribute]
		case MatchEmail:
			field, value = "Email", s.Email
		case MatchEmployeeNumber:
			field, value = "EmployeeNumber", s.EmployeeID
		}
		if value = strings.TrimSpace(value); value != "" {
			conds = append(conds, field+" = "+soqlQuote(value))
			used = append(used, field)
		}
	}
	if len(conds) == 0 {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("the subject has none of the identifiers this instance matches on (%s)", strings.Join(c.cfg.matchOn(), ", ")))
	}
	soql := "SELECT " + userFields + " FROM User WHERE " + strings.Join(conds, " OR ") + " LIMIT 10"
	users, _, err := query[sfUser](ctx, c, op, soql)
	if err != nil {
		return nil, err
	}
	switch len(users) {
	case 0:
		return nil, nil
	case 1:
		if users[0].ID == "" {
			return nil, c.malformed(op, "a User record has no Id")
		}
		return &users[0], nil
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
		fmt.Errorf("%d Salesforce users match the subject on %s (%s); refusing to guess: give each person one User, or set match_on to an identifier that is unique",
			len(users), strings.Join(used, " or "), strings.Join(ids, ", ")))
}

func (c *Connector) malformed(op, what string) error {
	return connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf("unexpected answer from Salesforce: %s", what))
}

// login reads the user's UserLogin (IsFrozen). Reading and updating it
// needs Manage Users:
// https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-userlogin.html
func (c *Connector) login(ctx context.Context, op string, u *sfUser) (*userLogin, error) {
	rows, _, err := query[userLogin](ctx, c, op, "SELECT Id, IsFrozen FROM UserLogin WHERE UserId = "+soqlQuote(u.ID)+" LIMIT 2")
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 || !validID(rows[0].ID) {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("user %s has %d UserLogin records, want 1; cannot freeze it", u.ID, len(rows)))
	}
	return &rows[0], nil
}

// Lookup reports the subject's User: status active, disabled (frozen) or
// deprovisioned (IsActive false). Two requests: the User query and its
// UserLogin. Sessions are not counted here (Verify of revoke_sessions
// counts them).
func (c *Connector) Lookup(ctx context.Context, s connectors.Subject) (connectors.LookupResult, error) {
	const op = "lookup"
	u, err := c.find(ctx, op, connectors.Request{Subject: s})
	if err != nil || u == nil {
		return connectors.LookupResult{}, err
	}
	acct := connectors.Account{ID: u.ID, Kind: "user", Status: connectors.StatusDeprovisioned, Detail: "username " + u.Username + "; inactive"}
	if u.IsActive {
		ul, err := c.login(ctx, op, u)
		if err != nil {
			return connectors.LookupResult{}, err
		}
		acct.Status, acct.Detail = connectors.StatusActive, "username "+u.Username+"; active"
		if ul.IsFrozen {
			acct.Status, acct.Detail = connectors.StatusDisabled, "username "+u.Username+"; active, login frozen"
		}
	}
	return connectors.LookupResult{Accounts: []connectors.Account{acct}}, nil
}

// ---------------------------------------------------------------------------
// Operations.

// Do performs one operation. A subject without a User is none found; an
// operation whose effect already holds is already done.
func (c *Connector) Do(ctx context.Context, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	if !slices.Contains(c.ops, req.Operation) {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported (supported: %s)", op, connectors.OperationNames(c.ops)))
	}
	u, err := c.find(ctx, op, req)
	if err != nil {
		return connectors.Result{}, err
	}
	if u == nil {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Detail: "no Salesforce user"}, nil
	}
	switch req.Operation {
	case connectors.OpDisableAccount:
		return c.freeze(ctx, op, u)
	case connectors.OpDeactivateUser:
		return c.deactivate(ctx, op, u)
	case connectors.OpRevokeSessions:
		return c.revokeSessions(ctx, op, u)
	default: // connectors.OpTransferOwnership
		return c.transfer(ctx, op, u, req.Params)
	}
}

// freeze sets UserLogin.IsFrozen = true: the user cannot log in, but the
// account (and its license) stays, and nothing Salesforce refuses for an
// active default owner stands in the way, so it works at once where
// deactivation may not.
// https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-userlogin.html
func (c *Connector) freeze(ctx context.Context, op string, u *sfUser) (connectors.Result, error) {
	if !u.IsActive {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID, Detail: "user is inactive; cannot log in"}, nil
	}
	froze, err := c.freezeLogin(ctx, op, u)
	if err != nil {
		return connectors.Result{}, err
	}
	if !froze {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID, Detail: "login already frozen"}, nil
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.ID, Detail: "login frozen (UserLogin.IsFrozen = true)"}, nil
}

// freezeLogin freezes the user's login unless it is frozen already, and
// says whether it changed anything.
func (c *Connector) freezeLogin(ctx context.Context, op string, u *sfUser) (bool, error) {
	ul, err := c.login(ctx, op, u)
	if err != nil {
		return false, err
	}
	if ul.IsFrozen {
		return false, nil
	}
	if _, _, err := c.api(ctx, op, http.MethodPatch, "/sobjects/UserLogin/"+ul.ID, nil, map[string]any{"IsFrozen": true}, nil); err != nil {
		return false, err
	}
	return true, nil
}

// deactivate freezes the login first (at once, whatever follows), then
// sets User.IsActive = false. Salesforce refuses to deactivate a user who
// is, among others, the default lead or case owner, the automated case
// user, the default workflow user, a workflow email or approval recipient,
// the web-to-lead default creator, or the value of a custom hierarchy
// field (help articles 000384586 and 000386275; the Considerations for
// Deactivating Users page); the REST API answers the PATCH with 400 and an
// error array whose errorCode depends on the dependency (Salesforce
// documents the reasons, not one code for them). Every 400 here is
// therefore reported as a permanent refusal carrying Salesforce's code and
// message, saying that the freeze stays in place, so the person cannot
// sign in while someone removes the dependency.
// https://help.salesforce.com/s/articleView?id=000384586&type=1
func (c *Connector) deactivate(ctx context.Context, op string, u *sfUser) (connectors.Result, error) {
	if !u.IsActive {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID, Detail: "user already inactive"}, nil
	}
	froze, err := c.freezeLogin(ctx, op, u)
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) {
			ce.Err = fmt.Errorf("freezing the login before deactivation failed; the user was not deactivated: %w", ce.Err)
		}
		return connectors.Result{}, err
	}
	freezeNote := "login was already frozen"
	if froze {
		freezeNote = "login frozen first"
	}
	r, codes, err := c.api(ctx, op, http.MethodPatch, "/sobjects/User/"+u.ID, nil, map[string]any{"IsActive": false}, nil)
	if err != nil {
		var ce *connectors.Error
		if errors.As(err, &ce) {
			if r != nil && r.status == http.StatusBadRequest {
				ce.Kind = connectors.KindInvalid
				code := "refused"
				if len(codes) > 0 && codes[0].ErrorCode != "" {
					code = codes[0].ErrorCode
				}
				ce.Err = fmt.Errorf("Salesforce refused to deactivate user %s (%s): %w. The login is frozen (UserLogin.IsFrozen = true) and stays frozen, so the user cannot sign in; "+
					"reassign what Salesforce names (default lead or case owner, automated case user, default workflow user, workflow or approval recipient, portal or hierarchy field) and run the action again",
					u.ID, code, ce.Err)
			} else {
				ce.Err = fmt.Errorf("deactivating user %s failed (%s; it stays frozen): %w", u.ID, freezeNote, ce.Err)
			}
		}
		return connectors.Result{}, err
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.ID,
		Detail: "user deactivated (IsActive = false); " + freezeNote,
		Data:   map[string]string{"frozen": strconv.FormatBool(froze)}}, nil
}

// revokeSessions ends the user's sessions and revokes their connected-app
// OAuth tokens:
//
//   - AuthSession rows (one per session; delete() is a supported call,
//     with Manage Users) are deleted with sObject Collections DELETE,
//     up to 200 ids a call, allOrNone=false.
//     https://developer.salesforce.com/docs/platform/object-reference/references/standard-objects/object-authsession.html
//     https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-delete.html
//   - OauthToken rows support only query() (seeing other users' tokens
//     needs Customize Application); each is revoked by posting its
//     DeleteToken to {instance}/services/oauth2/revoke, which Salesforce
//     documents as the way to delete one.
//     https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_oauthtoken.htm
//     https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_revoke_token.htm
//
// A session or token already gone counts as ended. One failure does not
// stop the rest; the error names what was done and what failed.
func (c *Connector) revokeSessions(ctx context.Context, op string, u *sfUser) (connectors.Result, error) {
	sessions, _, err := query[idRow](ctx, c, op, "SELECT Id FROM AuthSession WHERE UsersId = "+soqlQuote(u.ID))
	if err != nil {
		return connectors.Result{}, err
	}
	var failures []error
	ended := 0
	for start := 0; start < len(sessions); start += batchSize {
		chunk := sessions[start:min(start+batchSize, len(sessions))]
		ids := make([]string, 0, len(chunk))
		for _, s := range chunk {
			if validID(s.ID) {
				ids = append(ids, s.ID)
			}
		}
		var results []saveResult
		_, _, err := c.api(ctx, op, http.MethodDelete, "/composite/sobjects",
			url.Values{"ids": {strings.Join(ids, ",")}, "allOrNone": {"false"}}, nil, &results)
		if err != nil {
			failures = append(failures, err)
			if connectors.KindOf(err) == connectors.KindCanceled {
				break
			}
			continue
		}
		n, fails := c.tally(op, "session", results)
		ended += n
		failures = append(failures, fails...)
	}

	tokens, _, err := query[tokenRow](ctx, c, op, "SELECT Id, AppName, DeleteToken FROM OauthToken WHERE UserId = "+soqlQuote(u.ID))
	if err != nil {
		failures = append(failures, err)
	}
	revoked := 0
	var apps []string
	for _, t := range tokens {
		c.remember(t.DeleteToken)
	}
	for _, t := range tokens {
		if ctx.Err() != nil {
			failures = append(failures, connectors.NewError(connectors.KindCanceled, c.name, op, ctx.Err()))
			break
		}
		if err := c.revokeToken(ctx, op, t); err != nil {
			failures = append(failures, err)
			continue
		}
		revoked++
		if t.AppName != "" && !slices.Contains(apps, t.AppName) {
			apps = append(apps, t.AppName)
		}
	}
	detail := fmt.Sprintf("%d sessions ended, %d OAuth tokens revoked", ended, revoked)
	if len(apps) > 0 {
		detail += " (" + strings.Join(apps, ", ") + ")"
	}
	if len(failures) > 0 {
		return connectors.Result{}, c.joinFailures(op, detail, failures)
	}
	if len(sessions) == 0 && len(tokens) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID, Detail: "no sessions or OAuth tokens"}, nil
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.ID, Detail: detail,
		Data: map[string]string{"sessions": strconv.Itoa(ended), "oauth_tokens": strconv.Itoa(revoked), "apps": strings.Join(apps, ",")}}, nil
}

// revokeToken posts one DeleteToken to the revoke endpoint. The request
// carries no Authorization header: the token itself is the credential.
// Salesforce answers 200 on success and 400 (invalid_token) for a token
// that is no longer valid, which counts as revoked.
func (c *Connector) revokeToken(ctx context.Context, op string, t tokenRow) error {
	if t.DeleteToken == "" {
		return connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("OauthToken %s has no DeleteToken (the integration user needs Customize Application to see other users' tokens)", t.ID))
	}
	form := url.Values{"token": {t.DeleteToken}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+"/services/oauth2/revoke", strings.NewReader(form.Encode()))
	if err != nil {
		return connectors.NewError(connectors.KindInvalid, c.name, op, errors.New("cannot build the revoke request"))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return c.transportError(ctx, op, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxDescribed))
	resp.Body.Close()
	r := &response{status: resp.StatusCode, header: resp.Header, body: body}
	if r.ok() {
		return nil
	}
	if r.status == http.StatusBadRequest && strings.Contains(string(body), "invalid_token") {
		return nil // expired or revoked already
	}
	e := c.httpError(op, r, "")
	e.Err = fmt.Errorf("revoking the OAuth token of %s (OauthToken %s): %w", orUnknown(t.AppName), t.ID, e.Err)
	return e
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed app"
	}
	return s
}

// tally counts the successes of an sObject Collections answer; a record
// already deleted (ENTITY_IS_DELETED) counts as done.
func (c *Connector) tally(op, what string, results []saveResult) (int, []error) {
	n := 0
	var fails []error
	for _, r := range results {
		if r.Success {
			n++
			continue
		}
		var msgs []string
		gone := false
		for _, e := range r.Errors {
			if e.StatusCode == "ENTITY_IS_DELETED" {
				gone = true
			}
			msgs = append(msgs, strings.TrimPrefix(e.StatusCode+": "+e.Message, ": "))
		}
		if gone {
			n++
			continue
		}
		kind := connectors.KindInvalid
		for _, e := range r.Errors {
			if e.StatusCode == "UNABLE_TO_LOCK_ROW" || e.StatusCode == "REQUEST_LIMIT_EXCEEDED" {
				kind = connectors.KindTransient
			}
		}
		fails = append(fails, connectors.NewError(kind, c.name, op,
			fmt.Errorf("%s %s: %s", what, r.ID, c.redact(strings.Join(msgs, "; ")))))
	}
	return n, fails
}

// joinFailures makes one classified error of several: retryable when every
// failure is, else the kind of the first permanent one. The message starts
// with what was done, so partial results are not lost.
func (c *Connector) joinFailures(op, done string, failures []error) error {
	kind := connectors.Kind("")
	for _, f := range failures {
		k := connectors.KindOf(f)
		if !k.Retryable() {
			kind = k
			break
		}
		if kind == "" {
			kind = k
		}
	}
	msgs := make([]string, 0, len(failures))
	var status int
	var retryAfter = connectors.RetryAfterOf(failures[0])
	for _, f := range failures {
		var ce *connectors.Error
		if errors.As(f, &ce) {
			if ce.Status != 0 && status == 0 {
				status = ce.Status
			}
			if ce.Err != nil {
				msgs = append(msgs, ce.Err.Error())
				continue
			}
		}
		msgs = append(msgs, f.Error())
	}
	var cause error = fmt.Errorf("%s; %d failed: %s", done, len(failures), strings.Join(msgs, " | "))
	for _, f := range failures {
		for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
			if errors.Is(f, ctxErr) {
				cause = fmt.Errorf("%w: %v", ctxErr, cause)
				kind = connectors.KindCanceled
				break
			}
		}
		if kind == connectors.KindCanceled {
			break
		}
	}
	return &connectors.Error{Kind: kind, Connector: c.name, Op: op, Status: status, RetryAfter: retryAfter, Err: cause}
}

// transfer reassigns the records of each transfer_objects type that the
// user owns to their manager (User.ManagerId) or to the user id in the
// action's "to" parameter, by updating OwnerId with sObject Collections
// PATCH (up to 200 records a call, allOrNone=false, so one locked or
// validation-failing record does not stop the rest). It moves at most
// max_transfer_records per type; more is an error for a person to finish
// with Salesforce's Mass Transfer Records tool. The new owner must be an
// active user. An update of OwnerId moves that record only; Salesforce's
// own transfer rules for related records apply as they do to any API
// update.
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_update.htm
func (c *Connector) transfer(ctx context.Context, op string, u *sfUser, params map[string]string) (connectors.Result, error) {
	to := strings.TrimSpace(params["to"])
	source := "the action's \"to\" parameter"
	if to == "" {
		to, source = u.ManagerID, "the user's manager (User.ManagerId)"
	}
	if to == "" {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("user %s has no manager (User.ManagerId is empty) and the action gives no \"to\" user id; nobody to transfer records to", u.ID))
	}
	if to == u.ID {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s is the departing user %s", source, u.ID))
	}
	target, err := c.userByID(ctx, op, to)
	if err != nil {
		return connectors.Result{}, err
	}
	if target == nil || !target.IsActive {
		return connectors.Result{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("%s, %s, is not an active Salesforce user; records can only go to an active owner", source, to))
	}

	limit := c.cfg.MaxTransferRecords
	if limit == 0 {
		limit = DefaultMaxTransferRecords
	}
	moved := map[string]int{}
	total := 0
	var failures []error
	for _, obj := range c.cfg.transferObjects() {
		n, err := c.transferObject(ctx, op, obj, u.ID, to, limit)
		moved[obj] = n
		total += n
		if err != nil {
			failures = append(failures, err)
			if connectors.KindOf(err) == connectors.KindCanceled {
				break
			}
		}
	}
	var parts []string
	data := map[string]string{"to": to}
	for _, obj := range c.cfg.transferObjects() {
		if n, ok := moved[obj]; ok {
			parts = append(parts, fmt.Sprintf("%d %s", n, obj))
			data[obj] = strconv.Itoa(n)
		}
	}
	detail := fmt.Sprintf("transferred %s to %s", strings.Join(parts, ", "), to)
	if len(failures) > 0 {
		return connectors.Result{}, c.joinFailures(op, detail, failures)
	}
	if total == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: u.ID,
			Detail: "no " + strings.Join(c.cfg.transferObjects(), ", ") + " records owned"}, nil
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: u.ID, Detail: detail, Data: data}, nil
}

// transferObject moves one type's records in batches until none is left,
// a batch has a failure, or max is reached.
func (c *Connector) transferObject(ctx context.Context, op, obj, from, to string, limit int) (int, error) {
	moved := 0
	for {
		rows, _, err := query[idRow](ctx, c, op, "SELECT Id FROM "+obj+" WHERE OwnerId = "+soqlQuote(from)+" ORDER BY Id LIMIT "+strconv.Itoa(batchSize))
		if err != nil {
			var ce *connectors.Error
			if errors.As(err, &ce) {
				ce.Err = fmt.Errorf("%s: %w", obj, ce.Err)
			}
			return moved, err
		}
		if len(rows) == 0 {
			return moved, nil
		}
		if moved+len(rows) > limit {
			return moved, connectors.NewError(connectors.KindInvalid, c.name, op,
				fmt.Errorf("%s: the user owns more than max_transfer_records (%d); moved %d, transfer the rest with Salesforce's Mass Transfer Records tool", obj, limit, moved))
		}
		records := make([]map[string]any, 0, len(rows))
		for _, r := range rows {
			if !validID(r.ID) {
				return moved, c.malformed(op, obj+" query returned a record without a valid Id")
			}
			records = append(records, map[string]any{"attributes": map[string]string{"type": obj}, "id": r.ID, "OwnerId": to})
		}
		var results []saveResult
		if _, _, err := c.api(ctx, op, http.MethodPatch, "/composite/sobjects", nil,
			map[string]any{"allOrNone": false, "records": records}, &results); err != nil {
			return moved, err
		}
		n, fails := c.tally(op, obj, results)
		moved += n
		if len(fails) > 0 {
			return moved, c.joinFailures(op, fmt.Sprintf("%s: moved %d", obj, moved), fails)
		}
		if n == 0 {
			return moved, c.malformed(op, obj+" update reported no result")
		}
	}
}

// ---------------------------------------------------------------------------
// Verification.

// Verify reads back an operation's effect: IsFrozen (or IsActive false)
// for disable_account, IsActive false for deactivate_user, no AuthSession
// or OauthToken left for revoke_sessions, and no record of the configured
// types still owned for transfer_ownership. A subject with no User
// verifies.
func (c *Connector) Verify(ctx context.Context, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	if !slices.Contains(c.ops, req.Operation) {
		return connectors.Verification{}, connectors.NewError(connectors.KindInvalid, c.name, op,
			fmt.Errorf("operation %q is not supported", req.Operation))
	}
	u, err := c.find(ctx, op, req)
	if err != nil {
		return connectors.Verification{}, err
	}
	if u == nil {
		return connectors.Verification{OK: true, Detail: "no Salesforce user"}, nil
	}
	switch req.Operation {
	case connectors.OpDisableAccount:
		if !u.IsActive {
			return connectors.Verification{OK: true, Detail: "user inactive"}, nil
		}
		ul, err := c.login(ctx, op, u)
		if err != nil {
			return connectors.Verification{}, err
		}
		return connectors.Verification{OK: ul.IsFrozen, Detail: "IsFrozen=" + strconv.FormatBool(ul.IsFrozen)}, nil
	case connectors.OpDeactivateUser:
		return connectors.Verification{OK: !u.IsActive, Detail: "IsActive=" + strconv.FormatBool(u.IsActive)}, nil
	case connectors.OpRevokeSessions:
		_, sessions, err := query[idRow](ctx, c, op, "SELECT COUNT() FROM AuthSession WHERE UsersId = "+soqlQuote(u.ID))
		if err != nil {
			return connectors.Verification{}, err
		}
		_, tokens, err := query[idRow](ctx, c, op, "SELECT COUNT() FROM OauthToken WHERE UserId = "+soqlQuote(u.ID))
		if err != nil {
			return connectors.Verification{}, err
		}
		return connectors.Verification{OK: sessions == 0 && tokens == 0,
			Detail: fmt.Sprintf("%d sessions, %d OAuth tokens", sessions, tokens)}, nil
	default: // transfer_ownership
		var parts []string
		ok := true
		for _, obj := range c.cfg.transferObjects() {
			_, n, err := query[idRow](ctx, c, op, "SELECT COUNT() FROM "+obj+" WHERE OwnerId = "+soqlQuote(u.ID))
			if err != nil {
				return connectors.Verification{}, err
			}
			ok = ok && n == 0
			parts = append(parts, fmt.Sprintf("%d %s", n, obj))
		}
		return connectors.Verification{OK: ok, Detail: "still owned: " + strings.Join(parts, ", ")}, nil
	}
}
