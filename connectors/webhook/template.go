package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/kineticsec/kinetic/connectors"
)

// data is what path and body templates see.
type data struct {
	Email, EmployeeID, Username, DisplayName string
	// Attributes are the subject's further HR attributes (e.g. badge_id).
	Attributes map[string]string
	// Account is the target account id: the request's, else the one the
	// lookup found ("" in the lookup's own templates).
	Account string
	// Params are the action's parameters from policy.
	Params map[string]string
	// IdempotencyKey is stable across retries of one action.
	IdempotencyKey string
}

func newData(s connectors.Subject, account string, params map[string]string, key string) data {
	return data{
		Email: s.Email, EmployeeID: s.EmployeeID, Username: s.Username, DisplayName: s.DisplayName,
		Attributes: copyMap(s.Attributes, nil), Account: account, Params: copyMap(params, nil), IdempotencyKey: key,
	}
}

// escaped returns d with every value percent-escaped for a URL path segment
// or query value.
func (d data) escaped() data {
	return data{
		Email: escape(d.Email), EmployeeID: escape(d.EmployeeID), Username: escape(d.Username),
		DisplayName: escape(d.DisplayName), Attributes: copyMap(d.Attributes, escape), Account: escape(d.Account),
		Params: copyMap(d.Params, escape), IdempotencyKey: escape(d.IdempotencyKey),
	}
}

func copyMap(m map[string]string, f func(string) string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if f != nil {
			v = f(v)
		}
		out[k] = v
	}
	return out
}

// sampleData fills every field, for rendering templates once at validation.
var sampleData = data{
	Email: "person@example.com", EmployeeID: "E0000", Username: "person", DisplayName: "Sample Person",
	Attributes: map[string]string{}, Account: "account-id", Params: map[string]string{}, IdempotencyKey: "idempotency-key",
}

// escape percent-encodes every byte but the RFC 3986 unreserved characters,
// so a value is safe both as a path segment and as a query value: "/", "?",
// "&", "#", "+" and "%" cannot change the URL's shape. A value that is "."
// or ".." is escaped too, so it cannot climb the path.
func escape(s string) string {
	if s == "." || s == ".." {
		return strings.Repeat("%2E", len(s))
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// jsonFunc is the body templates' json function: the value as a JSON
// literal ("a \"quoted\" name", null for a missing value).
func jsonFunc(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

var bodyFuncs = template.FuncMap{"json": jsonFunc}

// parsePath parses a path template. Missing map keys (.Params.x) are an
// error at execution; use index .Params "x" for an optional value.
func parsePath(text string) (*template.Template, error) {
	return template.New("path").Option("missingkey=error").Parse(text)
}

// parseBody parses a body template and checks that every value it prints
// goes through json.
func parseBody(text string) (*template.Template, error) {
	t, err := template.New("body").Option("missingkey=error").Funcs(bodyFuncs).Parse(text)
	if err != nil {
		return nil, err
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		if err := checkJSONOutput(tt.Tree, tt.Tree.Root); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// checkJSONOutput reports the first action under n that prints a value not
// passed through json last, which could break out of a JSON string.
func checkJSONOutput(tree *parse.Tree, n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkJSONOutput(tree, c); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		if len(n.Pipe.Decl) > 0 || len(n.Pipe.Cmds) == 0 {
			return nil // an assignment prints nothing
		}
		last := n.Pipe.Cmds[len(n.Pipe.Cmds)-1]
		if id, ok := last.Args[0].(*parse.IdentifierNode); ok && id.Ident == "json" {
			return nil
		}
		loc, _ := tree.ErrorContext(n)
		return fmt.Errorf("%s: %s prints a value without json: every value in a body must go through json, e.g. {{json .Email}}", loc, n)
	case *parse.IfNode:
		return checkBranch(tree, &n.BranchNode)
	case *parse.RangeNode:
		return checkBranch(tree, &n.BranchNode)
	case *parse.WithNode:
		return checkBranch(tree, &n.BranchNode)
	}
	return nil
}

func checkBranch(tree *parse.Tree, b *parse.BranchNode) error {
	if err := checkJSONOutput(tree, b.List); err != nil {
		return err
	}
	if b.ElseList != nil {
		return checkJSONOutput(tree, b.ElseList)
	}
	return nil
}

// requiredFields lists the fields (e.g. [Email] or [Params reason]) that t
// prints unconditionally: outside if, with and range. Such a value must not
// be empty when a request is built, so that a lookup of "/people?email=" can
// never go out for a subject without an email and match everyone.
func requiredFields(t *template.Template) [][]string {
	if t == nil {
		return nil
	}
	var out [][]string
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		for _, n := range tt.Tree.Root.Nodes {
			a, ok := n.(*parse.ActionNode)
			if !ok || len(a.Pipe.Decl) > 0 {
				continue
			}
			for _, cmd := range a.Pipe.Cmds {
				for _, arg := range cmd.Args {
					if f, ok := arg.(*parse.FieldNode); ok {
						out = append(out, f.Ident)
					}
				}
			}
		}
	}
	return out
}

// emptyField returns the first of fields that is empty in d, as written in a
// template (".Email", ".Params.reason"), or "".
func emptyField(d data, fields [][]string) string {
	for _, f := range fields {
		var v string
		switch {
		case len(f) == 1:
			switch f[0] {
			case "Email":
				v = d.Email
			case "EmployeeID":
				v = d.EmployeeID
			case "Username":
				v = d.Username
			case "DisplayName":
				v = d.DisplayName
			case "Account":
				v = d.Account
			case "IdempotencyKey":
				v = d.IdempotencyKey
			default:
				continue
			}
		case len(f) == 2 && f[0] == "Params":
			v = d.Params[f[1]]
		case len(f) == 2 && f[0] == "Attributes":
			v = d.Attributes[f[1]]
		default:
			continue
		}
		if strings.TrimSpace(v) == "" {
			return "." + strings.Join(f, ".")
		}
	}
	return ""
}

// dryRunPath renders t once with sample values (missing params allowed) and
// checks that the result makes a URL below base.
func dryRunPath(base *url.URL, t *template.Template) error {
	if t == nil {
		return nil
	}
	s, err := render(t, sampleData.escaped(), true)
	if err != nil {
		return err
	}
	_, err = joinURL(base, s)
	return err
}

// dryRunBody renders t once with sample values and checks that the result
// is JSON.
func dryRunBody(t *template.Template) error {
	if t == nil {
		return nil
	}
	s, err := render(t, sampleData, true)
	if err != nil {
		return err
	}
	if err := checkJSON(s); err != nil {
		return fmt.Errorf("with sample values the body is not valid JSON: %w", err)
	}
	return nil
}

// render executes t. lenient lets a missing map key render as "" (for the
// dry run, which cannot know the actions' params).
func render(t *template.Template, d data, lenient bool) (string, error) {
	if lenient {
		c, err := t.Clone()
		if err != nil {
			return "", err
		}
		t = c.Option("missingkey=zero")
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		if strings.Contains(err.Error(), "can't evaluate field") {
			return "", fmt.Errorf("%w (fields: %s)", err, dataFields)
		}
		return "", err
	}
	return b.String(), nil
}

// dataFields lists the fields templates may use, for messages.
const dataFields = ".Email .EmployeeID .Username .DisplayName .Attributes .Account .Params .IdempotencyKey"

// checkJSON reports why s is not one JSON value; blank is fine (no body).
func checkJSON(s string) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return errors.New("more than one JSON value")
	}
	return nil
}

// joinURL appends a rendered path (with an optional "?query") to base and
// checks that the result stays on base's scheme and host.
func joinURL(base *url.URL, rendered string) (*url.URL, error) {
	p, q, hasQuery := strings.Cut(strings.TrimSpace(rendered), "?")
	if strings.ContainsAny(p, "#") || strings.Contains(q, "#") {
		return nil, errors.New("the rendered path holds a '#': fragments are not sent")
	}
	raw := base.Scheme + "://" + base.Host + base.EscapedPath()
	if p = strings.TrimLeft(p, "/"); p != "" {
		raw += "/" + p
	}
	if hasQuery {
		raw += "?" + q
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("the rendered path does not make a valid URL")
	}
	if u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil {
		return nil, errors.New("the rendered path leaves the base URL's host")
	}
	return u, nil
}
