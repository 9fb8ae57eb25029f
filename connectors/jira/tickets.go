package jira

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/internal/restjson"
)

// Operation names in errors.
const (
	opOpen   = "open_ticket"
	opUpdate = "update_ticket"
	opClose  = "close_ticket"
)

// issueFields is what the connector reads of an issue.
const issueFields = "summary,status,labels"

type status struct {
	Name     string `json:"name"`
	Category struct {
		Key string `json:"key"` // new, indeterminate, done
	} `json:"statusCategory"`
}

type issue struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Fields struct {
		Status  *status  `json:"status"`
		Labels  []string `json:"labels"`
		Summary string   `json:"summary"`
	} `json:"fields"`
}

type transition struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	To   status `json:"to"`
}

// jiraError is the platform's error body:
// {"errorMessages":[…],"errors":{"field":"message"}}.
type jiraError struct {
	ErrorMessages []string          `json:"errorMessages"`
	Errors        map[string]string `json:"errors"`
}

func (c *Connector) fail(op string, r *restjson.Response) error {
	var msgs []string
	var e jiraError
	if r.JSON() && json.Unmarshal(r.Body, &e) == nil {
		msgs = append(msgs, e.ErrorMessages...)
		for _, k := range slices.Sorted(maps.Keys(e.Errors)) {
			msgs = append(msgs, k+": "+e.Errors[k])
		}
	}
	return c.api.Fail(op, r, strings.Join(msgs, "; "))
}

func (c *Connector) apiURL(path string, q url.Values) string {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + strings.ReplaceAll(q.Encode(), "+", "%20")
	}
	return u
}

func issuePath(id string, rest ...string) string {
	return "/rest/api/3/issue/" + url.PathEscape(id) + strings.Join(rest, "")
}

// call sends one request and decodes a 2xx answer into out (when not
// nil); found is false on 404.
func (c *Connector) call(ctx context.Context, op, method, u string, body, out any, what string) (found bool, err error) {
	r, err := c.api.Do(ctx, op, method, u, body)
	if err != nil {
		return false, err
	}
	if r.Status == http.StatusNotFound {
		return false, nil
	}
	if !r.OK() {
		return false, c.fail(op, r)
	}
	if out != nil {
		if err := c.api.Decode(op, r, out, what); err != nil {
			return false, err
		}
	}
	return true, nil
}

// must is call where a 404 is an error (a project, a search endpoint).
func (c *Connector) must(ctx context.Context, op, method, u string, body, out any, what string) error {
	r, err := c.api.Do(ctx, op, method, u, body)
	if err != nil {
		return err
	}
	if !r.OK() {
		return c.fail(op, r)
	}
	if out != nil {
		return c.api.Decode(op, r, out, what)
	}
	return nil
}

// readIssue reads an issue; found is false on 404, which Jira also answers
// when the account may not browse the project
// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-get).
func (c *Connector) readIssue(ctx context.Context, op, id string) (issue, bool, error) {
	var is issue
	found, err := c.call(ctx, op, http.MethodGet, c.apiURL(issuePath(id), url.Values{"fields": {issueFields}}), nil, &is, "an issue")
	if err != nil || !found {
		return is, found, err
	}
	if is.ID == "" || is.Key == "" || is.Fields.Status == nil {
		return is, false, c.api.Invalid(op, "the issue answer has no id, key or status")
	}
	return is, true, nil
}

func (c *Connector) ref(is issue) connectors.TicketRef {
	return connectors.TicketRef{ID: is.ID, Key: is.Key, URL: c.TicketURL(is.Key)}
}

// state maps an issue's status to Kinetic's.
func (c *Connector) state(st *status) connectors.TicketState {
	switch {
	case st == nil:
		return connectors.TicketOpen
	case c.is(st, connectors.TicketClosed):
		return connectors.TicketClosed
	case c.cfg.Statuses.OnHold != "" && c.is(st, connectors.TicketOnHold):
		return connectors.TicketOnHold
	case c.is(st, connectors.TicketInProgress):
		return connectors.TicketInProgress
	}
	return connectors.TicketOpen
}

// is reports whether a status is the one configured for want, or of its
// category when none is configured.
func (c *Connector) is(st *status, want connectors.TicketState) bool {
	if st == nil {
		return false
	}
	name, category := c.target(want)
	if name != "" {
		return strings.EqualFold(st.Name, name)
	}
	if want == connectors.TicketInProgress && c.cfg.Statuses.OnHold != "" && strings.EqualFold(st.Name, c.cfg.Statuses.OnHold) {
		return false // the on-hold status is in the same category
	}
	return category != "" && st.Category.Key == category
}

// target returns the configured status name for a state, else the status
// category whose statuses count as that state.
func (c *Connector) target(s connectors.TicketState) (name, category string) {
	switch s {
	case connectors.TicketInProgress:
		return c.cfg.Statuses.InProgress, "indeterminate"
	case connectors.TicketOnHold:
		return c.cfg.Statuses.OnHold, ""
	case connectors.TicketClosed:
		return c.cfg.Statuses.Closed, "done"
	}
	return "", ""
}

func describe(st *status) string {
	if st == nil {
		return "no status"
	}
	return fmt.Sprintf("status %q (%s)", st.Name, st.Category.Key)
}

// search finds the issues labelled corr, oldest first.
func (c *Connector) search(ctx context.Context, corr string) ([]issue, error) {
	q := url.Values{
		"jql":        {`labels = "` + corr + `" ORDER BY created ASC`},
		"fields":     {issueFields},
		"maxResults": {"2"},
	}
	c.mu.Lock()
	if id := c.filed[corr]; id != "" {
		q.Set("reconcileIssues", id)
	}
	c.mu.Unlock()
	var out struct {
		Issues *[]issue `json:"issues"`
	}
	if err := c.must(ctx, opOpen, http.MethodGet, c.apiURL("/rest/api/3/search/jql", q), nil, &out, "search results"); err != nil {
		return nil, err
	}
	if out.Issues == nil {
		return nil, c.api.Invalid(opOpen, "the search answer has no issues list")
	}
	return *out.Issues, nil
}

// OpenTicket files the issue for (req.CaseID, req.TaskID) unless one
// labelled with its correlation exists, then reads it back: one request
// when the issue exists, three when it files one.
func (c *Connector) OpenTicket(ctx context.Context, req connectors.TicketRequest) (connectors.TicketResult, error) {
	if req.CaseID == "" || req.TaskID == "" {
		return connectors.TicketResult{}, c.api.Invalid(opOpen, "a ticket needs a case id and a task id")
	}
	summary := strings.TrimSpace(strings.ReplaceAll(req.Summary, "\n", " "))
	if summary == "" {
		return connectors.TicketResult{}, c.api.Invalid(opOpen, "a ticket needs a summary")
	}
	project, itype := c.cfg.Project, c.cfg.IssueType
	if p := req.Params["project"]; p != "" {
		if !projectKey.MatchString(p) {
			return connectors.TicketResult{}, c.api.Invalid(opOpen, "parameter project %q is not a project key", p)
		}
		project = p
	}
	if t := req.Params["issue_type"]; t != "" {
		itype = t
	}
	corr := connectors.TicketCorrelation(req.CaseID, req.TaskID)
	found, err := c.search(ctx, corr)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	if len(found) > 0 {
		is := found[0]
		detail := fmt.Sprintf("issue %s already filed (%s)", is.Key, describe(is.Fields.Status))
		if len(found) > 1 {
			detail += "; another issue carries the same label: the oldest is used"
		}
		return connectors.TicketResult{Ref: c.ref(is), State: c.state(is.Fields.Status), Outcome: connectors.OutcomeAlreadyDone, Detail: detail}, nil
	}
	if r := []rune(summary); len(r) > 255 {
		summary = string(r[:254]) + "…" // summary is limited to 255 characters
	}
	body := map[string]any{"fields": map[string]any{
		"project":     map[string]string{"key": project},
		"issuetype":   map[string]string{"name": itype},
		"summary":     summary,
		"description": toADF(req.Description),
		"labels":      []string{"kinetic", corr},
	}}
	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := c.must(ctx, opOpen, http.MethodPost, c.apiURL("/rest/api/3/issue", nil), body, &created, "the created issue"); err != nil {
		return connectors.TicketResult{}, err
	}
	if created.ID == "" {
		return connectors.TicketResult{}, c.api.Invalid(opOpen, "the created issue has no id")
	}
	c.mu.Lock()
	c.filed[corr] = created.ID
	c.mu.Unlock()
	is, ok, err := c.readIssue(ctx, opOpen, created.ID)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	if !ok || !slices.Contains(is.Fields.Labels, corr) {
		// Filed but not readable with its label (no Browse Projects
		// permission, or an automation removed the label): a retry's
		// search would not find it and would file a duplicate.
		return connectors.TicketResult{}, &connectors.Error{Kind: connectors.KindForbidden, Connector: c.name, Op: opOpen,
			Err: fmt.Errorf("issue %s was filed but does not read back with its label (check Browse Projects permission and automations that edit labels)", created.Key)}
	}
	return connectors.TicketResult{Ref: c.ref(is), State: c.state(is.Fields.Status), Outcome: connectors.OutcomeDone,
		Detail: fmt.Sprintf("issue %s filed in %s (%s)", is.Key, project, describe(is.Fields.Status))}, nil
}

// comment adds note as a comment unless the issue already carries it,
// then reads the comment back. It reports whether it added one.
func (c *Connector) comment(ctx context.Context, op string, is issue, note string) (bool, error) {
	want := fold(note)
	if want == "" {
		return false, nil
	}
	var list struct {
		Comments []struct {
			ID   string  `json:"id"`
			Body adfNode `json:"body"`
		} `json:"comments"`
	}
	q := url.Values{"orderBy": {"-created"}, "maxResults": {"100"}}
	if err := c.must(ctx, op, http.MethodGet, c.apiURL(issuePath(is.ID, "/comment"), q), nil, &list, "comments"); err != nil {
		return false, err
	}
	for _, cm := range list.Comments {
		if adfText(cm.Body) == want {
			return false, nil
		}
	}
	var added struct {
		ID string `json:"id"`
	}
	if err := c.must(ctx, op, http.MethodPost, c.apiURL(issuePath(is.ID, "/comment"), nil), map[string]any{"body": toADF(note)}, &added, "the added comment"); err != nil {
		return false, err
	}
	if added.ID == "" {
		return false, c.api.Invalid(op, "the added comment has no id")
	}
	var back struct {
		Body adfNode `json:"body"`
	}
	found, err := c.call(ctx, op, http.MethodGet, c.apiURL(issuePath(is.ID, "/comment/", url.PathEscape(added.ID)), nil), nil, &back, "a comment")
	if err != nil {
		return false, err
	}
	if !found || adfText(back.Body) != want {
		return false, c.api.Invalid(op, "comment %s on %s does not read back as written", added.ID, is.Key)
	}
	return true, nil
}

// move transitions the issue to the state's status, then reads it back.
func (c *Connector) move(ctx context.Context, op string, is issue, to connectors.TicketState) (issue, error) {
	var list struct {
		Transitions []transition `json:"transitions"`
	}
	if err := c.must(ctx, op, http.MethodGet, c.apiURL(issuePath(is.ID, "/transitions"), nil), nil, &list, "transitions"); err != nil {
		return is, err
	}
	i := slices.IndexFunc(list.Transitions, func(t transition) bool { return c.is(&t.To, to) })
	if i < 0 {
		name, category := c.target(to)
		want := fmt.Sprintf("status %q", name)
		if name == "" {
			want = "a status of category " + category
		}
		var avail []string
		for _, t := range list.Transitions {
			avail = append(avail, fmt.Sprintf("%q→%q", t.Name, t.To.Name))
		}
		// An account without the Transition issues permission is
		// answered an empty list, not a 403
		// (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-transitions-get).
		return is, c.api.Invalid(op, "issue %s in %s has no transition to %s (available: %s); check the workflow, the statuses setting and the account's Transition issues permission",
			is.Key, describe(is.Fields.Status), want, strings.Join(avail, ", "))
	}
	tr := list.Transitions[i]
	if err := c.must(ctx, op, http.MethodPost, c.apiURL(issuePath(is.ID, "/transitions"), nil), map[string]any{"transition": map[string]string{"id": tr.ID}}, nil, ""); err != nil {
		return is, err
	}
	after, ok, err := c.readIssue(ctx, op, is.ID)
	if err != nil {
		return is, err
	}
	if !ok {
		return is, c.api.Invalid(op, "issue %s disappeared while it was moved", is.Key)
	}
	if !c.is(after.Fields.Status, to) {
		return is, c.api.Invalid(op, "issue %s reads back in %s after transition %q: a workflow condition or post function kept it", after.Key, describe(after.Fields.Status), tr.Name)
	}
	return after, nil
}

// UpdateTicket adds u.Note as a comment (unless the issue carries it) and
// moves the issue to u.State. A closed issue keeps its status.
func (c *Connector) UpdateTicket(ctx context.Context, ref connectors.TicketRef, u connectors.TicketUpdate) (connectors.TicketResult, error) {
	if ref.ID == "" {
		return connectors.TicketResult{}, c.api.Invalid(opUpdate, "the ticket reference has no issue id")
	}
	switch u.State {
	case "", connectors.TicketInProgress:
	case connectors.TicketOnHold:
		if c.cfg.Statuses.OnHold == "" {
			return connectors.TicketResult{}, c.api.Invalid(opUpdate, "state on_hold has no status (set statuses.on_hold)")
		}
	default:
		return connectors.TicketResult{}, c.api.Invalid(opUpdate, "state %q cannot be set by an update (close the ticket with CloseTicket)", u.State)
	}
	is, ok, err := c.readIssue(ctx, opUpdate, ref.ID)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	if !ok {
		return connectors.TicketResult{Ref: ref, Outcome: connectors.OutcomeNoneFound, Detail: "issue no longer exists (or is no longer visible to the account)"}, nil
	}
	var did []string
	added, err := c.comment(ctx, opUpdate, is, u.Note)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	if added {
		did = append(did, "comment added")
	}
	if u.State != "" && !c.is(is.Fields.Status, connectors.TicketClosed) && !c.is(is.Fields.Status, u.State) {
		if is, err = c.move(ctx, opUpdate, is, u.State); err != nil {
			return connectors.TicketResult{}, err
		}
		did = append(did, "moved")
	}
	res := connectors.TicketResult{Ref: c.ref(is), State: c.state(is.Fields.Status), Outcome: connectors.OutcomeDone}
	if len(did) == 0 {
		res.Outcome = connectors.OutcomeAlreadyDone
		res.Detail = fmt.Sprintf("issue %s already up to date (%s)", is.Key, describe(is.Fields.Status))
		return res, nil
	}
	res.Detail = fmt.Sprintf("issue %s: %s (%s)", is.Key, strings.Join(did, ", "), describe(is.Fields.Status))
	return res, nil
}

// CloseTicket adds the note as a comment and moves the issue to its
// closed status; a closed issue is already done.
func (c *Connector) CloseTicket(ctx context.Context, ref connectors.TicketRef, note string) (connectors.TicketResult, error) {
	if ref.ID == "" {
		return connectors.TicketResult{}, c.api.Invalid(opClose, "the ticket reference has no issue id")
	}
	is, ok, err := c.readIssue(ctx, opClose, ref.ID)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	if !ok {
		return connectors.TicketResult{Ref: ref, Outcome: connectors.OutcomeNoneFound, Detail: "issue no longer exists (or is no longer visible to the account)"}, nil
	}
	if c.is(is.Fields.Status, connectors.TicketClosed) {
		return connectors.TicketResult{Ref: c.ref(is), State: connectors.TicketClosed, Outcome: connectors.OutcomeAlreadyDone,
			Detail: fmt.Sprintf("issue %s already closed (%s)", is.Key, describe(is.Fields.Status))}, nil
	}
	if _, err := c.comment(ctx, opClose, is, note); err != nil {
		return connectors.TicketResult{}, err
	}
	after, err := c.move(ctx, opClose, is, connectors.TicketClosed)
	if err != nil {
		return connectors.TicketResult{}, err
	}
	return connectors.TicketResult{Ref: c.ref(after), State: connectors.TicketClosed, Outcome: connectors.OutcomeDone,
		Detail: fmt.Sprintf("issue %s closed (%s)", after.Key, describe(after.Fields.Status))}, nil
}
