// Package jiratest is a small stateful Jira Cloud site for tests: the jira
// connector's own tests and the engine's tests of the tickets it files for
// equipment tasks and manual steps.
package jiratest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Fake is a small stateful Jira Cloud site on httptest: issues with
// labels, ADF comments, a To Do → In Progress → Done workflow, label
// search and HTTP basic (the email and API token it was made with).
// Statuses queued with Fail answer the next requests instead (429 with a
// Retry-After of 3 s); a request it does not serve fails the test.
type Fake struct {
	t testing.TB
	// Server is the site: its URL is the connector's site_url.
	Server       *httptest.Server
	email, token string

	mu     sync.Mutex
	issues map[string]*issue // by id
	seq    int
	fail   []int
	log    []string
}

type issue struct {
	ID, Key, Status string
	Labels          []string
	Comments        []json.RawMessage // ADF bodies
}

var workflow = map[string]string{"To Do": "new", "In Progress": "indeterminate", "Done": "done"}

// New starts a fake accepting HTTP basic email:token; it stops when the
// test ends. Issues are created in project OPS (OPS-1, OPS-2…).
func New(t testing.TB, email, token string) *Fake {
	f := &Fake{t: t, email: email, token: token, issues: map[string]*issue{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Server.Close)
	return f
}

// Fail makes the next requests answer these statuses, one each, in order.
func (f *Fake) Fail(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = append(f.fail, statuses...)
}

// Delete removes an issue, as an administrator deleting it would.
func (f *Fake) Delete(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.issues, id)
}

// Issue is what the fake holds of one issue.
type Issue struct {
	ID, Key, Status string
	Labels          []string
	// Comments are the comments' ADF bodies, oldest first.
	Comments []json.RawMessage
}

// Issue returns a copy of issue id, and whether it exists.
func (f *Fake) Issue(id string) (Issue, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	is, ok := f.issues[id]
	if !ok {
		return Issue{}, false
	}
	return Issue{ID: is.ID, Key: is.Key, Status: is.Status, Labels: slices.Clone(is.Labels), Comments: slices.Clone(is.Comments)}, true
}

// Requests returns "METHOD path" of every request served so far (failed
// ones included), in order.
func (f *Fake) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *Fake) answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

func (is *issue) json() map[string]any {
	return map[string]any{"id": is.ID, "key": is.Key, "fields": map[string]any{
		"labels": is.Labels, "summary": "s",
		"status": map[string]any{"name": is.Status, "statusCategory": map[string]string{"key": workflow[is.Status]}}}}
}

var (
	labelJQL  = regexp.MustCompile(`^labels = "([^"]+)" ORDER BY created ASC$`)
	issueRest = regexp.MustCompile(`^/rest/api/3/issue/([0-9]+)(/comment|/comment/([0-9]+)|/transitions)?$`)
)

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, r.Method+" "+r.URL.Path)
	if len(f.fail) > 0 {
		st := f.fail[0]
		f.fail = f.fail[1:]
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "3")
		}
		f.answer(w, st, map[string]any{"errorMessages": []string{"injected"}})
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != f.email || p != f.token {
		f.answer(w, 401, map[string]any{"errorMessages": []string{"Client must be authenticated"}})
		return
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) > 0 && (!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || !json.Valid(body)) {
		f.t.Errorf("fake Jira: %s %s: body %q is not JSON (Content-Type %q)", r.Method, r.URL.Path, body, r.Header.Get("Content-Type"))
	}
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
		is := &issue{ID: fmt.Sprint(10000 + f.seq), Key: fmt.Sprintf("OPS-%d", f.seq), Status: "To Do", Labels: b.Fields.Labels}
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
