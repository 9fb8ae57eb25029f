package jira

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/internal/scripted"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

const apiToken = "ATATT3xFfGF0-jira-S3CR3T"

var basicAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte("kinetic@example.com:"+apiToken))

var req = connectors.TicketRequest{
	CaseID: "case-42", TaskID: "equipment-7",
	Summary:     "Recover laptop LT-1003 from Dana Scully",
	Description: "Dana Scully leaves on 2026-12-11.\n\nRecover laptop LT-1003.\nDrop-off: Building 2.",
}

var corr = connectors.TicketCorrelation("case-42", "equipment-7")

func newConn(t *testing.T, srv *scripted.Server, mod func(*Config)) *Connector {
	t.Helper()
	cfg := Config{SiteURL: srv.URL, Email: "kinetic@example.com", APIToken: secret.FromValue(apiToken), Project: "OPS"}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New("jira", cfg, testPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func searchQuery(reconcile string) url.Values {
	q := url.Values{"jql": {`labels = "` + corr + `" ORDER BY created ASC`}, "fields": {"summary,status,labels"}, "maxResults": {"2"}}
	if reconcile != "" {
		q.Set("reconcileIssues", reconcile)
	}
	return q
}

func searchStep(reply string) scripted.Step {
	return scripted.Step{Method: "GET", Path: "/rest/api/3/search/jql", Query: searchQuery(""), Reply: reply}
}

func issueJSON(status, category string) string {
	return `{"id":"10042","key":"OPS-42","fields":{"summary":"Recover laptop","labels":["kinetic","` + corr + `"],"status":{"name":"` + status + `","statusCategory":{"key":"` + category + `"}}}}`
}

func readStep(status, category string) scripted.Step {
	return scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042", Query: url.Values{"fields": {"summary,status,labels"}}, Reply: issueJSON(status, category)}
}

func adf(paras ...[]any) map[string]any {
	content := []any{}
	for _, p := range paras {
		content = append(content, map[string]any{"type": "paragraph", "content": p})
	}
	return map[string]any{"type": "doc", "version": 1, "content": content}
}

func txt(s string) map[string]any { return map[string]any{"type": "text", "text": s} }

var hardBreak = map[string]any{"type": "hardBreak"}

func adfJSON(s string) string {
	b, _ := json.Marshal(toADF(s))
	return string(b)
}

func TestOpenFilesOnceWithADFAndLabel(t *testing.T) {
	srv := scripted.New(t, basicAuth,
		searchStep(`{"issues":[],"isLast":true}`),
		scripted.Step{Method: "POST", Path: "/rest/api/3/issue", Query: url.Values{},
			Body: map[string]any{"fields": map[string]any{
				"project":   map[string]any{"key": "OPS"},
				"issuetype": map[string]any{"name": "Task"},
				"summary":   "Recover laptop LT-1003 from Dana Scully",
				"description": adf(
					[]any{txt("Dana Scully leaves on 2026-12-11.")},
					[]any{txt("Recover laptop LT-1003."), hardBreak, txt("Drop-off: Building 2.")},
				),
				"labels": []any{"kinetic", corr},
			}},
			Status: 201, Reply: `{"id":"10042","key":"OPS-42","self":"https://example.atlassian.net/rest/api/3/issue/10042"}`},
		readStep("To Do", "new"),
	)
	c := newConn(t, srv, nil)
	res, err := c.OpenTicket(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	want := connectors.TicketRef{ID: "10042", Key: "OPS-42", URL: srv.URL + "/browse/OPS-42"}
	if res.Outcome != connectors.OutcomeDone || res.Ref != want || res.State != connectors.TicketOpen {
		t.Fatalf("result = %+v", res)
	}

	// A second call in this process passes the filed issue as
	// reconcileIssues: Jira's search is eventually consistent.
	srv.Add(scripted.Step{Method: "GET", Path: "/rest/api/3/search/jql", Query: searchQuery("10042"),
		Reply: `{"issues":[` + issueJSON("To Do", "new") + `]}`})
	res, err = c.OpenTicket(ctx(t), req)
	if err != nil || res.Outcome != connectors.OutcomeAlreadyDone || res.Ref != want {
		t.Fatalf("second OpenTicket = %+v, %v", res, err)
	}
}

func TestOpenRetryFindsTheFirstIssue(t *testing.T) {
	srv := scripted.New(t, basicAuth, searchStep(`{"issues":[`+issueJSON("In Progress", "indeterminate")+`,{"id":"10043","key":"OPS-43","fields":{"status":{"name":"To Do","statusCategory":{"key":"new"}}}}]}`))
	res, err := newConn(t, srv, nil).OpenTicket(ctx(t), req)
	if err != nil || res.Outcome != connectors.OutcomeAlreadyDone || res.Ref.Key != "OPS-42" || res.State != connectors.TicketInProgress || !strings.Contains(res.Detail, "oldest") {
		t.Fatalf("OpenTicket = %+v, %v", res, err)
	}
}

func TestOpenParamsOverrideProjectAndType(t *testing.T) {
	r := req
	r.Params = map[string]string{"project": "HR", "issue_type": "Service Request"}
	srv := scripted.New(t, basicAuth,
		searchStep(`{"issues":[]}`),
		scripted.Step{Method: "POST", Path: "/rest/api/3/issue", Check: func(t testing.TB, _ *http.Request, body []byte) {
			var b struct {
				Fields struct {
					Project   map[string]string `json:"project"`
					IssueType map[string]string `json:"issuetype"`
				} `json:"fields"`
			}
			if json.Unmarshal(body, &b) != nil || b.Fields.Project["key"] != "HR" || b.Fields.IssueType["name"] != "Service Request" {
				t.Errorf("create body = %s", body)
			}
		}, Status: 201, Reply: `{"id":"10042","key":"OPS-42"}`},
		readStep("Open", "new"),
	)
	if _, err := newConn(t, srv, nil).OpenTicket(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	r.Params = map[string]string{"project": `OPS" OR project = X`}
	if _, err := newConn(t, scripted.New(t, basicAuth), nil).OpenTicket(ctx(t), r); connectors.KindOf(err) != connectors.KindInvalid {
		t.Fatalf("bad project parameter: %v", err)
	}
}

func TestOpenThatDoesNotReadBackIsForbidden(t *testing.T) {
	srv := scripted.New(t, basicAuth,
		searchStep(`{"issues":[]}`),
		scripted.Step{Method: "POST", Path: "/rest/api/3/issue", Status: 201, Reply: `{"id":"10042","key":"OPS-42"}`},
		scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042", Status: 404, Reply: `{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}`},
	)
	_, err := newConn(t, srv, nil).OpenTicket(ctx(t), req)
	if connectors.KindOf(err) != connectors.KindForbidden || connectors.IsRetryable(err) {
		t.Fatalf("err = %v", err)
	}
}

func commentsStep(texts ...string) scripted.Step {
	var cs []string
	for i, s := range texts {
		cs = append(cs, `{"id":"`+string(rune('1'+i))+`","body":`+adfJSON(s)+`}`)
	}
	return scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042/comment", Query: url.Values{"orderBy": {"-created"}, "maxResults": {"100"}},
		Reply: `{"comments":[` + strings.Join(cs, ",") + `],"total":` + string(rune('0'+len(texts))) + `}`}
}

func TestUpdateCommentsAndMovesThenReadsBack(t *testing.T) {
	note := "Laptop LT-1003 received by IT Ops."
	srv := scripted.New(t, basicAuth,
		readStep("To Do", "new"),
		commentsStep("an earlier note"),
		scripted.Step{Method: "POST", Path: "/rest/api/3/issue/10042/comment", Body: map[string]any{"body": adf([]any{txt(note)})}, Status: 201, Reply: `{"id":"10100","body":` + adfJSON(note) + `}`},
		scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042/comment/10100", Reply: `{"id":"10100","body":` + adfJSON(note) + `}`},
		scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042/transitions", Reply: `{"transitions":[
			{"id":"11","name":"To Do","to":{"name":"To Do","statusCategory":{"key":"new"}}},
			{"id":"21","name":"Start work","to":{"name":"In Progress","statusCategory":{"key":"indeterminate"}}},
			{"id":"31","name":"Done","to":{"name":"Done","statusCategory":{"key":"done"}}}]}`},
		scripted.Step{Method: "POST", Path: "/rest/api/3/issue/10042/transitions", Body: map[string]any{"transition": map[string]any{"id": "21"}}, Status: 204, Header: map[string]string{"Content-Type": ""}},
		readStep("In Progress", "indeterminate"),
	)
	res, err := newConn(t, srv, nil).UpdateTicket(ctx(t), connectors.TicketRef{ID: "10042"}, connectors.TicketUpdate{Note: note, State: connectors.TicketInProgress})
	if err != nil || res.Outcome != connectors.OutcomeDone || res.State != connectors.TicketInProgress {
		t.Fatalf("UpdateTicket = %+v, %v", res, err)
	}
}

func TestUpdateRepeatedAddsNoSecondComment(t *testing.T) {
	note := "Laptop LT-1003 received by IT Ops."
	srv := scripted.New(t, basicAuth, readStep("In Progress", "indeterminate"), commentsStep(note))
	res, err := newConn(t, srv, nil).UpdateTicket(ctx(t), connectors.TicketRef{ID: "10042"}, connectors.TicketUpdate{Note: note, State: connectors.TicketInProgress})
	if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("UpdateTicket = %+v, %v", res, err)
	}
}

func TestUpdateToConfiguredHoldStatus(t *testing.T) {
	srv := scripted.New(t, basicAuth,
		readStep("In Progress", "indeterminate"),
		scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042/transitions", Reply: `{"transitions":[
			{"id":"31","name":"Done","to":{"name":"Done","statusCategory":{"key":"done"}}},
			{"id":"41","name":"Wait for return","to":{"name":"Waiting for device","statusCategory":{"key":"indeterminate"}}}]}`},
		scripted.Step{Method: "POST", Path: "/rest/api/3/issue/10042/transitions", Body: map[string]any{"transition": map[string]any{"id": "41"}}, Status: 204},
		readStep("Waiting for device", "indeterminate"),
	)
	c := newConn(t, srv, func(c *Config) { c.Statuses.OnHold = "waiting for device" })
	res, err := c.UpdateTicket(ctx(t), connectors.TicketRef{ID: "10042"}, connectors.TicketUpdate{State: connectors.TicketOnHold})
	if err != nil || res.State != connectors.TicketOnHold {
		t.Fatalf("UpdateTicket = %+v, %v", res, err)
	}
	if _, err := newConn(t, scripted.New(t, basicAuth), nil).UpdateTicket(ctx(t), connectors.TicketRef{ID: "10042"}, connectors.TicketUpdate{State: connectors.TicketOnHold}); connectors.KindOf(err) != connectors.KindInvalid {
		t.Fatalf("on_hold without statuses.on_hold: %v", err)
	}
}

func TestTransitionKeptByWorkflowIsAnError(t *testing.T) {
	srv := scripted.New(t, basicAuth,
		readStep("To Do", "new"),
		scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042/transitions", Reply: `{"transitions":[{"id":"21","name":"Start","to":{"name":"In Progress","statusCategory":{"key":"indeterminate"}}}]}`},
		scripted.Step{Method: "POST", Path: "/rest/api/3/issue/10042/transitions", Status: 204},
		readStep("To Do", "new"),
	)
	_, err := newConn(t, srv, nil).UpdateTicket(ctx(t), connectors.TicketRef{ID: "10042"}, connectors.TicketUpdate{State: connectors.TicketInProgress})
	if connectors.KindOf(err) != connectors.KindInvalid || !strings.Contains(err.Error(), "kept it") {
		t.Fatalf("err = %v", err)
	}
}

func TestNoTransitionToTheStatusNamesTheAvailableOnes(t *testing.T) {
	srv := scripted.New(t, basicAuth,
		readStep("To Do", "new"),
		scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042/transitions", Reply: `{"transitions":[{"id":"21","name":"Start","to":{"name":"In Progress","statusCategory":{"key":"indeterminate"}}}]}`},
	)
	_, err := newConn(t, srv, nil).CloseTicket(ctx(t), connectors.TicketRef{ID: "10042"}, "")
	if connectors.KindOf(err) != connectors.KindInvalid || !strings.Contains(err.Error(), `"Start"→"In Progress"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestCloseCommentsAndTransitionsToDone(t *testing.T) {
	note := "Laptop disposed, certificate COD-77."
	srv := scripted.New(t, basicAuth,
		readStep("In Progress", "indeterminate"),
		commentsStep(),
		scripted.Step{Method: "POST", Path: "/rest/api/3/issue/10042/comment", Body: map[string]any{"body": adf([]any{txt(note)})}, Status: 201, Reply: `{"id":"10101"}`},
		scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042/comment/10101", Reply: `{"id":"10101","body":` + adfJSON(note) + `}`},
		scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042/transitions", Reply: `{"transitions":[
			{"id":"21","name":"Start","to":{"name":"In Progress","statusCategory":{"key":"indeterminate"}}},
			{"id":"31","name":"Resolve","to":{"name":"Resolved","statusCategory":{"key":"done"}}}]}`},
		scripted.Step{Method: "POST", Path: "/rest/api/3/issue/10042/transitions", Body: map[string]any{"transition": map[string]any{"id": "31"}}, Status: 204},
		readStep("Resolved", "done"),
	)
	res, err := newConn(t, srv, nil).CloseTicket(ctx(t), connectors.TicketRef{ID: "10042"}, note)
	if err != nil || res.Outcome != connectors.OutcomeDone || res.State != connectors.TicketClosed {
		t.Fatalf("CloseTicket = %+v, %v", res, err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	t.Run("done issue is already done", func(t *testing.T) {
		srv := scripted.New(t, basicAuth, readStep("Done", "done"))
		res, err := newConn(t, srv, nil).CloseTicket(ctx(t), connectors.TicketRef{ID: "10042"}, "x")
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("CloseTicket = %+v, %v", res, err)
		}
	})
	t.Run("deleted issue is none found", func(t *testing.T) {
		srv := scripted.New(t, basicAuth, scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042", Status: 404,
			Reply: `{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}`})
		res, err := newConn(t, srv, nil).CloseTicket(ctx(t), connectors.TicketRef{ID: "10042"}, "x")
		if err != nil || res.Outcome != connectors.OutcomeNoneFound {
			t.Fatalf("CloseTicket = %+v, %v", res, err)
		}
	})
}

func TestVendorAnswersAreClassified(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		header    map[string]string
		reply     string
		kind      connectors.Kind
		retryable bool
		retry     time.Duration
		says      string
	}{
		{"401 bad token", 401, map[string]string{"Content-Type": "text/plain"}, `Client must be authenticated to access this resource.`, connectors.KindAuth, false, 0, "not JSON"},
		{"403 no permission", 403, nil, `{"errorMessages":["You do not have permission to create issues in this project."],"errors":{}}`, connectors.KindForbidden, false, 0, "permission to create"},
		{"400 bad JQL", 400, nil, `{"errorMessages":["Field 'labels' does not exist"],"errors":{}}`, connectors.KindInvalid, false, 0, "does not exist"},
		{"404", 404, nil, `{"errorMessages":["not found"]}`, connectors.KindNotFound, false, 0, "not found"},
		{"409", 409, nil, `{"errorMessages":[],"errors":{"summary":"conflict"}}`, connectors.KindInvalid, false, 0, "summary: conflict"},
		{"429 with Retry-After", 429, map[string]string{"Retry-After": "30"}, `{"errorMessages":["Rate limit exceeded."]}`, connectors.KindRateLimited, true, 30 * time.Second, "Rate limit"},
		{"500", 500, nil, `{"errorMessages":["Internal server error"]}`, connectors.KindTransient, true, 0, "Internal server error"},
		{"502 HTML", 502, map[string]string{"Content-Type": "text/html"}, `<html><body>Bad gateway</body></html>`, connectors.KindTransient, true, 0, "not JSON"},
		{"200 HTML", 200, map[string]string{"Content-Type": "text/html"}, `<html>Atlassian log in</html>`, connectors.KindInvalid, false, 0, "text/html"},
		{"200 malformed", 200, nil, `{"issues":[{`, connectors.KindInvalid, false, 0, "malformed"},
		{"200 no issues list", 200, nil, `{"isLast":true}`, connectors.KindInvalid, false, 0, "no issues list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := searchStep(tc.reply)
			st.Status, st.Header = tc.status, tc.header
			srv := scripted.New(t, basicAuth, st)
			_, err := newConn(t, srv, nil).OpenTicket(ctx(t), req)
			var ce *connectors.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if ce.Kind != tc.kind || connectors.IsRetryable(err) != tc.retryable || ce.RetryAfter != tc.retry {
				t.Fatalf("err = %v: kind %s retryable %t retry %s; want %s %t %s", err, ce.Kind, connectors.IsRetryable(err), ce.RetryAfter, tc.kind, tc.retryable, tc.retry)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want it to say %q", err, tc.says)
			}
			if strings.Contains(err.Error(), apiToken) || strings.Contains(err.Error(), "<html") {
				t.Errorf("err quotes a secret or the page: %v", err)
			}
		})
	}
}

func TestCancelledCallStops(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	st := searchStep(`{"issues":[]}`)
	st.Block = block
	srv := scripted.New(t, basicAuth, st)
	c := newConn(t, srv, nil)
	cx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.OpenTicket(cx, req); done <- err }()
	for srv.Done() == 0 {
		select {
		case err := <-done:
			t.Fatalf("returned before cancel: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || connectors.KindOf(err) != connectors.KindCanceled {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call did not stop within 5s of its cancellation")
	}
}

func TestADF(t *testing.T) {
	d := toADF("a\r\nb\n\n\n\nc\n")
	if got := adfText(d); got != "a b c" {
		t.Fatalf("adfText = %q", got)
	}
	if len(d.Content) != 2 {
		t.Fatalf("paragraphs = %d, want 2", len(d.Content))
	}
	if e := toADF("  \n\n"); len(e.Content) != 0 {
		t.Fatalf("blank text gave %+v", e)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{SiteURL: "https://example.atlassian.net", Email: "k@example.com", APIToken: secret.FromValue("t"), Project: "OPS"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		key  string
	}{
		{"no site", func(c *Config) { c.SiteURL = "" }, "site_url is required"},
		{"http site", func(c *Config) { c.SiteURL = "http://example.atlassian.net" }, "site_url"},
		{"site with path", func(c *Config) { c.SiteURL = "https://example.atlassian.net/jira" }, "site_url must be the site alone"},
		{"no email", func(c *Config) { c.Email = "" }, "email is required"},
		{"bad email", func(c *Config) { c.Email = "kinetic" }, "email"},
		{"no token", func(c *Config) { c.APIToken = secret.Secret{} }, "api_token is required"},
		{"no project", func(c *Config) { c.Project = "" }, "project is required"},
		{"bad project", func(c *Config) { c.Project = "ops x" }, "project"},
		{"quote in issue type", func(c *Config) { c.IssueType = `Task"` }, "issue_type"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("Validate = %v, want an error naming %q", err, tc.key)
			}
		})
	}
}

func TestConnectorHoldsNoAccounts(t *testing.T) {
	c := newConn(t, scripted.New(t, basicAuth), nil)
	res, err := c.Lookup(ctx(t), connectors.Subject{Email: "dana@example.com"})
	if err != nil || len(res.Accounts) != 0 {
		t.Fatalf("Lookup = %+v, %v", res, err)
	}
	if _, err := c.Do(ctx(t), connectors.Request{Operation: connectors.OpNotify}); connectors.KindOf(err) != connectors.KindInvalid {
		t.Fatalf("Do = %v, want invalid", err)
	}
}

// TestLostAnswersDoNotRepeatWork: Jira filed the issue (or added the
// comment) but the answer never arrived; the retry finds it.
func TestLostAnswersDoNotRepeatWork(t *testing.T) {
	t.Run("open", func(t *testing.T) {
		srv := scripted.New(t, basicAuth,
			searchStep(`{"issues":[]}`),
			scripted.Step{Method: "POST", Path: "/rest/api/3/issue", Drop: true},
			searchStep(`{"issues":[`+issueJSON("To Do", "new")+`]}`),
		)
		c := newConn(t, srv, nil)
		if _, err := c.OpenTicket(ctx(t), req); !connectors.IsRetryable(err) {
			t.Fatalf("lost answer: err = %v, want retryable", err)
		}
		res, err := c.OpenTicket(ctx(t), req)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone || res.Ref.Key != "OPS-42" {
			t.Fatalf("retry = %+v, %v", res, err)
		}
	})
	t.Run("comment", func(t *testing.T) {
		note := "Laptop LT-1003 wiped."
		srv := scripted.New(t, basicAuth,
			readStep("In Progress", "indeterminate"),
			commentsStep(),
			scripted.Step{Method: "POST", Path: "/rest/api/3/issue/10042/comment", Drop: true},
			readStep("In Progress", "indeterminate"),
			commentsStep(note),
		)
		c := newConn(t, srv, nil)
		u := connectors.TicketUpdate{Note: note}
		if _, err := c.UpdateTicket(ctx(t), connectors.TicketRef{ID: "10042"}, u); !connectors.IsRetryable(err) {
			t.Fatalf("lost answer: err = %v, want retryable", err)
		}
		res, err := c.UpdateTicket(ctx(t), connectors.TicketRef{ID: "10042"}, u)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("retry = %+v, %v", res, err)
		}
	})
}

func TestInProgressFromHoldMovesOut(t *testing.T) {
	// "Waiting for device" is in the In Progress category too: it must not
	// count as in progress when it is the configured on-hold status.
	srv := scripted.New(t, basicAuth,
		readStep("Waiting for device", "indeterminate"),
		scripted.Step{Method: "GET", Path: "/rest/api/3/issue/10042/transitions", Reply: `{"transitions":[
			{"id":"41","name":"Wait","to":{"name":"Waiting for device","statusCategory":{"key":"indeterminate"}}},
			{"id":"21","name":"Resume","to":{"name":"In Progress","statusCategory":{"key":"indeterminate"}}}]}`},
		scripted.Step{Method: "POST", Path: "/rest/api/3/issue/10042/transitions", Body: map[string]any{"transition": map[string]any{"id": "21"}}, Status: 204},
		readStep("In Progress", "indeterminate"),
	)
	c := newConn(t, srv, func(c *Config) { c.Statuses.OnHold = "Waiting for device" })
	res, err := c.UpdateTicket(ctx(t), connectors.TicketRef{ID: "10042"}, connectors.TicketUpdate{State: connectors.TicketInProgress})
	if err != nil || res.Outcome != connectors.OutcomeDone || res.State != connectors.TicketInProgress {
		t.Fatalf("UpdateTicket = %+v, %v", res, err)
	}
}
