// Package sftest is a stateful fake Salesforce org for tests: the
// salesforce connector's own tests and end-to-end tests of a departure.
package sftest

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Fake is a small stateful Salesforce org on httptest: Users with their
// UserLogin, AuthSessions and OauthTokens, records of any object type with
// an owner, the JWT bearer token endpoint (checking the assertion's
// signature and claims), the REST resources the connector uses (query with
// the SOQL statements it sends, sObject rows, sObject Collections) and the
// revoke endpoint. A request a real org would not need (a write of a value
// already in place) or could not answer (SOQL the fake does not know) is
// a violation that fails the test when it ends: the connector must read
// before it writes.
type Fake struct {
	t testing.TB
	// Server is the org: both the instance URL and the login URL.
	Server *httptest.Server
	pub    *rsa.PublicKey

	// ClientID and Username are the connected app's consumer key and the
	// integration user the assertion must name (iss and sub).
	ClientID, Username string

	mu          sync.Mutex
	users       map[string]*User
	records     map[string]map[string]string // object → id → owner id
	tokens      map[string]bool
	tokenSeq    int
	fail        []int // statuses for the next API requests
	tokenFail   []int // statuses for the next token requests
	slow        chan struct{}
	requests    []string
	violations  []string
	refuseCode  string // set: deactivation answers 400 with this errorCode
	tokenPrefix string
}

// UserRecord is a User row as the REST API returns it.
type UserRecord struct {
	ID                   string `json:"Id"`
	Username             string `json:"Username"`
	Name                 string `json:"Name"`
	Email                string `json:"Email"`
	FederationIdentifier string `json:"FederationIdentifier"`
	EmployeeNumber       string `json:"EmployeeNumber"`
	IsActive             bool   `json:"IsActive"`
	ManagerID            string `json:"ManagerId"`
}

// User is a user of the org with its login, sessions and OAuth tokens.
type User struct {
	UserRecord
	LoginID  string
	Frozen   bool
	Sessions []string
	Tokens   []Token
}

// Token is an OauthToken row.
type Token struct{ ID, App, Delete string }

// The seeded subject's ids, the API version the fake serves and the
// protocol constants the connector sends (kept here, not imported, so a
// change on either side shows as a violation).
const (
	APIVersion  = "62.0"
	fakeAPI     = "/services/data/v" + APIVersion
	DanaID      = "005000000000DANA01"
	DanaLoginID = "060000000000DANA01"
	MgrID       = "005000000000MGR001"

	loginProduction = "https://login.salesforce.com"
	grantTypeJWT    = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	userFields      = "Id, Username, Name, Email, FederationIdentifier, EmployeeNumber, IsActive, ManagerId"
	batchSize       = 200
)

type apiError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields"`
}

type saveResult struct {
	ID      string `json:"id"`
	Success bool   `json:"success"`
	Errors  []struct {
		StatusCode string   `json:"statusCode"`
		Message    string   `json:"message"`
		Fields     []string `json:"fields"`
	} `json:"errors"`
}

// New starts an org whose connected app trusts pub; it stops when the
// test ends, and every violation it saw then fails the test.
func New(t testing.TB, pub *rsa.PublicKey) *Fake {
	f := &Fake{
		t: t, pub: pub, ClientID: "3MVG9fakeConsumerKey", Username: "kinetic@example.com",
		users:       map[string]*User{},
		records:     map[string]map[string]string{},
		tokens:      map[string]bool{},
		tokenPrefix: "00D000000000001!FAKE-ACCESS-S3CR3T-",
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.mu.Lock()
		if f.slow != nil {
			close(f.slow)
			f.slow = nil
		}
		f.mu.Unlock()
		f.Server.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, v := range f.violations {
			t.Errorf("fake Salesforce: %s", v)
		}
	})
	return f
}

// SeedDana adds the usual subject: an active, unfrozen user with two
// sessions, two OAuth tokens, a manager, and three Accounts and one
// Opportunity to hand over.
func (f *Fake) SeedDana() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[DanaID] = &User{
		UserRecord: UserRecord{ID: DanaID, Username: "dana@example.com.prod", Name: "Dana Whitfield", Email: "dana@example.com",
			FederationIdentifier: "dana@example.com", EmployeeNumber: "E1001", IsActive: true, ManagerID: MgrID},
		LoginID:  DanaLoginID,
		Sessions: []string{"0Ak000000000SES001", "0Ak000000000SES002"},
		Tokens: []Token{
			{ID: "0CQ000000000TOK001", App: "Salesforce Mobile", Delete: "DELETE-TOKEN-SECRET-1"},
			{ID: "0CQ000000000TOK002", App: "Outlook Integration", Delete: "DELETE-TOKEN-SECRET-2"},
		},
	}
	f.users[MgrID] = &User{UserRecord: UserRecord{ID: MgrID, Username: "mgr@example.com.prod", Name: "Mo Manager", Email: "mgr@example.com", IsActive: true}, LoginID: "060000000000MGR001"}
	f.records["Account"] = map[string]string{"001000000000ACC001": DanaID, "001000000000ACC002": DanaID, "001000000000ACC003": DanaID, "001000000000ACC009": MgrID}
	f.records["Opportunity"] = map[string]string{"006000000000OPP001": DanaID}
}

// User returns a copy of the user with id (which must exist).
func (f *Fake) User(id string) User {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := *f.users[id]
	u.Sessions, u.Tokens = slices.Clone(u.Sessions), slices.Clone(u.Tokens)
	return u
}

// Owned counts the records of obj that owner owns.
func (f *Fake) Owned(obj, owner string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, o := range f.records[obj] {
		if o == owner {
			n++
		}
	}
	return n
}

// Inject answers the next API requests (not token requests) with these
// statuses: 401, 403, 4031 (REQUEST_LIMIT_EXCEEDED, a 403), 429 with
// Retry-After, 503 as an HTML page, anything else as MALFORMED_QUERY.
func (f *Fake) Inject(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = statuses
}

// InjectToken answers the next token requests with these statuses.
func (f *Fake) InjectToken(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenFail = statuses
}

// SetSlow holds every request until its client gives up (or the test ends).
func (f *Fake) SetSlow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.slow == nil {
		f.slow = make(chan struct{})
	}
}

// Requests returns every request received, in order, as "METHOD /path".
func (f *Fake) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

// Counts is the number of requests received per "METHOD /path".
func (f *Fake) Counts() map[string]int {
	n := map[string]int{}
	for _, r := range f.Requests() {
		n[r]++
	}
	return n
}

// RefuseDeactivation makes deactivating a user answer 400 with errorCode
// code (FIELD_INTEGRITY_EXCEPTION: a default owner, say); "" allows it.
func (f *Fake) RefuseDeactivation(code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuseCode = code
}

// ResetLog forgets the requests received so far.
func (f *Fake) ResetLog() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = nil
}

func (f *Fake) violate(format string, a ...any) {
	f.violations = append(f.violations, fmt.Sprintf(format, a...))
}

func sfErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode([]apiError{{ErrorCode: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	slow := f.slow
	isToken := r.URL.Path == "/services/oauth2/token"
	var failWith int
	switch {
	case isToken && len(f.tokenFail) > 0:
		failWith, f.tokenFail = f.tokenFail[0], f.tokenFail[1:]
	case !isToken && len(f.fail) > 0:
		failWith, f.fail = f.fail[0], f.fail[1:]
	}
	f.mu.Unlock()
	if slow != nil {
		select {
		case <-r.Context().Done():
		case <-slow:
		}
		return
	}
	if isToken {
		f.serveToken(w, r, body, failWith)
		return
	}
	if failWith != 0 {
		serveFailure(w, failWith)
		return
	}
	if r.URL.Path == "/services/oauth2/revoke" {
		f.serveRevoke(w, r, body)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !f.tokens[tok] {
		sfErr(w, http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, fakeAPI)
	if !ok {
		f.violate("request outside the API version: %s %s", r.Method, r.URL.Path)
		sfErr(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
		return
	}
	switch {
	case r.Method == http.MethodGet && path == "/query":
		f.serveQuery(w, r.URL.Query().Get("q"))
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/sobjects/User/"):
		u := f.users[strings.TrimPrefix(path, "/sobjects/User/")]
		if u == nil {
			sfErr(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
			return
		}
		writeJSON(w, 200, u.UserRecord)
	case r.Method == http.MethodPatch && strings.HasPrefix(path, "/sobjects/UserLogin/"):
		id := strings.TrimPrefix(path, "/sobjects/UserLogin/")
		for _, u := range f.users {
			if u.LoginID == id {
				if string(body) != `{"IsFrozen":true}` {
					f.violate("UserLogin PATCH body %s", body)
				}
				if u.Frozen {
					f.violate("froze %s, already frozen", u.ID)
				}
				u.Frozen = true
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		sfErr(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	case r.Method == http.MethodPatch && strings.HasPrefix(path, "/sobjects/User/"):
		u := f.users[strings.TrimPrefix(path, "/sobjects/User/")]
		if u == nil {
			sfErr(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
			return
		}
		if string(body) != `{"IsActive":false}` {
			f.violate("User PATCH body %s", body)
		}
		if !u.Frozen {
			f.violate("deactivated %s before freezing it", u.ID)
		}
		if !u.IsActive {
			f.violate("deactivated %s, already inactive", u.ID)
		}
		if f.refuseCode != "" {
			sfErr(w, http.StatusBadRequest, f.refuseCode, "You cannot deactivate a user who is the default owner of cases: [IsActive]")
			return
		}
		u.IsActive = false
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodDelete && path == "/composite/sobjects":
		if r.URL.Query().Get("allOrNone") != "false" {
			f.violate("collections DELETE without allOrNone=false")
		}
		var out []saveResult
		for _, id := range strings.Split(r.URL.Query().Get("ids"), ",") {
			res := saveResult{ID: id}
			for _, u := range f.users {
				if i := slices.Index(u.Sessions, id); i >= 0 {
					u.Sessions = slices.Delete(u.Sessions, i, i+1)
					res.Success = true
				}
			}
			if !res.Success {
				res.Errors = append(res.Errors, struct {
					StatusCode string   `json:"statusCode"`
					Message    string   `json:"message"`
					Fields     []string `json:"fields"`
				}{StatusCode: "ENTITY_IS_DELETED", Message: "entity is deleted"})
			}
			out = append(out, res)
		}
		writeJSON(w, 200, out)
	case r.Method == http.MethodPatch && path == "/composite/sobjects":
		var in struct {
			AllOrNone bool `json:"allOrNone"`
			Records   []struct {
				Attributes struct{ Type string } `json:"attributes"`
				ID         string                `json:"id"`
				OwnerID    string                `json:"OwnerId"`
			} `json:"records"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.AllOrNone || len(in.Records) == 0 || len(in.Records) > batchSize {
			f.violate("collections PATCH body %s", body)
			sfErr(w, 400, "JSON_PARSER_ERROR", "bad body")
			return
		}
		var out []saveResult
		for _, rec := range in.Records {
			res := saveResult{ID: rec.ID}
			if _, ok := f.records[rec.Attributes.Type][rec.ID]; ok && f.users[rec.OwnerID] != nil {
				f.records[rec.Attributes.Type][rec.ID] = rec.OwnerID
				res.Success = true
			} else {
				f.violate("collections PATCH of unknown %s %s or owner %s", rec.Attributes.Type, rec.ID, rec.OwnerID)
			}
			out = append(out, res)
		}
		writeJSON(w, 200, out)
	default:
		f.violate("unexpected request %s %s", r.Method, r.URL)
		sfErr(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
	}
}

func serveFailure(w http.ResponseWriter, status int) {
	switch status {
	case 401:
		sfErr(w, 401, "INVALID_SESSION_ID", "Session expired or invalid")
	case 403:
		sfErr(w, 403, "INSUFFICIENT_ACCESS", "insufficient access rights on cross-reference id")
	case 4031: // REQUEST_LIMIT_EXCEEDED is a 403
		sfErr(w, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
	case 429:
		w.Header().Set("Retry-After", "7")
		sfErr(w, 429, "REQUEST_LIMIT_EXCEEDED", "too many requests")
	case 503:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(503)
		io.WriteString(w, "<html><body>Service Unavailable</body></html>")
	default:
		sfErr(w, status, "MALFORMED_QUERY", "injected failure")
	}
}

var (
	reUserQuery   = regexp.MustCompile(`^SELECT ` + regexp.QuoteMeta(userFields) + ` FROM User WHERE (.+) LIMIT 10$`)
	reCond        = regexp.MustCompile(`^(FederationIdentifier|Email|EmployeeNumber) = '((?:\\.|[^'\\])*)'$`)
	reLoginQuery  = regexp.MustCompile(`^SELECT Id, IsFrozen FROM UserLogin WHERE UserId = '(\w+)' LIMIT 2$`)
	reSessQuery   = regexp.MustCompile(`^SELECT (Id|COUNT\(\)) FROM AuthSession WHERE UsersId = '(\w+)'$`)
	reTokQuery    = regexp.MustCompile(`^SELECT (Id, AppName, DeleteToken|COUNT\(\)) FROM OauthToken WHERE UserId = '(\w+)'$`)
	reOwnedQuery  = regexp.MustCompile(`^SELECT Id FROM (\w+) WHERE OwnerId = '(\w+)' ORDER BY Id LIMIT 200$`)
	reOwnedCount  = regexp.MustCompile(`^SELECT COUNT\(\) FROM (\w+) WHERE OwnerId = '(\w+)'$`)
	soqlUnescaper = strings.NewReplacer(`\\`, `\`, `\'`, `'`, `\"`, `"`, `\n`, "\n", `\r`, "\r", `\t`, "\t", `\b`, "\b", `\f`, "\f")
)

func rows(recs ...map[string]any) map[string]any {
	if recs == nil {
		recs = []map[string]any{}
	}
	return map[string]any{"totalSize": len(recs), "done": true, "records": recs}
}

func count(n int) map[string]any {
	return map[string]any{"totalSize": n, "done": true, "records": []any{}}
}

func (f *Fake) serveQuery(w http.ResponseWriter, q string) {
	if m := reUserQuery.FindStringSubmatch(q); m != nil {
		var recs []map[string]any
		conds := strings.Split(m[1], " OR ")
		ids := slices.Sorted(func(yield func(string) bool) {
			for id := range f.users {
				if !yield(id) {
					return
				}
			}
		})
		for _, id := range ids {
			u := f.users[id]
			for _, c := range conds {
				cm := reCond.FindStringSubmatch(c)
				if cm == nil {
					f.violate("SOQL condition %q", c)
					sfErr(w, 400, "MALFORMED_QUERY", "unexpected token")
					return
				}
				v := soqlUnescaper.Replace(cm[2])
				if (cm[1] == "FederationIdentifier" && u.FederationIdentifier == v) ||
					(cm[1] == "Email" && strings.EqualFold(u.Email, v)) ||
					(cm[1] == "EmployeeNumber" && u.EmployeeNumber == v) {
					b, _ := json.Marshal(u.UserRecord)
					var rec map[string]any
					json.Unmarshal(b, &rec)
					rec["attributes"] = map[string]string{"type": "User", "url": fakeAPI + "/sobjects/User/" + u.ID}
					recs = append(recs, rec)
					break
				}
			}
		}
		writeJSON(w, 200, rows(recs...))
		return
	}
	if m := reLoginQuery.FindStringSubmatch(q); m != nil {
		u := f.users[m[1]]
		if u == nil {
			writeJSON(w, 200, rows())
			return
		}
		writeJSON(w, 200, rows(map[string]any{"Id": u.LoginID, "IsFrozen": u.Frozen}))
		return
	}
	if m := reSessQuery.FindStringSubmatch(q); m != nil {
		var sess []string
		if u := f.users[m[2]]; u != nil {
			sess = u.Sessions
		}
		if m[1] != "Id" {
			writeJSON(w, 200, count(len(sess)))
			return
		}
		var recs []map[string]any
		for _, s := range sess {
			recs = append(recs, map[string]any{"Id": s})
		}
		writeJSON(w, 200, rows(recs...))
		return
	}
	if m := reTokQuery.FindStringSubmatch(q); m != nil {
		var toks []Token
		if u := f.users[m[2]]; u != nil {
			toks = u.Tokens
		}
		if m[1] != "Id, AppName, DeleteToken" {
			writeJSON(w, 200, count(len(toks)))
			return
		}
		var recs []map[string]any
		for _, t := range toks {
			recs = append(recs, map[string]any{"Id": t.ID, "AppName": t.App, "DeleteToken": t.Delete})
		}
		writeJSON(w, 200, rows(recs...))
		return
	}
	if m := reOwnedQuery.FindStringSubmatch(q); m != nil {
		recsOf, ok := f.records[m[1]]
		if !ok {
			sfErr(w, 400, "INVALID_TYPE", "sObject type '"+m[1]+"' is not supported.")
			return
		}
		var ids []string
		for id, owner := range recsOf {
			if owner == m[2] {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		var recs []map[string]any
		for _, id := range ids[:min(len(ids), batchSize)] {
			recs = append(recs, map[string]any{"Id": id})
		}
		writeJSON(w, 200, rows(recs...))
		return
	}
	if m := reOwnedCount.FindStringSubmatch(q); m != nil {
		n := 0
		for _, owner := range f.records[m[1]] {
			if owner == m[2] {
				n++
			}
		}
		writeJSON(w, 200, count(n))
		return
	}
	f.violate("SOQL the fake does not know: %s", q)
	sfErr(w, 400, "MALFORMED_QUERY", "unknown query")
}

func (f *Fake) serveRevoke(w http.ResponseWriter, r *http.Request, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Header.Get("Authorization") != "" {
		f.violate("the revoke request carries an Authorization header")
	}
	form, _ := url.ParseQuery(string(body))
	tok := form.Get("token")
	for _, u := range f.users {
		for i, t := range u.Tokens {
			if t.Delete == tok {
				u.Tokens = slices.Delete(u.Tokens, i, i+1)
				w.WriteHeader(200)
				return
			}
		}
	}
	writeJSON(w, 400, map[string]string{"error": "invalid_token", "error_description": "invalid token"})
}

func (f *Fake) serveToken(w http.ResponseWriter, r *http.Request, body []byte, failWith int) {
	if failWith != 0 {
		if failWith >= 500 {
			w.WriteHeader(failWith)
			return
		}
		writeJSON(w, failWith, map[string]string{"error": "invalid_grant", "error_description": "user hasn't approved this consumer"})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("grant_type") != grantTypeJWT {
		f.mu.Lock()
		f.violate("token request form %q", body)
		f.mu.Unlock()
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type", "error_description": "grant type not supported"})
		return
	}
	if err := CheckAssertion(form.Get("assertion"), f.pub, f.ClientID, f.Username, loginProduction, time.Now()); err != nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": err.Error()})
		return
	}
	f.mu.Lock()
	f.tokenSeq++
	tok := fmt.Sprintf("%s%d", f.tokenPrefix, f.tokenSeq)
	f.tokens[tok] = true
	f.mu.Unlock()
	writeJSON(w, 200, map[string]string{"access_token": tok, "instance_url": f.Server.URL, "id": f.Server.URL + "/id/00D000000000001/005000000000KIN001", "token_type": "Bearer", "scope": "api"})
}

// CheckAssertion verifies a JWT bearer assertion as Salesforce does:
// RS256 signature by the app's key, iss, sub, aud, and an exp no more than
// a few minutes ahead.
func CheckAssertion(raw string, pub *rsa.PublicKey, iss, sub, aud string, now time.Time) error {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return fmt.Errorf("assertion: %v", err)
	}
	if typ, _ := tok.Headers[0].ExtraHeaders["typ"].(string); typ != "JWT" {
		return fmt.Errorf("assertion typ %q", typ)
	}
	var c jwt.Claims
	if err := tok.Claims(pub, &c); err != nil {
		return fmt.Errorf("assertion signature: %v", err)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: iss, Subject: sub, AnyAudience: jwt.Audience{aud}, Time: now}, 0); err != nil {
		return fmt.Errorf("assertion claims: %v", err)
	}
	if c.Expiry == nil || c.Expiry.Time().Sub(now) > 5*time.Minute {
		return fmt.Errorf("assertion exp %v too far ahead", c.Expiry)
	}
	return nil
}
