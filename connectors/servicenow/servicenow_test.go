package servicenow

import (
	"context"
	"encoding/base64"
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

const password = "sn-Pa55w0rd-S3CR3T"

var basicAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte("kinetic.integration:"+password))

var req = connectors.TicketRequest{
	CaseID: "case-42", TaskID: "equipment-7",
	Summary:     "Recover laptop LT-1003 from Dana Scully",
	Description: "Dana Scully leaves on 2026-12-11.\n\nRecover laptop LT-1003.",
	Params:      map[string]string{"assignment_group": "d625dccec0a8016700a222a0f7900d06"},
}

var corr = connectors.TicketCorrelation("case-42", "equipment-7")

func newConn(t *testing.T, srv *scripted.Server, mod func(*Config)) *Connector {
	t.Helper()
	cfg := Config{InstanceURL: srv.URL, Username: "kinetic.integration", Password: secret.FromValue(password)}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New("snow", cfg, testPolicy)
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

const tablePath = "/api/now/table/incident"
const sysID = "9d385017c611228701d22104cc95c371"

func searchStep(reply string) scripted.Step {
	return scripted.Step{
		Method: "GET", Path: tablePath,
		Query: url.Values{
			"sysparm_query":                  {"correlation_id=" + corr + "^ORDERBYsys_created_on"},
			"sysparm_fields":                 {"sys_id,number,state,active,correlation_id"},
			"sysparm_limit":                  {"2"},
			"sysparm_exclude_reference_link": {"true"},
		},
		Reply: reply,
	}
}

func readStep(reply string) scripted.Step {
	return scripted.Step{
		Method: "GET", Path: tablePath + "/" + sysID,
		Query: url.Values{
			"sysparm_fields":                 {"sys_id,number,state,active,correlation_id,work_notes"},
			"sysparm_display_value":          {"all"},
			"sysparm_exclude_reference_link": {"true"},
		},
		Reply: reply,
	}
}

var writeQuery = url.Values{"sysparm_fields": {"sys_id,number,state,active,correlation_id"}, "sysparm_exclude_reference_link": {"true"}}

// rec renders a record as sysparm_display_value=all answers it.
func rec(state, stateName, active, notes string) string {
	return `{"result":{"sys_id":{"value":"` + sysID + `","display_value":"` + sysID + `"},` +
		`"number":{"value":"INC0010012","display_value":"INC0010012"},` +
		`"state":{"value":"` + state + `","display_value":"` + stateName + `"},` +
		`"active":{"value":"` + active + `","display_value":"` + active + `"},` +
		`"correlation_id":{"value":"` + corr + `","display_value":"` + corr + `"},` +
		`"work_notes":{"value":"","display_value":` + quote(notes) + `}}}`
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func TestOpenFilesOnceAndReadsBack(t *testing.T) {
	srv := scripted.New(t, basicAuth,
		searchStep(`{"result":[]}`),
		scripted.Step{Method: "POST", Path: tablePath, Query: writeQuery,
			Body: map[string]any{
				"short_description":   "Recover laptop LT-1003 from Dana Scully",
				"description":         "Dana Scully leaves on 2026-12-11.\n\nRecover laptop LT-1003.",
				"correlation_id":      corr,
				"correlation_display": "Kinetic",
				"assignment_group":    "d625dccec0a8016700a222a0f7900d06",
			},
			Status: http.StatusCreated,
			Reply:  `{"result":{"sys_id":"` + sysID + `","number":"INC0010012","state":"1","active":"true","correlation_id":"` + corr + `"}}`},
		readStep(rec("1", "New", "true", "")),
	)
	c := newConn(t, srv, nil)
	res, err := c.OpenTicket(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != connectors.OutcomeDone || res.State != connectors.TicketOpen {
		t.Fatalf("result = %+v", res)
	}
	want := connectors.TicketRef{ID: sysID, Key: "INC0010012", URL: srv.URL + "/incident.do?sys_id=" + sysID}
	if res.Ref != want {
		t.Fatalf("ref = %+v, want %+v", res.Ref, want)
	}
	if srv.Done() != 3 {
		t.Fatalf("%d requests, want 3", srv.Done())
	}
}

func TestOpenRetryAfterLostAnswerFindsTheFirstTicket(t *testing.T) {
	srv := scripted.New(t, basicAuth,
		searchStep(`{"result":[{"sys_id":"`+sysID+`","number":"INC0010012","state":"2","active":"true","correlation_id":"`+corr+`"}]}`),
	)
	res, err := newConn(t, srv, nil).OpenTicket(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != connectors.OutcomeAlreadyDone || res.Ref.Key != "INC0010012" || res.State != connectors.TicketInProgress {
		t.Fatalf("result = %+v", res)
	}
}

func TestOpenWithTwoTicketsUsesTheOldest(t *testing.T) {
	srv := scripted.New(t, basicAuth,
		searchStep(`{"result":[{"sys_id":"`+sysID+`","number":"INC0010012","state":"1","active":"true"},{"sys_id":"other","number":"INC0010013","state":"1","active":"true"}]}`),
	)
	res, err := newConn(t, srv, nil).OpenTicket(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ref.Key != "INC0010012" || !strings.Contains(res.Detail, "oldest") {
		t.Fatalf("result = %+v", res)
	}
}

func TestOpenThatDoesNotReadBackIsForbidden(t *testing.T) {
	// The integration user may create but not read: the next search
	// would not find the ticket, so this must not pass as success.
	srv := scripted.New(t, basicAuth,
		searchStep(`{"result":[]}`),
		scripted.Step{Method: "POST", Path: tablePath, Status: 201, Reply: `{"result":{"sys_id":"` + sysID + `","number":"INC0010012"}}`},
		scripted.Step{Method: "GET", Path: tablePath + "/" + sysID, Status: 404, Reply: `{"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"}`},
	)
	_, err := newConn(t, srv, nil).OpenTicket(ctx(t), req)
	if connectors.KindOf(err) != connectors.KindForbidden || connectors.IsRetryable(err) {
		t.Fatalf("err = %v, want a permanent forbidden error", err)
	}
}

func TestOpenRefusesAnIncompleteRequest(t *testing.T) {
	srv := scripted.New(t, basicAuth)
	c := newConn(t, srv, nil)
	for _, r := range []connectors.TicketRequest{{TaskID: "t", Summary: "s"}, {CaseID: "c", Summary: "s"}, {CaseID: "c", TaskID: "t"}} {
		if _, err := c.OpenTicket(ctx(t), r); connectors.KindOf(err) != connectors.KindInvalid {
			t.Errorf("OpenTicket(%+v) = %v, want invalid", r, err)
		}
	}
}

func TestUpdateAddsNoteAndStateThenReadsBack(t *testing.T) {
	note := "Laptop LT-1003 received by IT Ops (Walter Skinner)."
	srv := scripted.New(t, basicAuth,
		readStep(rec("1", "New", "true", "")),
		scripted.Step{Method: "PATCH", Path: tablePath + "/" + sysID, Query: writeQuery,
			Body:  map[string]any{"work_notes": note, "state": "2"},
			Reply: `{"result":{"sys_id":"` + sysID + `","number":"INC0010012","state":"2","active":"true"}}`},
		readStep(rec("2", "In Progress", "true", "2026-12-07 19:00:00 - Kinetic Integration (Work notes)\n"+note+"\n\n")),
	)
	res, err := newConn(t, srv, nil).UpdateTicket(ctx(t), connectors.TicketRef{ID: sysID}, connectors.TicketUpdate{Note: note, State: connectors.TicketInProgress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != connectors.OutcomeDone || res.State != connectors.TicketInProgress || !strings.Contains(res.Detail, "In Progress") {
		t.Fatalf("result = %+v", res)
	}
}

func TestUpdateRepeatedIsAlreadyDone(t *testing.T) {
	note := "Laptop LT-1003 received."
	srv := scripted.New(t, basicAuth,
		readStep(rec("2", "In Progress", "true", "2026-12-07 19:00:00 - Kinetic Integration (Work notes)\n"+note+"\n\n")),
	)
	res, err := newConn(t, srv, nil).UpdateTicket(ctx(t), connectors.TicketRef{ID: sysID}, connectors.TicketUpdate{Note: note, State: connectors.TicketInProgress})
	if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("UpdateTicket = %+v, %v; want already done with one request", res, err)
	}
}

func TestUpdateRefusedByBusinessRuleIsAnError(t *testing.T) {
	srv := scripted.New(t, basicAuth,
		readStep(rec("1", "New", "true", "")),
		scripted.Step{Method: "PATCH", Path: tablePath + "/" + sysID, Body: map[string]any{"state": "2"}, Reply: `{"result":{"sys_id":"` + sysID + `","state":"1"}}`},
		readStep(rec("1", "New", "true", "")),
	)
	_, err := newConn(t, srv, nil).UpdateTicket(ctx(t), connectors.TicketRef{ID: sysID}, connectors.TicketUpdate{State: connectors.TicketInProgress})
	if connectors.KindOf(err) != connectors.KindInvalid || !strings.Contains(err.Error(), "kept its state") {
		t.Fatalf("err = %v", err)
	}
}

func TestUpdateOfAClosedTicketOnlyAddsTheNote(t *testing.T) {
	srv := scripted.New(t, basicAuth,
		readStep(rec("6", "Resolved", "true", "")),
		scripted.Step{Method: "PATCH", Path: tablePath + "/" + sysID, Body: map[string]any{"work_notes": "late note"}, Reply: `{"result":{"sys_id":"` + sysID + `"}}`},
		readStep(rec("6", "Resolved", "true", "x (Work notes)\nlate note\n")),
	)
	res, err := newConn(t, srv, nil).UpdateTicket(ctx(t), connectors.TicketRef{ID: sysID}, connectors.TicketUpdate{Note: "late note", State: connectors.TicketInProgress})
	if err != nil || res.State != connectors.TicketClosed {
		t.Fatalf("UpdateTicket = %+v, %v", res, err)
	}
}

func TestUpdateStateWithoutMappingIsInvalid(t *testing.T) {
	srv := scripted.New(t, basicAuth)
	_, err := newConn(t, srv, nil).UpdateTicket(ctx(t), connectors.TicketRef{ID: sysID}, connectors.TicketUpdate{State: connectors.TicketOnHold})
	if connectors.KindOf(err) != connectors.KindInvalid || !strings.Contains(err.Error(), "states.on_hold") {
		t.Fatalf("err = %v", err)
	}
}

func TestCloseResolvesWithCloseCodeAndReadsBack(t *testing.T) {
	srv := scripted.New(t, basicAuth,
		readStep(rec("2", "In Progress", "true", "")),
		scripted.Step{Method: "PATCH", Path: tablePath + "/" + sysID, Query: writeQuery,
			Body:  map[string]any{"state": "6", "close_code": "Solution provided", "close_notes": "Laptop disposed, certificate COD-77."},
			Reply: `{"result":{"sys_id":"` + sysID + `","state":"6"}}`},
		readStep(rec("6", "Resolved", "true", "")),
	)
	res, err := newConn(t, srv, nil).CloseTicket(ctx(t), connectors.TicketRef{ID: sysID}, "Laptop disposed, certificate COD-77.")
	if err != nil || res.Outcome != connectors.OutcomeDone || res.State != connectors.TicketClosed {
		t.Fatalf("CloseTicket = %+v, %v", res, err)
	}
}

func TestCloseScTaskUsesItsClosedStateAndNoCloseCode(t *testing.T) {
	path := "/api/now/table/sc_task/" + sysID
	srv := scripted.New(t, basicAuth,
		scripted.Step{Method: "GET", Path: path, Reply: `{"result":{"sys_id":"` + sysID + `","number":"SCTASK0010001","state":"2","active":"true"}}`},
		scripted.Step{Method: "PATCH", Path: path, Body: map[string]any{"state": "3", "close_notes": "Closed by Kinetic: the task is complete."}, Reply: `{"result":{}}`},
		scripted.Step{Method: "GET", Path: path, Reply: `{"result":{"sys_id":"` + sysID + `","number":"SCTASK0010001","state":"3","active":"false"}}`},
	)
	res, err := newConn(t, srv, func(c *Config) { c.Table = "sc_task" }).CloseTicket(ctx(t), connectors.TicketRef{ID: sysID}, "")
	if err != nil || res.Outcome != connectors.OutcomeDone || !strings.HasSuffix(res.Ref.URL, "/sc_task.do?sys_id="+sysID) {
		t.Fatalf("CloseTicket = %+v, %v", res, err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	t.Run("closed ticket is already done", func(t *testing.T) {
		srv := scripted.New(t, basicAuth, readStep(rec("7", "Closed", "false", "")))
		res, err := newConn(t, srv, nil).CloseTicket(ctx(t), connectors.TicketRef{ID: sysID}, "done")
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("CloseTicket = %+v, %v", res, err)
		}
	})
	t.Run("deleted ticket is none found", func(t *testing.T) {
		srv := scripted.New(t, basicAuth, scripted.Step{Method: "GET", Path: tablePath + "/" + sysID, Status: 404,
			Reply: `{"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"}`})
		res, err := newConn(t, srv, nil).CloseTicket(ctx(t), connectors.TicketRef{ID: sysID}, "done")
		if err != nil || res.Outcome != connectors.OutcomeNoneFound {
			t.Fatalf("CloseTicket = %+v, %v", res, err)
		}
	})
	t.Run("refused close is an error", func(t *testing.T) {
		srv := scripted.New(t, basicAuth,
			readStep(rec("2", "In Progress", "true", "")),
			scripted.Step{Method: "PATCH", Path: tablePath + "/" + sysID, Reply: `{"result":{}}`},
			readStep(rec("2", "In Progress", "true", "")),
		)
		_, err := newConn(t, srv, nil).CloseTicket(ctx(t), connectors.TicketRef{ID: sysID}, "done")
		if connectors.KindOf(err) != connectors.KindInvalid {
			t.Fatalf("err = %v", err)
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
		{"401 bad credentials", 401, nil, `{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}`, connectors.KindAuth, false, 0, "User Not Authenticated"},
		{"403 ACL", 403, nil, `{"error":{"message":"Operation Failed","detail":"ACL Exception Insert Failed due to security constraints"},"status":"failure"}`, connectors.KindForbidden, false, 0, "security constraints"},
		{"404 table", 404, nil, `{"error":{"message":"Invalid table incidnt","detail":null},"status":"failure"}`, connectors.KindNotFound, false, 0, "Invalid table"},
		{"409 conflict", 409, nil, `{"error":{"message":"Conflict"},"status":"failure"}`, connectors.KindInvalid, false, 0, "Conflict"},
		{"429 with Retry-After", 429, map[string]string{"Retry-After": "17"}, `{"error":{"message":"Rate limit exceeded"}}`, connectors.KindRateLimited, true, 17 * time.Second, "Rate limit"},
		{"500", 500, nil, `{"error":{"message":"Internal error"}}`, connectors.KindTransient, true, 0, "Internal error"},
		{"503 hibernating instance (HTML)", 503, map[string]string{"Content-Type": "text/html"}, `<html><body>Instance Hibernating page</body></html>`, connectors.KindTransient, true, 0, "not JSON"},
		{"200 HTML login page", 200, map[string]string{"Content-Type": "text/html; charset=utf-8"}, `<html>Log in</html>`, connectors.KindInvalid, false, 0, "text/html"},
		{"200 malformed JSON", 200, nil, `{"result":[`, connectors.KindInvalid, false, 0, "malformed"},
		{"200 without result", 200, nil, `{}`, connectors.KindInvalid, false, 0, "no result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := searchStep(tc.reply)
			st.Status, st.Header = tc.status, tc.header
			srv := scripted.New(t, basicAuth, st)
			_, err := newConn(t, srv, nil).OpenTicket(ctx(t), req)
			var ce *connectors.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want *connectors.Error", err, err)
			}
			if ce.Kind != tc.kind || connectors.IsRetryable(err) != tc.retryable || ce.RetryAfter != tc.retry {
				t.Fatalf("err = %v: kind %s retryable %t retry after %s; want %s %t %s", err, ce.Kind, connectors.IsRetryable(err), ce.RetryAfter, tc.kind, tc.retryable, tc.retry)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want it to say %q", err, tc.says)
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "<html") {
				t.Errorf("err quotes a secret or the HTML page: %v", err)
			}
		})
	}
}

func TestOAuthClientCredentials(t *testing.T) {
	const clientSecret = "oauth-client-S3CR3T"
	tokenStep := func(token string) scripted.Step {
		return scripted.Step{Method: "POST", Path: "/oauth_token.do",
			Check: func(t testing.TB, r *http.Request, body []byte) {
				form, err := url.ParseQuery(string(body))
				if err != nil || form.Get("grant_type") != "client_credentials" || form.Get("client_id") != "kinetic-client" || form.Get("client_secret") != clientSecret {
					t.Errorf("token request form = %q", body)
				}
			},
			Reply: `{"access_token":"` + token + `","token_type":"Bearer","expires_in":1799}`}
	}
	bearer := func(tok string) func(testing.TB, *http.Request, []byte) {
		return func(t testing.TB, r *http.Request, _ []byte) {
			if got := r.Header.Get("Authorization"); got != "Bearer "+tok {
				t.Errorf("Authorization = %q, want Bearer %s", got, tok)
			}
		}
	}
	s1, s2 := searchStep(`{"error":{"message":"User Not Authenticated"}}`), searchStep(`{"result":[{"sys_id":"`+sysID+`","number":"INC0010012","state":"1","active":"true"}]}`)
	s1.Status, s1.Check = 401, bearer("tok-1")
	s2.Check = bearer("tok-2")
	srv := scripted.New(t, "", tokenStep("tok-1"), s1, tokenStep("tok-2"), s2)
	c := newConn(t, srv, func(c *Config) {
		c.Username, c.Password = "", secret.Secret{}
		c.OAuth = &OAuth{ClientID: "kinetic-client", ClientSecret: secret.FromValue(clientSecret)}
	})
	res, err := c.OpenTicket(ctx(t), req)
	if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("OpenTicket = %+v, %v (a 401 must fetch a new token once)", res, err)
	}

	t.Run("refused client is auth and quotes no secret", func(t *testing.T) {
		srv := scripted.New(t, "", scripted.Step{Method: "POST", Path: "/oauth_token.do", Status: 401,
			Reply: `{"error_description":"access_denied ` + clientSecret + `","error":"server_error"}`})
		c := newConn(t, srv, func(c *Config) {
			c.Username, c.Password = "", secret.Secret{}
			c.OAuth = &OAuth{ClientID: "kinetic-client", ClientSecret: secret.FromValue(clientSecret)}
		})
		_, err := c.OpenTicket(ctx(t), req)
		if connectors.KindOf(err) != connectors.KindAuth || strings.Contains(err.Error(), clientSecret) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestCancelledCallStops(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	st := searchStep(`{"result":[]}`)
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
		if !errors.Is(err, context.Canceled) || connectors.KindOf(err) != connectors.KindCanceled || !connectors.IsRetryable(err) {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call did not stop within 5s of its cancellation")
	}
}

func TestConnectorHoldsNoAccounts(t *testing.T) {
	srv := scripted.New(t, basicAuth)
	c := newConn(t, srv, nil)
	res, err := c.Lookup(ctx(t), connectors.Subject{Email: "dana@example.com"})
	if err != nil || len(res.Accounts) != 0 {
		t.Fatalf("Lookup = %+v, %v", res, err)
	}
	_, err = c.Do(ctx(t), connectors.Request{Operation: connectors.OpDisableAccount})
	if connectors.KindOf(err) != connectors.KindInvalid {
		t.Fatalf("Do = %v, want invalid", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{InstanceURL: "https://example.service-now.com", Username: "u", Password: secret.FromValue("p")}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		key  string
	}{
		{"no instance", func(c *Config) { c.InstanceURL = "" }, "instance_url is required"},
		{"http instance", func(c *Config) { c.InstanceURL = "http://example.service-now.com" }, "instance_url"},
		{"instance with path", func(c *Config) { c.InstanceURL = "https://example.service-now.com/now/nav" }, "instance_url must be the instance alone"},
		{"no credentials", func(c *Config) { c.Username, c.Password = "", secret.Secret{} }, "one of username/password or oauth"},
		{"both credentials", func(c *Config) { c.OAuth = &OAuth{ClientID: "x", ClientSecret: secret.FromValue("y")} }, "set only one"},
		{"password without user", func(c *Config) { c.Username = "" }, "username is required"},
		{"oauth without secret", func(c *Config) { c.Username, c.Password = "", secret.Secret{}; c.OAuth = &OAuth{ClientID: "x"} }, "oauth.client_secret is required"},
		{"bad table", func(c *Config) { c.Table = "Incident; drop" }, "table"},
		{"other table without closed state", func(c *Config) { c.Table = "u_offboarding_task" }, "states.closed is required"},
		{"bad state", func(c *Config) { c.States.Closed = "Resolved" }, "states.closed"},
		{"query in assignment group", func(c *Config) { c.AssignmentGroup = "x^ORactive=false" }, "assignment_group"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("Validate = %v, want an error naming %q", err, tc.key)
			}
		})
	}
}

// TestLostAnswersDoNotRepeatWork: the instance carried out the POST (or
// the PATCH) but its answer never arrived; the retry must find the work
// done instead of filing a second ticket or adding the note twice.
func TestLostAnswersDoNotRepeatWork(t *testing.T) {
	t.Run("open", func(t *testing.T) {
		srv := scripted.New(t, basicAuth,
			searchStep(`{"result":[]}`),
			scripted.Step{Method: "POST", Path: tablePath, Drop: true},
			searchStep(`{"result":[{"sys_id":"`+sysID+`","number":"INC0010012","state":"1","active":"true","correlation_id":"`+corr+`"}]}`),
		)
		c := newConn(t, srv, nil)
		_, err := c.OpenTicket(ctx(t), req)
		if !connectors.IsRetryable(err) || connectors.KindOf(err) != connectors.KindTransient {
			t.Fatalf("lost answer: err = %v, want a retryable transient error", err)
		}
		res, err := c.OpenTicket(ctx(t), req)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone || res.Ref.ID != sysID {
			t.Fatalf("retry = %+v, %v; want the first ticket, already done", res, err)
		}
	})
	t.Run("update", func(t *testing.T) {
		note := "Laptop LT-1003 wiped."
		srv := scripted.New(t, basicAuth,
			readStep(rec("2", "In Progress", "true", "")),
			scripted.Step{Method: "PATCH", Path: tablePath + "/" + sysID, Body: map[string]any{"work_notes": note}, Drop: true},
			readStep(rec("2", "In Progress", "true", "2026-12-07 19:00:00 - Kinetic Integration (Work notes)\n"+note+"\n\n")),
		)
		c := newConn(t, srv, nil)
		u := connectors.TicketUpdate{Note: note, State: connectors.TicketInProgress}
		if _, err := c.UpdateTicket(ctx(t), connectors.TicketRef{ID: sysID}, u); !connectors.IsRetryable(err) {
			t.Fatalf("lost answer: err = %v, want retryable", err)
		}
		res, err := c.UpdateTicket(ctx(t), connectors.TicketRef{ID: sysID}, u)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("retry = %+v, %v; want already done without a second note", res, err)
		}
	})
}
