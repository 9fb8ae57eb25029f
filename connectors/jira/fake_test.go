package jira

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/internal/secret"
)

// fakeJira is a small stateful Jira Cloud site: issues with labels, ADF
// comments, a To Do → In Progress → Done workflow, label search, HTTP basic
// and injected failures.
type fakeJira struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	issues map[string]*fakeIssue // by id
	seq    int
	fail   []int
}

type fakeIssue struct {
	ID, Key, Status string
	Labels          []string
	Comments        []json.RawMessage // ADF bodies
}

var workflow = map[string]string{"To Do": "new", "In Progress": "indeterminate", "Done": "done"}

func newFakeJira(t *testing.T) *fakeJira {
	f := &fakeJira{t: t, issues: map[string]*fakeIssue{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeJira) answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

func (is *fakeIssue) json() map[string]any {
	return map[string]any{"id": is.ID, "key": is.Key, "fields": map[string]any{
		"labels": is.Labels, "summary": "s",
		"status": map[string]any{"name": is.Status, "statusCategory": map[string]string{"key": workflow[is.Status]}}}}
}

var (
	labelJQL  = regexp.MustCompile(`^labels = "([^"]+)" ORDER BY created ASC$`)
	issueRest = regexp.MustCompile(`^/rest/api/3/issue/([0-9]+)(/comment|/comment/([0-9]+)|/transitions)?$`)
)

func (f *fakeJira) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fail) > 0 {
		st := f.fail[0]
		f.fail = f.fail[1:]
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "3")
		}
		f.answer(w, st, map[string]any{"errorMessages": []string{"injected"}})
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != "kinetic@example.com" || p != apiToken {
		f.answer(w, 401, map[string]any{"errorMessages": []string{"Client must be authenticated"}})
		return
	}
	body, _ := io.ReadAll(r.Body)
	if r.Method == "GET" && r.URL.Path == "/rest/api/3/search/jql" {
		m := labelJQL.FindStringSubmatch(r.URL.Query().Get("jql"))
		if m == nil {
			f.answer(w, 400, map[string]any{"errorMessages": []string{"bad JQL"}})
			return
		}
		out := []any{}
		for i := 1; i <= f.seq; i++ {
			if is, ok := f.issues[fmt.Sprint(10000+i)]; ok && strings.Contains(strings.Join(is.Labels, " "), m[1]) {
				out = append(out, is.json())
			}
		}
		f.answer(w, 200, map[string]any{"issues": out, "isLast": true})
		return
	}
	if r.Method == "POST" && r.URL.Path == "/rest/api/3/issue" {
		var b struct {
			Fields struct {
				Labels []string `json:"labels"`
			} `json:"fields"`
		}
		json.Unmarshal(body, &b)
		f.seq++
		is := &fakeIssue{ID: fmt.Sprint(10000 + f.seq), Key: fmt.Sprintf("OPS-%d", f.seq), Status: "To Do", Labels: b.Fields.Labels}
		f.issues[is.ID] = is
		f.answer(w, 201, map[string]string{"id": is.ID, "key": is.Key})
		return
	}
	m := issueRest.FindStringSubmatch(r.URL.Path)
	if m == nil {
		f.t.Errorf("fake Jira: unexpected %s %s", r.Method, r.URL)
		f.answer(w, 404, nil)
		return
	}
	is, ok := f.issues[m[1]]
	if !ok {
		f.answer(w, 404, map[string]any{"errorMessages": []string{"Issue does not exist or you do not have permission to see it."}})
		return
	}
	switch {
	case m[2] == "" && r.Method == "GET":
		f.answer(w, 200, is.json())
	case m[2] == "/comment" && r.Method == "GET":
		var cs []map[string]any
		for i := len(is.Comments) - 1; i >= 0; i-- {
			cs = append(cs, map[string]any{"id": fmt.Sprint(i + 1), "body": is.Comments[i]})
		}
		f.answer(w, 200, map[string]any{"comments": cs, "total": len(cs)})
	case m[2] == "/comment" && r.Method == "POST":
		var b struct {
			Body json.RawMessage `json:"body"`
		}
		json.Unmarshal(body, &b)
		is.Comments = append(is.Comments, b.Body)
		f.answer(w, 201, map[string]any{"id": fmt.Sprint(len(is.Comments)), "body": b.Body})
	case m[3] != "" && r.Method == "GET":
		var n int
		fmt.Sscan(m[3], &n)
		if n < 1 || n > len(is.Comments) {
			f.answer(w, 404, nil)
			return
		}
		f.answer(w, 200, map[string]any{"id": m[3], "body": is.Comments[n-1]})
	case m[2] == "/transitions" && r.Method == "GET":
		var ts []map[string]any
		for i, st := range []string{"To Do", "In Progress", "Done"} {
			if st != is.Status {
				ts = append(ts, map[string]any{"id": fmt.Sprint(11 + 10*i), "name": "to " + st, "to": map[string]any{"name": st, "statusCategory": map[string]string{"key": workflow[st]}}})
			}
		}
		f.answer(w, 200, map[string]any{"transitions": ts})
	case m[2] == "/transitions" && r.Method == "POST":
		var b struct {
			Transition struct{ ID string } `json:"transition"`
		}
		json.Unmarshal(body, &b)
		to := map[string]string{"11": "To Do", "21": "In Progress", "31": "Done"}[b.Transition.ID]
		if to == "" || to == is.Status {
			f.answer(w, 400, map[string]any{"errorMessages": []string{"transition not valid"}})
			return
		}
		is.Status = to
		w.WriteHeader(204)
	default:
		f.t.Errorf("fake Jira: unexpected %s %s", r.Method, r.URL)
		f.answer(w, 405, nil)
	}
}

func TestTicketerConformance(t *testing.T) {
	fakes := map[connectors.Ticketer]*fakeJira{}
	conformance.RunTicketer(t, conformance.TicketHarness{
		New: func(t *testing.T) connectors.Ticketer {
			f := newFakeJira(t)
			c, err := New("jira", Config{SiteURL: f.srv.URL, Email: "kinetic@example.com", APIToken: secret.FromValue(apiToken), Project: "OPS"}, testPolicy)
			if err != nil {
				t.Fatal(err)
			}
			fakes[c] = f
			return c
		},
		Delete: func(t *testing.T, c connectors.Ticketer, ref connectors.TicketRef) {
			f := fakes[c]
			f.mu.Lock()
			delete(f.issues, ref.ID)
			f.mu.Unlock()
		},
		InjectFailure: func(t *testing.T, c connectors.Ticketer, kind connectors.Kind) {
			f := fakes[c]
			st := map[connectors.Kind]int{connectors.KindTransient: 503, connectors.KindRateLimited: 429, connectors.KindAuth: 401, connectors.KindForbidden: 403, connectors.KindInvalid: 400}[kind]
			f.mu.Lock()
			f.fail = append(f.fail, st)
			f.mu.Unlock()
		},
		Secrets: []string{apiToken},
	})
}
