package okta

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

// fakeOkta is a small stateful Okta org on httptest: users and groups in
// maps, Okta's lifecycle rules (deactivating a DEPROVISIONED user or
// suspending a user who is not ACTIVE is refused, as the real API does),
// Link-header pagination, rate-limit headers, API token and OAuth
// (private-key JWT) authentication, and injected failures. Every request a
// real org would refuse for a lifecycle reason is recorded as a violation
// and fails the test: the connector must read before it writes.
type fakeOkta struct {
	t   *testing.T
	srv *httptest.Server

	apiToken    string
	clientID    string
	pub         crypto.PublicKey // the service app's registered key
	tokenPrefix string           // every access token starts with it

	mu         sync.Mutex
	users      map[string]*fakeUser
	groups     map[string]*fakeGroup
	tokens     map[string]bool
	jtis       map[string]bool
	tokenSeq   int
	pageSize   int
	fail       []int // statuses for the next API requests, in order
	tokenFail  []int // statuses for the next token requests, in order
	slow       chan struct{}
	requests   []string // "METHOD /path" of every request, in order
	violations []string
	remaining  int
}

type fakeUser struct {
	ID, Status, Login, Email, EmployeeNumber string
	LastLogin                                time.Time
	Sessions                                 int
	Groups                                   []string // group ids, in membership order
}

type fakeGroup struct{ ID, Type, Name string }

func newFake(t *testing.T) *fakeOkta {
	f := &fakeOkta{
		t:           t,
		apiToken:    "00fakeApiToken-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		tokenPrefix: "fake-access-token-S3CR3T",
		users:       map[string]*fakeUser{},
		groups:      map[string]*fakeGroup{},
		tokens:      map[string]bool{},
		jtis:        map[string]bool{},
		pageSize:    200,
		remaining:   600,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.mu.Lock()
		if f.slow != nil {
			close(f.slow)
			f.slow = nil
		}
		f.mu.Unlock()
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, v := range f.violations {
			t.Errorf("fake Okta: the connector made a request a real org refuses: %s", v)
		}
	})
	return f
}

func (f *fakeOkta) addGroup(id, typ, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[id] = &fakeGroup{ID: id, Type: typ, Name: name}
}

func (f *fakeOkta) addUser(u *fakeUser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[u.ID] = u
}

func (f *fakeOkta) user(id string) fakeUser {
	f.mu.Lock()
	defer f.mu.Unlock()
	u := *f.users[id]
	u.Groups = slices.Clone(u.Groups)
	return u
}

// seedDana adds the usual subject: an ACTIVE user with two sessions, in
// Everyone, one imported AD group and four Okta groups.
func (f *fakeOkta) seedDana() {
	f.addGroup("00gEVERYONE", groupBuiltIn, "Everyone")
	f.addGroup("00gADSALES", groupApp, "AD Sales")
	f.addGroup("00gENG", groupOkta, "Engineering")
	f.addGroup("00gSTAFF", groupOkta, "Staff")
	f.addGroup("00gVPN", groupOkta, "VPN Users")
	f.addGroup("00gWIKI", groupOkta, "Wiki Editors")
	f.addUser(&fakeUser{
		ID: "00uDANA", Status: statusActive, Login: "dana@example.com", Email: "dana@example.com", EmployeeNumber: "E1001",
		LastLogin: time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC), Sessions: 2,
		Groups: []string{"00gEVERYONE", "00gADSALES", "00gENG", "00gSTAFF", "00gVPN", "00gWIKI"},
	})
}

// inject makes the next API requests answer with the given statuses
// (replacing earlier injections). Token requests are not affected.
func (f *fakeOkta) inject(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = statuses
}

// injectToken makes the next token requests answer with the given
// statuses.
func (f *fakeOkta) injectToken(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenFail = statuses
}

// setSlow makes every later request hang until the client gives up.
func (f *fakeOkta) setSlow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.slow == nil {
		f.slow = make(chan struct{})
	}
}

func (f *fakeOkta) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeOkta) resetLog() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = nil
}

func (f *fakeOkta) violate(format string, a ...any) {
	f.violations = append(f.violations, fmt.Sprintf(format, a...))
}

func (f *fakeOkta) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	slow := f.slow
	var failWith int
	switch {
	case r.URL.Path == "/oauth2/v1/token" && len(f.tokenFail) > 0:
		failWith, f.tokenFail = f.tokenFail[0], f.tokenFail[1:]
	case r.URL.Path != "/oauth2/v1/token" && len(f.fail) > 0:
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
	if r.URL.Path == "/oauth2/v1/token" {
		f.serveToken(w, r, body, failWith)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rateHeaders(w)
	if failWith != 0 {
		f.injected(w, r, failWith)
		return
	}
	auth := r.Header.Get("Authorization")
	switch {
	case f.apiToken != "" && auth == "SSWS "+f.apiToken:
	case strings.HasPrefix(auth, "Bearer ") && f.tokens[strings.TrimPrefix(auth, "Bearer ")]:
	default:
		f.oktaError(w, r, http.StatusUnauthorized, "E0000011", "Invalid token provided")
		return
	}
	f.route(w, r)
}

func (f *fakeOkta) rateHeaders(w http.ResponseWriter) {
	if f.remaining > 1 {
		f.remaining--
	}
	h := w.Header()
	h.Set("X-Rate-Limit-Limit", "600")
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(f.remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
}

func (f *fakeOkta) injected(w http.ResponseWriter, r *http.Request, status int) {
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(time.Now().Unix(), 10))
		w.Header().Set("Retry-After", "1")
		f.oktaError(w, r, status, "E0000047", "API call exceeded rate limit due to too many requests.")
	case http.StatusServiceUnavailable:
		f.oktaError(w, r, status, "E0000009", "Internal Server Error")
	case http.StatusUnauthorized:
		f.oktaError(w, r, status, "E0000011", "Invalid token provided")
	case http.StatusForbidden:
		f.oktaError(w, r, status, "E0000006", "You do not have permission to perform the requested action")
	case http.StatusNotFound:
		f.oktaError(w, r, status, "E0000007", "Not found: Resource not found: "+r.URL.Path)
	default:
		f.oktaError(w, r, status, "E0000001", "Api validation failed: injected")
	}
}

// oktaError writes Okta's error body. It echoes the request's
// Authorization header in a cause, so any connector that copies error
// bodies into its errors without redaction leaks the credential.
func (f *fakeOkta) oktaError(w http.ResponseWriter, r *http.Request, status int, code, summary string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errorCode":    code,
		"errorSummary": summary,
		"errorLink":    code,
		"errorId":      "oaeFAKE",
		"errorCauses":  []map[string]string{{"errorSummary": "request authorization: " + r.Header.Get("Authorization")}},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeOkta) findUser(idOrLogin string) *fakeUser {
	if u := f.users[idOrLogin]; u != nil {
		return u
	}
	for _, u := range f.users {
		if strings.EqualFold(u.Login, idOrLogin) {
			return u
		}
	}
	return nil
}

func (u *fakeUser) json() map[string]any {
	m := map[string]any{
		"id":     u.ID,
		"status": u.Status,
		"profile": map[string]any{
			"login": u.Login, "email": u.Email, "employeeNumber": u.EmployeeNumber,
		},
		"lastLogin": nil,
	}
	if !u.LastLogin.IsZero() {
		m["lastLogin"] = u.LastLogin.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return m
}

var searchRE = regexp.MustCompile(`^(profile\.\w+) eq "((?:[^"\\]|\\.)*)"$`)

// route serves the API under f.mu.
func (f *fakeOkta) route(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/"), "/")
	notFound := func() {
		f.oktaError(w, r, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.URL.Path)
	}
	switch {
	case r.Method == http.MethodGet && len(parts) == 1 && parts[0] == "users":
		m := searchRE.FindStringSubmatch(r.URL.Query().Get("search"))
		if m == nil {
			f.oktaError(w, r, http.StatusBadRequest, "E0000031", "Invalid search.")
			return
		}
		value := regexp.MustCompile(`\\(.)`).ReplaceAllString(m[2], "$1")
		out := []map[string]any{}
		for _, id := range sortedUserIDs(f.users) {
			u := f.users[id]
			var got string
			switch m[1] {
			case "profile.email":
				got = u.Email
			case "profile.employeeNumber":
				got = u.EmployeeNumber
			case "profile.login":
				got = u.Login
			}
			if strings.EqualFold(got, value) {
				out = append(out, u.json())
			}
		}
		writeJSON(w, http.StatusOK, out)

	case r.Method == http.MethodGet && len(parts) == 2 && parts[0] == "users":
		u := f.findUser(parts[1])
		if u == nil {
			notFound()
			return
		}
		writeJSON(w, http.StatusOK, u.json())

	case r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "users" && parts[2] == "groups":
		u := f.findUser(parts[1])
		if u == nil {
			notFound()
			return
		}
		limit := f.pageSize
		if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && l < limit {
			limit = l
		}
		start := 0
		if after := r.URL.Query().Get("after"); after != "" {
			start = slices.Index(u.Groups, after) + 1
		}
		end := min(start+limit, len(u.Groups))
		out := []map[string]any{}
		for _, gid := range u.Groups[start:end] {
			g := f.groups[gid]
			out = append(out, map[string]any{"id": g.ID, "type": g.Type, "profile": map[string]any{"name": g.Name}})
		}
		w.Header().Add("Link", fmt.Sprintf(`<%s%s?limit=%d>; rel="self"`, f.srv.URL, r.URL.Path, limit))
		if end < len(u.Groups) {
			w.Header().Add("Link", fmt.Sprintf(`<%s%s?after=%s&limit=%d>; rel="next"`, f.srv.URL, r.URL.Path, u.Groups[end-1], limit))
		}
		writeJSON(w, http.StatusOK, out)

	case r.Method == http.MethodPost && len(parts) == 4 && parts[0] == "users" && parts[2] == "lifecycle":
		u := f.findUser(parts[1])
		if u == nil {
			notFound()
			return
		}
		switch parts[3] {
		case "deactivate":
			if r.URL.Query().Get("sendEmail") != "false" {
				f.violate("deactivate without sendEmail=false")
			}
			if u.Status == statusDeprovisioned {
				f.violate("deactivate of DEPROVISIONED user %s", u.ID)
				f.oktaError(w, r, http.StatusForbidden, "E0000038", "This operation is not allowed in the user's current status.")
				return
			}
			u.Status, u.Sessions = statusDeprovisioned, 0
		case "suspend":
			if u.Status != statusActive {
				f.violate("suspend of %s user %s", u.Status, u.ID)
				f.oktaError(w, r, http.StatusBadRequest, "E0000001", "Api validation failed: Cannot suspend a user that is not active")
				return
			}
			u.Status, u.Sessions = statusSuspended, 0
		default:
			notFound()
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})

	case r.Method == http.MethodDelete && len(parts) == 3 && parts[0] == "users" && parts[2] == "sessions":
		u := f.findUser(parts[1])
		if u == nil {
			notFound()
			return
		}
		if r.URL.Query().Get("oauthTokens") != "true" {
			f.violate("session clear without oauthTokens=true")
		}
		u.Sessions = 0
		w.WriteHeader(http.StatusNoContent)

	case r.Method == http.MethodDelete && len(parts) == 4 && parts[0] == "groups" && parts[2] == "users":
		g, u := f.groups[parts[1]], f.users[parts[3]]
		if g == nil || u == nil {
			notFound()
			return
		}
		switch g.Type {
		case groupApp:
			f.violate("removal from APP_GROUP %s", g.ID)
			f.oktaError(w, r, http.StatusBadRequest, "E0000001", "Api validation failed: cannot modify an app group")
			return
		case groupBuiltIn:
			f.violate("removal from BUILT_IN %s", g.ID)
			f.oktaError(w, r, http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action")
			return
		}
		u.Groups = slices.DeleteFunc(u.Groups, func(id string) bool { return id == g.ID })
		w.WriteHeader(http.StatusNoContent)

	default:
		notFound()
	}
}

func sortedUserIDs(m map[string]*fakeUser) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// serveToken is the org authorization server's token endpoint: it checks
// the client credentials grant and the private-key JWT assertion the way
// Okta documents them, then issues an access token.
func (f *fakeOkta) serveToken(w http.ResponseWriter, r *http.Request, body []byte, failWith int) {
	oauthErr := func(status int, code, desc string) {
		writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
	}
	switch failWith {
	case 0:
	case http.StatusUnauthorized:
		oauthErr(failWith, "invalid_client", "The client_assertion token signature is invalid.")
		return
	case http.StatusForbidden:
		oauthErr(failWith, "access_denied", "The requested scope is not allowed.")
		return
	case http.StatusBadRequest, http.StatusNotFound:
		oauthErr(failWith, "invalid_request", "injected")
		return
	default:
		if failWith == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		oauthErr(failWith, "server_error", "injected")
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != "" {
		oauthErr(http.StatusBadRequest, "invalid_request", "POST without an Authorization header expected")
		return
	}
	form, err := parseForm(body)
	if err != nil {
		oauthErr(http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	claims, err := f.checkAssertion(form, f.srv.URL+"/oauth2/v1/token")
	if err != nil {
		oauthErr(http.StatusUnauthorized, "invalid_client", err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	jti, _ := claims["jti"].(string)
	if f.jtis[jti] {
		oauthErr(http.StatusUnauthorized, "invalid_client", "The client_assertion token has already been used (jti replay).")
		return
	}
	f.jtis[jti] = true
	f.tokenSeq++
	tok := fmt.Sprintf("%s-%d", f.tokenPrefix, f.tokenSeq)
	f.tokens[tok] = true
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": tok, "scope": form["scope"]})
}

func parseForm(body []byte) (map[string]string, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range vals {
		out[k] = v[0]
	}
	return out, nil
}

// checkAssertion verifies a client credentials request with a private-key
// JWT: grant and assertion types, signature with the registered public
// key, iss = sub = client id, aud = the token endpoint, exp in the future
// and at most an hour ahead, a jti.
func (f *fakeOkta) checkAssertion(form map[string]string, aud string) (map[string]any, error) {
	if form["grant_type"] != "client_credentials" {
		return nil, fmt.Errorf("grant_type %q", form["grant_type"])
	}
	if form["client_assertion_type"] != assertionType {
		return nil, fmt.Errorf("client_assertion_type %q", form["client_assertion_type"])
	}
	if _, ok := form["client_secret"]; ok {
		return nil, fmt.Errorf("client_secret sent")
	}
	header, claims, err := verifyJWT(form["client_assertion"], f.pub)
	if err != nil {
		return nil, err
	}
	if header["typ"] != "JWT" {
		return nil, fmt.Errorf("typ %v", header["typ"])
	}
	if claims["iss"] != f.clientID || claims["sub"] != f.clientID {
		return nil, fmt.Errorf("iss/sub %v/%v, want %s", claims["iss"], claims["sub"], f.clientID)
	}
	if claims["aud"] != aud {
		return nil, fmt.Errorf("aud %v, want %s", claims["aud"], aud)
	}
	exp, _ := claims["exp"].(float64)
	now := float64(time.Now().Unix())
	if exp <= now-5 || exp > now+3600 {
		return nil, fmt.Errorf("exp %v not within the next hour", exp)
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		return nil, fmt.Errorf("no jti")
	}
	return claims, nil
}

// verifyJWT checks a compact JWS signed RS256 or ES256 with pub and returns
// its header and claims.
func verifyJWT(token string, pub crypto.PublicKey) (map[string]any, map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("assertion is not a compact JWS")
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, nil, fmt.Errorf("assertion is not base64url")
	}
	var header, claims map[string]any
	if json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return nil, nil, fmt.Errorf("assertion is not JSON")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if header["alg"] != "RS256" {
			return nil, nil, fmt.Errorf("alg %v for an RSA key", header["alg"])
		}
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig); err != nil {
			return nil, nil, fmt.Errorf("signature: %v", err)
		}
	case *ecdsa.PublicKey:
		if header["alg"] != "ES256" || len(sig) != 64 {
			return nil, nil, fmt.Errorf("alg %v / signature length %d for an EC key", header["alg"], len(sig))
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(k, digest[:], r, s) {
			return nil, nil, fmt.Errorf("signature does not verify")
		}
	default:
		return nil, nil, fmt.Errorf("no public key registered")
	}
	return header, claims, nil
}

// fakes maps each connector built on a fake to it, for the conformance
// harness's InjectFailure and Slow.
var fakes sync.Map // *Connector → *fakeOkta

func fakeOf(t *testing.T, c connectors.Connector) *fakeOkta {
	t.Helper()
	f, ok := fakes.Load(c)
	if !ok {
		t.Fatalf("connector %p was not built on a fake", c)
	}
	return f.(*fakeOkta)
}
