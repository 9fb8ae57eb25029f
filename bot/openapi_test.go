package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// docs/openapi.yaml is the API's contract. These tests load it, validate
// it, check it against the handler's routes and the Go types the handlers
// write and read, then drive the real handler (a real Kinetic from
// testkit) through every route, validating every request and answer
// (status, headers, body) against the document with kin-openapi.

const openAPIFile = "../docs/openapi.yaml"

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(openAPIFile)
	if err != nil {
		t.Fatalf("loading %s: %v", openAPIFile, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", openAPIFile, err)
	}
	return doc
}

// muxRoutes reads the patterns bot's own files register on the mux
// (mux.HandleFunc and mux.Handle calls), evaluating string constants of
// the package and their concatenation.
func muxRoutes(t *testing.T) []string {
	t.Helper()
	fset := gotoken.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]ast.Expr{}
	var calls []*ast.CallExpr
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if i < len(n.Values) {
						consts[id.Name] = n.Values[i]
					}
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "HandleFunc" || sel.Sel.Name == "Handle") {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == "mux" && len(n.Args) == 2 {
						calls = append(calls, n)
					}
				}
			}
			return true
		})
	}
	var eval func(e ast.Expr) (string, bool)
	eval = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		case *ast.Ident:
			if v, ok := consts[e.Name]; ok {
				return eval(v)
			}
		case *ast.BinaryExpr:
			if e.Op == gotoken.ADD {
				a, ok1 := eval(e.X)
				b, ok2 := eval(e.Y)
				return a + b, ok1 && ok2
			}
		}
		return "", false
	}
	var out []string
	for _, c := range calls {
		p, ok := eval(c.Args[0])
		if !ok {
			t.Errorf("%s: a route pattern this test cannot evaluate; give it a string constant", fset.Position(c.Pos()))
			continue
		}
		out = append(out, p)
	}
	if len(out) < 20 {
		t.Fatalf("found only %d routes in bot/*.go: %v", len(out), out)
	}
	return out
}

// docPath is the document's path for a mux pattern's path: a subtree
// pattern ("/ops/queues/") is documented with a trailing {path}.
func docPath(p string) string {
	if strings.HasSuffix(p, "/") && len(p) > 1 {
		return p + "{path}"
	}
	return p
}

// TestOpenAPIDocumentCoversEveryRoute: the document is valid OpenAPI,
// every route bot registers is documented with its method, and every
// documented operation is a route.
func TestOpenAPIDocumentCoversEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	registered := map[string]bool{} // "GET /path"
	for _, p := range muxRoutes(t) {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = "", p // any method
		}
		item := doc.Paths.Find(docPath(path))
		if item == nil || doc.Paths.Value(docPath(path)) == nil {
			t.Errorf("route %q is not in %s (as %s)", p, openAPIFile, docPath(path))
			continue
		}
		if method == "" {
			if len(item.Operations()) == 0 {
				t.Errorf("route %q has no operation in %s", p, openAPIFile)
			}
			for m := range item.Operations() {
				registered[m+" "+docPath(path)] = true
			}
			continue
		}
		if item.GetOperation(method) == nil {
			t.Errorf("route %q: %s documents no %s", p, openAPIFile, method)
		}
		registered[method+" "+docPath(path)] = true
	}
	for path, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			if !registered[m+" "+path] {
				t.Errorf("%s documents %s %s, which bot does not serve", openAPIFile, m, path)
			}
		}
	}
}

// schemaTypes pairs each schema with the Go type the handlers write or
// read for it.
var schemaTypes = map[string]reflect.Type{
	"Error":                 reflect.TypeFor[bot.ErrorResponse](),
	"Case":                  reflect.TypeFor[bot.CaseResponse](),
	"Action":                reflect.TypeFor[bot.ActionView](),
	"OpenItem":              reflect.TypeFor[bot.OpenItemView](),
	"EquipmentTask":         reflect.TypeFor[bot.EquipmentView](),
	"EquipmentMoveResponse": reflect.TypeFor[bot.EquipmentMoveResponse](),
	"Approval":              reflect.TypeFor[bot.ApprovalResponse](),
	"ApprovalRequest":       reflect.TypeFor[bot.ApprovalRequest](),
	"ApprovalStep":          reflect.TypeFor[bot.StepView](),
	"ApprovalDecision":      reflect.TypeFor[bot.DecisionView](),
	"Batch":                 reflect.TypeFor[bot.BatchResponse](),
	"BatchCase":             reflect.TypeFor[bot.BatchCase](),
	"BatchDecision":         reflect.TypeFor[bot.BatchDecisionResponse](),
	"Notice":                reflect.TypeFor[bot.NoticeView](),
	"ReconcileReport":       reflect.TypeFor[bot.ReconcileResponse](),
	"ReconcileRun":          reflect.TypeFor[bot.ReconcileRunView](),
	"Residual":              reflect.TypeFor[bot.ResidualView](),
	"RestoreCaseResponse":   reflect.TypeFor[bot.RestoreCaseResponse](),
	"CreateCaseRequest":     reflect.TypeFor[bot.CreateCaseRequest](),
	"Exception":             reflect.TypeFor[bot.ExceptionBody](),
	"ExceptionRequest":      reflect.TypeFor[bot.ExceptionBody](),
	"DecisionRequest":       reflect.TypeFor[bot.DecisionRequest](),
	"CancelCaseRequest":     reflect.TypeFor[bot.CancelCaseRequest](),
	"RestoreCaseRequest":    reflect.TypeFor[bot.RestoreCaseRequest](),
	"EquipmentMoveRequest":  reflect.TypeFor[bot.EquipmentMoveRequest](),
	"NoticeAckRequest":      reflect.TypeFor[bot.NoticeAckRequest](),
}

// TestOpenAPISchemasMatchTheGoTypes: each object schema has exactly the
// JSON fields of its Go type, closes itself (additionalProperties:
// false), requires the fields the type always writes, and gives a string
// field the maxLength of its maxlen tag; so a field added to a type and not
// to the document (or the reverse) fails here even if no test answer
// carries it.
func TestOpenAPISchemasMatchTheGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, typ := range schemaTypes {
		ref := doc.Components.Schemas[name]
		if ref == nil {
			t.Errorf("%s has no schema %s", openAPIFile, name)
			continue
		}
		s := ref.Value
		if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
			t.Errorf("schema %s: additionalProperties must be false", name)
		}
		fields := map[string]reflect.StructField{}
		for f := range jsonFields(typ) {
			fields[jsonName(f)] = f
		}
		for prop := range s.Properties {
			if _, ok := fields[prop]; !ok {
				t.Errorf("schema %s has %q, which %s does not have", name, prop, typ)
			}
		}
		for field, f := range fields {
			p := s.Properties[field]
			if p == nil {
				t.Errorf("%s writes %q (%s), which schema %s lacks", typ, field, f.Name, name)
				continue
			}
			omitted := strings.Contains(f.Tag.Get("json"), ",omit")
			isRequest := strings.HasSuffix(name, "Request") || name == "Exception"
			if !isRequest && !omitted && !slices.Contains(s.Required, field) {
				t.Errorf("schema %s: %q is always written, so it should be required", name, field)
			}
			if ml := f.Tag.Get("maxlen"); ml != "" {
				n, _ := strconv.Atoi(ml)
				if p.Value.MaxLength == nil || *p.Value.MaxLength != uint64(n) {
					t.Errorf("schema %s: %q has maxLength %v, the Go type's maxlen is %d", name, field, p.Value.MaxLength, n)
				}
			}
		}
	}
}

// jsonFields yields the JSON-visible fields of a struct type, flattening
// embedded structs.
func jsonFields(typ reflect.Type) func(func(reflect.StructField) bool) {
	return func(yield func(reflect.StructField) bool) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				continue
			}
			if f.Anonymous && f.Tag.Get("json") == "" {
				for g := range jsonFields(f.Type) {
					if !yield(g) {
						return
					}
				}
				continue
			}
			if !yield(f) {
				return
			}
		}
	}
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
}

// TestDurationIsShortestGoForm: durations are written as Go writes them,
// less the zero units; they read back, with a day unit too.
func TestDurationIsShortestGoForm(t *testing.T) {
	doc := loadOpenAPI(t)
	pattern := regexp.MustCompile(doc.Components.Schemas["Duration"].Value.Pattern)
	for d, want := range map[time.Duration]string{
		0: "0s", 45 * time.Second: "45s", 10 * time.Minute: "10m", 90 * time.Minute: "1h30m", time.Hour: "1h",
		30 * 24 * time.Hour: "720h", time.Hour + time.Second: "1h0m1s", 1500 * time.Millisecond: "1.5s", 250 * time.Millisecond: "250ms",
	} {
		if got := bot.Duration(d).String(); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
		if !pattern.MatchString(want) {
			t.Errorf("%q does not match the document's Duration pattern", want)
		}
		var back bot.Duration
		if err := back.UnmarshalJSON([]byte(strconv.Quote(want))); err != nil || time.Duration(back) != d {
			t.Errorf("reading %q: %v %v", want, time.Duration(back), err)
		}
	}
	for _, long := range []string{"10m0s", "1h0m", "1h0m0s"} {
		if pattern.MatchString(long) {
			t.Errorf("the Duration pattern accepts %q, which is not the shortest form", long)
		}
	}
	var d bot.Duration
	if err := d.UnmarshalJSON([]byte(`"7d"`)); err != nil || time.Duration(d) != 7*24*time.Hour {
		t.Errorf(`reading "7d": %v %v`, time.Duration(d), err)
	}
	for _, bad := range []string{`"-5m"`, `"soon"`, `600`} {
		if err := d.UnmarshalJSON([]byte(bad)); err == nil {
			t.Errorf("reading %s: no error", bad)
		}
	}
}

// contract validates requests and answers against the document and
// records which operation answered which status.
type contract struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string][]int // "METHOD /doc/path" → statuses
}

// htmlOnce registers text/html (the notice page, the queue dashboard) as
// a plain-text body for kin-openapi, which has no decoder for it.
var htmlOnce sync.Once

func newContract(t *testing.T) *contract {
	htmlOnce.Do(func() { openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder) })
	doc := loadOpenAPI(t)
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{t: t, doc: doc, router: r, seen: map[string][]int{}}
}

// bearerPresent is the document's security check: a bearer token is
// there (whether it is valid is the server's to say, with 401).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, tok, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return errors.New("no bearer token")
	}
	return nil
}

// call is one request of the test.
type call struct {
	method, path string
	auth         string // the whole Authorization header, "" for none
	body         string
	form         url.Values // a form body instead of JSON
	status       int
	// invalid says the request breaks the document (a missing token, a
	// malformed body): the server must refuse it as the document says.
	invalid bool
}

// do sends c to base, checks the status and validates the request and
// the answer; it returns the answer's body.
func (k *contract) do(t *testing.T, base string, c call) []byte {
	t.Helper()
	var body []byte
	ctype := ""
	switch {
	case c.form != nil:
		body, ctype = []byte(c.form.Encode()), "application/x-www-form-urlencoded"
	case c.body != "":
		body, ctype = []byte(c.body), "application/json"
	}
	req, err := http.NewRequest(c.method, base+c.path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	route, params, err := k.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: not in %s: %v", c.method, c.path, openAPIFile, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearerPresent, MultiError: true}}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	req.Body = io.NopCloser(bytes.NewReader(body)) // validation read it
	switch {
	case reqErr != nil && !c.invalid:
		t.Errorf("%s %s: the request breaks %s: %v", c.method, c.path, openAPIFile, reqErr)
	case reqErr == nil && c.invalid:
		t.Errorf("%s %s %s: %s accepts this request, which the test expects it to refuse", c.method, c.path, c.body, openAPIFile)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != c.status {
		t.Errorf("%s %s: status %d, want %d: %s", c.method, c.path, res.StatusCode, c.status, got)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(got)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s: the %d answer breaks %s: %v\n%s", c.method, c.path, res.StatusCode, openAPIFile, err, got)
	}
	k.mu.Lock()
	key := route.Method + " " + route.Path
	k.seen[key] = append(k.seen[key], res.StatusCode)
	k.mu.Unlock()
	return got
}

// jsonOf decodes an answer, strictly, into T.
func jsonOf[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	dec := jsonDecoder(b)
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %T: %v\n%s", v, err, b)
	}
	return v
}

// sampleBodies are valid bodies of each request schema, for the
// authentication and scope checks (refused before the body is read).
var sampleBodies = map[string]string{
	"CreateCaseRequest":    `{"employee_id":"E1"}`,
	"DecisionRequest":      `{"as":"X1"}`,
	"CancelCaseRequest":    `{"as":"X1"}`,
	"RestoreCaseRequest":   `{"as":"X1","reason":"x"}`,
	"ExceptionRequest":     `{"kind":"legal_hold","as":"X1"}`,
	"EquipmentMoveRequest": `{"as":"X1","to":"received"}`,
	"NoticeAckRequest":     `{"as":"X1"}`,
}

// samplePath fills an operation's path parameters with values that name
// nothing.
func samplePath(p string) string {
	return strings.NewReplacer("{id}", "999999", "{op}", "retry", "{path}", "x").Replace(p)
}

// authChecks sends every bearer-protected operation of the document
// without a token (401, which the document requires), with a wrong one
// (401), and, where it lists scopes, with a client holding none (403).
func (k *contract) authChecks(t *testing.T, base, noScopes string, only func(path string) bool) {
	for path, item := range k.doc.Paths.Map() {
		if !only(path) {
			continue
		}
		for method, op := range item.Operations() {
			if op.Security == nil || len(*op.Security) == 0 {
				continue
			}
			body := ""
			if op.RequestBody != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil {
					body = sampleBodies[strings.TrimPrefix(mt.Schema.Ref, "#/components/schemas/")]
				}
			}
			p := samplePath(path)
			k.do(t, base, call{method: method, path: p, body: body, status: 401, invalid: true})
			k.do(t, base, call{method: method, path: p, auth: "Bearer not-a-token", body: body, status: 401})
			scopes, _ := op.Extensions["x-kinetic-scopes"].([]any)
			if _, listed := op.Extensions["x-kinetic-scopes"]; !listed {
				t.Errorf("%s %s lists no x-kinetic-scopes", method, path)
			}
			for _, s := range scopes {
				if !slices.Contains(configs.APIScopes, fmt.Sprint(s)) {
					t.Errorf("%s %s: x-kinetic-scopes names %v, not a scope (configs.APIScopes)", method, path, s)
				}
			}
			if len(scopes) > 0 {
				k.do(t, base, call{method: method, path: p, auth: noScopes, body: body, status: 403})
			}
		}
	}
}

// coverage fails for any documented operation no request reached with a
// 2xx answer, and for any that was never refused 401.
func (k *contract) coverage(t *testing.T, noSuccess map[string]string) {
	for path, item := range k.doc.Paths.Map() {
		for method, op := range item.Operations() {
			key := method + " " + path
			st := k.seen[key]
			if !slices.ContainsFunc(st, func(s int) bool { return s/100 == 2 }) && noSuccess[key] == "" {
				t.Errorf("%s: no request got a 2xx answer (statuses seen %v)", key, st)
			}
			if op.Security != nil && len(*op.Security) > 0 && !slices.Contains(st, 401) {
				t.Errorf("%s: never refused 401", key)
			}
		}
	}
}

// TestAPIConformsToOpenAPI drives every route with real requests and
// validates each request and answer against docs/openapi.yaml.
func TestAPIConformsToOpenAPI(t *testing.T) {
	k := newContract(t)
	const noScopes = "Bearer test-token-noscopes"
	clientsWith := func() map[string]bot.APIClient {
		cs := personClients()
		cs["noscopes"] = bot.APIClient{Token: "test-token-noscopes", ActAs: []string{engine.ActAsAny}}
		cs["reader"] = bot.APIClient{Token: "test-token-reader", Scopes: []string{configs.ScopeCasesRead}, ActAs: []string{engine.ActAsAny}}
		cs["as-T1"] = bot.APIClient{Token: "test-token-as-T1", Scopes: []string{configs.ScopeActionsOperate}, ActAs: []string{"T1"}}
		return cs
	}

	t.Run("cases and approvals", func(t *testing.T) {
		s := newServerWith(t, testkit.Options{Policy: testkit.ApprovalPolicy}, false, clientsWith())
		u := s.srv.URL
		k.authChecks(t, u, noScopes, func(p string) bool {
			return strings.HasPrefix(p, "/api/v1/") && !strings.HasPrefix(p, "/api/v1/batches")
		})

		// Opening: 201, a replay 200, the collisions and refusals.
		created := jsonOf[bot.CaseResponse](t, k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: "Bearer " + portalToken, status: 201,
			body: `{"employee_id":"E1","requested_by":"A1","reason":"resigned","exceptions":[{"kind":"email_forwarding","forward_to":"manager@example.test","days":30,"reason":"handover"}]}`}))
		if len(created.Actions) == 0 || created.EffectiveAt.Location() != time.UTC {
			t.Fatalf("created case %+v", created)
		}
		for _, a := range created.Actions {
			if a.DependsOn == nil || a.Params == nil || time.Duration(a.SLA) <= 0 || a.SLASeconds != int64(time.Duration(a.SLA)/time.Second) {
				t.Errorf("action %s: depends_on %v params %v sla %v (%d s)", a.Name, a.DependsOn, a.Params, a.SLA, a.SLASeconds)
			}
		}
		k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: bearer, status: 201, body: `{"employee_id":"E2","reason":"resigned","idempotency_key":"k-1"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: bearer, status: 200, body: `{"employee_id":"E2","reason":"resigned","idempotency_key":"k-1"}`})
		conflict := jsonOf[bot.ErrorResponse](t, k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: bearer, status: 409, body: `{"employee_id":"E1","reason":"again"}`}))
		if conflict.CaseID != created.ID {
			t.Errorf("409 names case %d, want %d", conflict.CaseID, created.ID)
		}
		k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: bearer, status: 404, body: `{"employee_id":"NOBODY"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: bearer, status: 422, body: `{"employee_id":"E3"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: bearer, status: 403, body: `{"employee_id":"E4","requested_by":"X1"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: bearer, status: 400, invalid: true, body: `{"employee_id":"E4","effective_at":"tomorrow"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: bearer, status: 400, invalid: true, body: `{"employee_id":"E4","colour":"grey"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: bearer, status: 413, invalid: true, body: `{"employee_id":"E4","reason":"` + strings.Repeat("x", bot.MaxAPIBody) + `"}`})

		got := jsonOf[bot.CaseResponse](t, k.do(t, u, call{method: "GET", path: fmt.Sprintf("/api/v1/cases/%d", created.ID), auth: bearer, status: 200}))
		if got.ID != created.ID || got.OpenItems == nil {
			t.Errorf("GET case: %+v", got)
		}
		k.do(t, u, call{method: "GET", path: "/api/v1/cases/999999", auth: bearer, status: 404})
		k.do(t, u, call{method: "GET", path: "/api/v1/cases/x1", auth: bearer, status: 400, invalid: true})
		k.do(t, u, call{method: "GET", path: "/api/v1/cases/0", auth: bearer, status: 400, invalid: true})

		// The forwarding exception's chain: manager, then HR.
		list := jsonOf[[]bot.ApprovalResponse](t, k.do(t, u, call{method: "GET", path: fmt.Sprintf("/api/v1/approvals?case=%d", created.ID), auth: bearer, status: 200}))
		if len(list) != 1 || !slices.Contains(list[0].Held, "convert_mailbox") || list[0].Request.ForwardTo != "manager@example.test" ||
			list[0].Request.Days != 30 || len(list[0].Steps) != 2 || len(list[0].Steps[0].Approvers) == 0 || time.Duration(list[0].Steps[0].Timeout) <= 0 {
			t.Fatalf("approvals: %+v", list)
		}
		ap := list[0].ID
		k.do(t, u, call{method: "GET", path: "/api/v1/approvals?status=pending&for=M1", auth: bearer, status: 200})
		k.do(t, u, call{method: "GET", path: "/api/v1/approvals?status=maybe", auth: bearer, status: 200, invalid: true})
		k.do(t, u, call{method: "GET", path: "/api/v1/approvals?case=x", auth: bearer, status: 400, invalid: true})
		k.do(t, u, call{method: "GET", path: fmt.Sprintf("/api/v1/approvals/%d", ap), auth: "Bearer test-token-reader", status: 200})
		k.do(t, u, call{method: "GET", path: "/api/v1/approvals/999999", auth: bearer, status: 404})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/approve", ap), auth: bearer, status: 403, body: `{"as":"X1"}`})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/approve", ap), auth: bearer, status: 400, invalid: true, body: `{}`})
		step1 := jsonOf[bot.ApprovalResponse](t, k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/approve", ap), auth: bearer, status: 200, body: `{"as":"M1","reason":"ok"}`}))
		if len(step1.Decisions) != 1 || step1.Decisions[0].At.Location() != time.UTC {
			t.Errorf("after step 1: %+v", step1)
		}
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/deny", ap), auth: bearerFor("H1"), status: 400, body: `{"as":"H1"}`})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/deny", ap), auth: bearerFor("H1"), status: 200, body: `{"as":"H1","reason":"no forwarding outside the company"}`})

		// A legal hold, approved by both legal approvers, then its release.
		hold := jsonOf[bot.ApprovalResponse](t, k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/exceptions", created.ID), auth: bearer, status: 201,
			body: `{"kind":"legal_hold","as":"M1","reason":"litigation"}`}))
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/exceptions", created.ID), auth: bearer, status: 400, invalid: true, body: `{"kind":"legal_hold"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/cases/999999/exceptions", auth: bearer, status: 404, body: `{"kind":"legal_hold","as":"M1","reason":"x"}`})
		for _, as := range []string{"L1", "L2"} {
			k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/approve", hold.ID), auth: bearerFor(as), status: 200, body: fmt.Sprintf(`{"as":%q,"reason":"reviewed"}`, as)})
		}
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/release", hold.ID), auth: bearer, status: 403, body: `{"as":"X1","reason":"done"}`})
		rel := jsonOf[bot.ApprovalResponse](t, k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/release", hold.ID), auth: bearer, status: 201, body: `{"as":"M1","reason":"settled"}`}))
		if rel.Request.HoldOf != hold.ID {
			t.Errorf("release request %+v, want hold_of %d", rel.Request, hold.ID)
		}
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/approvals/%d/release", hold.ID), auth: bearer, status: 400, body: `{"as":"M1","reason":"again"}`})

		// Operating an action; an unknown operation is 404.
		act := created.Actions[0].ID
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/actions/%d/escalate", act), auth: bearer, status: 200, body: `{"as":"A1"}`})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/actions/%d/retry", act), auth: bearer, status: 400, body: `{"as":"A1"}`})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/actions/%d/shred", act), auth: bearer, status: 404, invalid: true, body: `{"as":"A1"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/actions/999999/escalate", auth: bearer, status: 404, body: `{"as":"A1"}`})

		// Cancelling: a started case is 409, a scheduled one cancels.
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/cancel", created.ID), auth: bearer, status: 409, body: `{"as":"M1"}`})
		later := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)
		sched := jsonOf[bot.CaseResponse](t, k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: bearer, status: 201,
			body: `{"employee_id":"E4","requested_by":"M1","reason":"resigned","effective_at":"` + later + `"}`}))
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/cancel", sched.ID), auth: bearer, status: 403, body: `{"as":"X1"}`})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/cancel", sched.ID), auth: bearer, status: 200, body: `{"as":"M1","reason":"stays"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/cases/999999/cancel", auth: bearer, status: 404, body: `{"as":"M1"}`})

		// Confirming a plan that awaits its requester.
		o, err := s.k.Engine.Open(context.Background(), engine.Request{EmployeeID: "X1", Requester: "M1", Trigger: store.TriggerSlack, Reason: "resigned", AwaitConfirmation: true})
		if err != nil {
			t.Fatal(err)
		}
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/confirm", o.Case.ID), auth: bearer, status: 403, body: `{"as":"X1"}`})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/confirm", o.Case.ID), auth: bearer, status: 200, body: `{"as":"M1"}`})

		// Restoring needs a closed case: an open one is 400.
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/restore", created.ID), auth: bearer, status: 400, body: `{"as":"H1","reason":"mistake"}`})

		// The notice page refuses a token it did not sign, changing nothing.
		k.do(t, u, call{method: "GET", path: "/notices/ack?t=forged", status: 403})
		k.do(t, u, call{method: "POST", path: "/notices/ack", form: url.Values{"t": {"forged"}, "address": {"payroll@example.test"}}, status: 403})
		k.do(t, u, call{method: "POST", path: "/api/v1/notices/999999/ack", auth: bearer, status: 404, body: `{"as":"H1"}`})
	})

	t.Run("batches", func(t *testing.T) {
		policy := testkit.ApprovalPolicy + "mass_termination: {max_cases: 2, window: 1h, approvers: [\"user:A1\"]}\n"
		s := newServerWith(t, testkit.Options{Policy: policy}, false, clientsWith())
		u := s.srv.URL
		k.authChecks(t, u, noScopes, func(p string) bool { return strings.HasPrefix(p, "/api/v1/batches") })
		k.do(t, u, call{method: "GET", path: "/api/v1/batches", auth: bearer, status: 200})
		var ids []int64
		for _, emp := range []string{"E1", "E2", "E4", "X1"} {
			c := jsonOf[bot.CaseResponse](t, k.do(t, u, call{method: "POST", path: "/api/v1/cases", auth: bearer, status: 201, body: fmt.Sprintf(`{"employee_id":%q,"reason":"restructuring"}`, emp)}))
			ids = append(ids, c.ID)
		}
		bs := jsonOf[[]bot.BatchResponse](t, k.do(t, u, call{method: "GET", path: "/api/v1/batches?status=pending", auth: "Bearer test-token-reader", status: 200}))
		if len(bs) != 1 || len(bs[0].Cases) != 2 || bs[0].Cases[0].Status != store.CaseHeld {
			t.Fatalf("batches %+v", bs)
		}
		k.do(t, u, call{method: "GET", path: "/api/v1/batches?status=gone", auth: bearer, status: 200, invalid: true})
		b := bs[0].ID
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/batches/%d/approve", b), auth: bearer, status: 403, body: `{"as":"X1"}`})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/batches/%d/approve", b), auth: bearer, status: 200, body: fmt.Sprintf(`{"as":"A1","case_ids":[%d]}`, ids[2])})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/batches/%d/deny", b), auth: bearer, status: 400, body: fmt.Sprintf(`{"as":"A1","reason":"no","case_ids":[%d]}`, ids[3])})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/batches/%d/deny", b), auth: bearer, status: 200, body: `{"as":"A1","reason":"not approved by the board"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/batches/999999/deny", auth: bearer, status: 404, body: `{"as":"A1","reason":"x"}`})
	})

	t.Run("equipment restore reconciliation and notices with a worker", func(t *testing.T) {
		s := newServerWith(t, testkit.Options{StateChangedBehindEngine: true,
			ApproverGroups: "{hr: [H1, H2, M1], legal: [L1, L2], security: [S1], it-assets: [T1], it-berlin: [T2], payroll: [H1]}"}, true, clientsWith())
		u := s.srv.URL
		ctx := context.Background()
		k.do(t, u, call{method: "GET", path: "/api/v1/reconcile/last", auth: bearer, status: 404})

		// Equipment: the it-assets team asks for the laptop back.
		o, err := s.k.Engine.Open(ctx, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "resigned", Trigger: store.TriggerAPI})
		if err != nil {
			t.Fatal(err)
		}
		tasks, _ := s.k.Store.EquipmentTasks(ctx, o.Case.ID)
		if len(tasks) == 0 {
			t.Fatal("E7 has no equipment task")
		}
		move := fmt.Sprintf("/api/v1/equipment/%d/move", tasks[0].ID)
		k.do(t, u, call{method: "POST", path: move, auth: bearer, status: 403, body: `{"as":"E7","to":"return_requested"}`})
		k.do(t, u, call{method: "POST", path: move, auth: bearer, status: 400, invalid: true, body: `{"as":"T1","to":"shredded"}`})
		k.do(t, u, call{method: "POST", path: move, auth: bearer, status: 400, body: `{"as":"T1","to":"wiped"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/equipment/999999/move", auth: bearer, status: 404, body: `{"as":"T1","to":"received"}`})
		mv := jsonOf[bot.EquipmentMoveResponse](t, k.do(t, u, call{method: "POST", path: move, auth: "Bearer test-token-as-T1", status: 200, body: `{"as":"T1","to":"return_requested","note":"courier booked"}`}))
		if !mv.Changed || mv.Task.Status != store.EquipmentReturnRequested {
			t.Errorf("move: %+v", mv)
		}
		withEq := jsonOf[bot.CaseResponse](t, k.do(t, u, call{method: "GET", path: fmt.Sprintf("/api/v1/cases/%d", o.Case.ID), auth: bearer, status: 200}))
		if len(withEq.Equipment) == 0 {
			t.Errorf("GET case %d lists no equipment", o.Case.ID)
		}

		// A closed case: reconciliation finds residual access, and a restore is asked.
		o, err = s.k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned", Trigger: store.TriggerAPI})
		if err != nil {
			t.Fatal(err)
		}
		closed := s.k.WaitClosed(t, o.Case.ID, 30*time.Second)
		s.k.Sandbox("okta").AddAccount(connectors.Subject{EmployeeID: "E1", Email: "erin@example.test"},
			connectors.Account{ID: "erin@example.test", Status: connectors.StatusActive, Sessions: 2})
		if rep, err := s.k.Engine.ReconcileCase(ctx, o.Case.ID, "api", ""); err != nil || len(rep.Residuals) == 0 {
			t.Fatalf("scan: %+v %v", rep, err)
		}
		rec := jsonOf[bot.ReconcileResponse](t, k.do(t, u, call{method: "GET", path: "/api/v1/reconcile/last", auth: bearer, status: 200}))
		if rec.Run.CaseID != o.Case.ID || len(rec.Residuals) == 0 || rec.Problems == nil {
			t.Errorf("reconcile: %+v", rec)
		}
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/restore", o.Case.ID), auth: bearer, status: 400, invalid: true, body: `{"reason":"x"}`})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/restore", o.Case.ID), auth: bearer, status: 403, body: `{"as":"X1","reason":"x"}`})
		k.do(t, u, call{method: "POST", path: "/api/v1/cases/999999/restore", auth: bearer, status: 404, body: `{"as":"H1","reason":"x"}`})
		k.do(t, u, call{method: "POST", path: fmt.Sprintf("/api/v1/cases/%d/restore", o.Case.ID), auth: bearerFor("H1"), status: 201, body: `{"as":"H1","reason":"opened by mistake"}`})

		// A notice to payroll, as a notification action records it; H1 is
		// on the payroll team (approver_groups.payroll).
		n, err := store.RecordNoticeSent(s.k.Store.TestDB(), store.Notice{CaseID: o.Case.ID, ActionID: closed.Actions[0].ID, Team: "payroll",
			Channel: store.NoticeEmail, Recipients: "payroll@example.test,pay-lead@example.test", SentAt: time.Now(), CreatedAt: time.Now(), UpdatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ack := fmt.Sprintf("/api/v1/notices/%d/ack", n.ID)
		k.do(t, u, call{method: "POST", path: ack, auth: bearer, status: 403, body: `{"as":"X1"}`})
		k.do(t, u, call{method: "POST", path: ack, auth: bearer, status: 400, invalid: true, body: `{}`})
		nv := jsonOf[bot.NoticeView](t, k.do(t, u, call{method: "POST", path: ack, auth: bearer, status: 200, body: `{"as":"H1"}`}))
		if !slices.Equal(nv.Recipients, []string{"payroll@example.test", "pay-lead@example.test"}) || nv.AcknowledgedAt == nil {
			t.Errorf("notice: %+v", nv)
		}
		k.do(t, u, call{method: "POST", path: ack, auth: bearer, status: 409, body: `{"as":"H1"}`})
		k.authChecks(t, u, noScopes, func(p string) bool { return p == "/api/v1/reconcile/last" })
	})

	t.Run("probes metrics and the queue dashboard", func(t *testing.T) {
		s := newOpsServer(t)
		u := s.srv.URL
		k.do(t, u, call{method: "GET", path: "/healthz", status: 200})
		k.do(t, u, call{method: "GET", path: "/readyz", status: 200})
		k.do(t, u, call{method: "GET", path: "/metrics", status: 200})
		for _, p := range []string{bot.QueuesPath, bot.QueuesPath + "/manifest.json"} {
			k.do(t, u, call{method: "GET", path: p, status: 401, invalid: true})
			k.do(t, u, call{method: "GET", path: p, auth: "Bearer reader-token", status: 403})
			k.do(t, u, call{method: "GET", path: p, auth: "Bearer ops-token", status: 200})
		}
		quiet := logrus.New()
		quiet.Out = io.Discard
		m := bot.NewHandler(bot.ServerOptions{Metrics: s.reg, MetricsToken: "metrics-secret", ProbesOnly: true, Log: logrus.NewEntry(quiet),
			Ready: func(context.Context) error {
				return &downError{name: "redis", err: errors.New("dial tcp 10.0.0.7:6379: refused")}
			}})
		srv := httptestServer(t, m)
		k.do(t, srv, call{method: "GET", path: "/metrics", status: 401})
		k.do(t, srv, call{method: "GET", path: "/metrics", auth: "Bearer metrics-secret", status: 200})
		k.do(t, srv, call{method: "GET", path: "/readyz", status: 503})
	})

	k.coverage(t, map[string]string{
		"GET /notices/ack":  "the page is HTML; TestPayrollNoticeByEmailIsAcknowledgedByTheTeam follows a signed link",
		"POST /notices/ack": "as above",
	})
}

// jsonDecoder decodes strictly: a field the type lacks is an error.
func jsonDecoder(b []byte) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec
}

// httptestServer serves h for the test and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
