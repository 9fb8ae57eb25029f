// Package iamtest is a stateful fake of AWS IAM and STS for tests: the
// awsiam connector's own tests and end-to-end tests of a departure.
package iamtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Fake speaks IAM's and STS's Query API as the AWS SDK for Go v2 sends it:
// a POST to / with a form body (Action=…&Version=…), signed with SigV4. It
// checks every request's method, path, content type, Version and signature
// (it re-signs the request with the secret of the access key named in the
// credential scope and compares), answers in the services' XML, and keeps
// per-account state so operations can be read back. A request it does not
// serve (another path, an IAM action it does not know, a missing
// parameter) fails the test.
type Fake struct {
	t testing.TB
	// Server is the fake's HTTP server: point both the IAM and the STS
	// endpoint at Server.URL.
	Server *httptest.Server

	// Mu guards the state; hold it to change a *User AddUser returned.
	Mu       sync.Mutex
	accounts map[string]*faccount
	secrets  map[string]string // access key id → secret
	tokens   map[string]string // temporary access key id → session token
	keyAcct  map[string]string // access key id → account
	roles    map[string]string // role ARN → external id required ("" none)
	calls    []Call
	inject   []*injection
	// PageSize is the page size of ListUsers (default 100); set it before
	// the first request.
	PageSize int
	// Stall, when set (under Mu), makes every request wait for it to be
	// closed or for its client to go.
	Stall chan struct{}
}

// The base credentials the fake accepts, the account they belong to and
// the signing region it expects.
const (
	Account    = "111111111111"
	KeyID      = "AKIDKINETICBASE00001"
	Secret     = "base-secret-Zm9vYmFyYmF6cXV4"
	Region     = "us-east-1"
	iamVersion = "2010-05-08"
	stsVersion = "2011-06-15"
)

// Key is an access key.
type Key struct {
	ID     string
	Active bool
}

// ServiceCredential is a service-specific credential (CodeCommit, Keyspaces).
type ServiceCredential struct{ ID, Service string }

// User is an IAM user and every credential it holds.
type User struct {
	Name, Path string
	Login      bool // a console login profile (password)
	Keys       []*Key
	MFA        []string // MFA device serial numbers
	SSH        []string // SSH public key ids
	Certs      []string // signing certificate ids
	Svc        []ServiceCredential
	Groups     []string
	Tags       map[string]string
	Policies   map[string]string // inline policy name → document (JSON)
}

func (u *User) arn(acct string) string { return "arn:aws:iam::" + acct + ":user" + u.Path + u.Name }

type faccount struct {
	users map[string]*User
	roles map[string]map[string]string // role name → inline policy name → document
}

// Call is one request the fake received.
type Call struct {
	Account string // the account the request acted in ("sts" for AssumeRole)
	Action  string
	Form    url.Values
}

// injection makes matching requests fail: Count times (0: forever).
type injection struct {
	action  string // "" any IAM action
	account string // "" any account
	status  int
	code    string
	count   int
}

// New starts a fake with one account (Account) whose base key is KeyID;
// it stops when the test ends.
func New(t testing.TB) *Fake {
	f := &Fake{
		t:        t,
		accounts: map[string]*faccount{Account: {users: map[string]*User{}}},
		secrets:  map[string]string{KeyID: Secret},
		tokens:   map[string]string{},
		keyAcct:  map[string]string{KeyID: Account},
		roles:    map[string]string{},
		PageSize: 100,
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Server.Close)
	return f
}

// SeedDana gives the user "dana" (tag hr-id=E100) every kind of
// credential in acct: a console password, an active and an inactive
// access key, an MFA device, an SSH key, a signing certificate, a
// service-specific credential and three groups.
func (f *Fake) SeedDana(acct string) *User {
	return f.AddUser(acct, &User{
		Name:   "dana",
		Login:  true,
		Keys:   []*Key{{ID: "AKIADANA000000000001", Active: true}, {ID: "AKIADANA000000000002", Active: false}},
		MFA:    []string{"arn:aws:iam::" + acct + ":mfa/dana"},
		SSH:    []string{"APKADANA0001"},
		Certs:  []string{"CERTDANA0001"},
		Svc:    []ServiceCredential{{ID: "ACCADANA0001", Service: "codecommit.amazonaws.com"}},
		Groups: []string{"developers", "billing", "all-staff"},
		Tags:   map[string]string{"hr-id": "E100"},
	})
}

// Counts is the number of requests per action, keyed "POST / Action"
// (IAM's and STS's Query API puts every action on POST /).
func (f *Fake) Counts() map[string]int {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	n := map[string]int{}
	for _, c := range f.calls {
		n["POST / "+c.Action]++
	}
	return n
}

// AddAccount adds an account reached by assuming role (external id ext).
func (f *Fake) AddAccount(id, role, ext string) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.accounts[id] = &faccount{users: map[string]*User{}}
	f.roles[role] = ext
}

// AddUser adds u to account acct and returns it.
func (f *Fake) AddUser(acct string, u *User) *User {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if u.Path == "" {
		u.Path = "/"
	}
	if u.Tags == nil {
		u.Tags = map[string]string{}
	}
	f.accounts[acct].users[u.Name] = u
	return u
}

// User returns the named user of acct (nil when absent); hold Mu to read
// its fields while requests may run.
func (f *Fake) User(acct, name string) *User {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.accounts[acct].users[name]
}

// FailNext makes the next count matching requests fail (count 0: all).
func (f *Fake) FailNext(action, account string, status int, code string, count int) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.inject = append(f.inject, &injection{action: action, account: account, status: status, code: code, count: count})
}

// ClearFailures drops every injected failure.
func (f *Fake) ClearFailures() {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	f.inject = nil
}

// Calls returns every request received, in order.
func (f *Fake) Calls() []Call {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return slices.Clone(f.calls)
}

// Actions returns the action of every request received, in order.
func (f *Fake) Actions() []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.Action)
	}
	return out
}

var authRe = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)/([0-9]{8})/([a-z0-9-]+)/([a-z]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", 500)
		return
	}
	// Stall after reading the body: only then does the server watch the
	// connection and cancel r.Context() when the client goes away.
	f.Mu.Lock()
	stall := f.Stall
	f.Mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-r.Context().Done():
			return
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.URL.RawQuery != "" {
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		writeError(w, 400, "InvalidAction", "unexpected request")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		f.t.Errorf("Content-Type = %q, want a form", ct)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		f.t.Errorf("body is not a form: %v", err)
		writeError(w, 400, "MalformedQueryString", "bad form")
		return
	}
	action := form.Get("Action")

	// SigV4: the credential scope names the key, date, Region and
	// service; the signature must be the one the key's secret gives.
	m := authRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		f.t.Errorf("%s: Authorization %q is not SigV4", action, r.Header.Get("Authorization"))
		writeError(w, 403, "MissingAuthenticationToken", "Request is missing Authentication Token")
		return
	}
	keyID, scopeRegion, service := m[1], m[3], m[4]
	wantService, wantVersion := "iam", iamVersion
	if action == "AssumeRole" {
		wantService, wantVersion = "sts", stsVersion
	}
	if service != wantService || scopeRegion != Region {
		f.t.Errorf("%s: credential scope %s/%s, want %s/%s", action, scopeRegion, service, Region, wantService)
	}
	if v := form.Get("Version"); v != wantVersion {
		f.t.Errorf("%s: Version = %q, want %s", action, v, wantVersion)
	}
	f.Mu.Lock()
	secret, known := f.secrets[keyID]
	token := f.tokens[keyID]
	acct := f.keyAcct[keyID]
	f.Mu.Unlock()
	if !known {
		writeError(w, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	}
	if token != "" && r.Header.Get("X-Amz-Security-Token") != token {
		writeError(w, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")
		return
	}
	if !f.signatureOK(r, body, keyID, secret, token, service, m[5], m[6]) {
		writeError(w, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
		return
	}

	f.Mu.Lock()
	defer f.Mu.Unlock()
	logAcct := acct
	if action == "AssumeRole" {
		logAcct = "sts"
	}
	f.calls = append(f.calls, Call{Account: logAcct, Action: action, Form: form})
	for i, in := range f.inject {
		if (in.action == "" && action != "AssumeRole" || in.action == action) && (in.account == "" || in.account == acct) {
			if in.count > 0 {
				if in.count--; in.count == 0 {
					f.inject = slices.Delete(f.inject, i, i+1)
				}
			}
			switch {
			case in.code == "!garbage":
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(in.status)
				fmt.Fprint(w, "<html><body>proxy error page<p></body>")
			case in.code == "!retry-after":
				w.Header().Set("Retry-After", "7")
				writeError(w, in.status, "TooManyRequestsException", "slow down")
			default:
				writeError(w, in.status, in.code, "injected "+in.code)
			}
			return
		}
	}
	if action == "AssumeRole" {
		f.assumeRole(w, form)
		return
	}
	f.iam(w, f.accounts[acct], acct, action, form)
}

// signatureOK re-signs a copy of the request holding only the signed
// headers and compares the signatures.
func (f *Fake) signatureOK(r *http.Request, body []byte, keyID, secret, token, service, signed, sig string) bool {
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		f.t.Errorf("X-Amz-Date %q: %v", r.Header.Get("X-Amz-Date"), err)
		return false
	}
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	cp, _ := http.NewRequest(r.Method, u.String(), nil)
	for _, h := range strings.Split(signed, ";") {
		if h == "host" {
			continue
		}
		cp.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
	}
	if slices.Contains(strings.Split(signed, ";"), "content-length") {
		cp.ContentLength = r.ContentLength
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, cp, hex.EncodeToString(sum[:]), service, Region, at); err != nil {
		f.t.Errorf("re-signing: %v", err)
		return false
	}
	got := authRe.FindStringSubmatch(cp.Header.Get("Authorization"))
	return got != nil && got[6] == sig
}

func (f *Fake) assumeRole(w http.ResponseWriter, form url.Values) {
	role := form.Get("RoleArn")
	ext, ok := f.roles[role]
	if !ok || form.Get("ExternalId") != ext {
		writeError(w, 403, "AccessDenied", "User: arn:aws:iam::"+Account+":user/kinetic is not authorized to perform: sts:AssumeRole on resource: "+role)
		return
	}
	if form.Get("RoleSessionName") == "" {
		f.t.Errorf("AssumeRole without RoleSessionName")
	}
	if d, _ := strconv.Atoi(form.Get("DurationSeconds")); d != 900 {
		f.t.Errorf("AssumeRole DurationSeconds = %q, want 900", form.Get("DurationSeconds"))
	}
	acct := strings.Split(role, ":")[4]
	n := len(f.secrets)
	keyID := fmt.Sprintf("ASIA%s%04d", acct, n)
	f.secrets[keyID] = "temp-secret-" + keyID
	f.tokens[keyID] = "temp-token-" + keyID
	f.keyAcct[keyID] = acct
	exp := time.Now().Add(15 * time.Minute).UTC().Format(time.RFC3339)
	writeResult(w, "AssumeRole", stsVersion, fmt.Sprintf(
		`<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>`+
			`<AssumedRoleUser><Arn>%s/kinetic</Arn><AssumedRoleId>AROA:kinetic</AssumedRoleId></AssumedRoleUser>`,
		keyID, f.secrets[keyID], f.tokens[keyID], exp, esc(role)))
}

const created = "2024-01-02T03:04:05Z"

// iam answers one IAM action against account a. The caller holds f.Mu.
func (f *Fake) iam(w http.ResponseWriter, a *faccount, acct, action string, form url.Values) {
	need := func(keys ...string) bool {
		for _, k := range keys {
			if form.Get(k) == "" {
				f.t.Errorf("%s without %s: %v", action, k, form)
				writeError(w, 400, "ValidationError", k+" is required")
				return false
			}
		}
		return true
	}
	switch action {
	case "GetRolePolicy", "PutRolePolicy":
		if !need("RoleName", "PolicyName") {
			return
		}
		pols, ok := a.roles[form.Get("RoleName")]
		if !ok {
			writeError(w, 404, "NoSuchEntity", "The role with name "+form.Get("RoleName")+" cannot be found.")
			return
		}
		f.policy(w, action, pols, form)
		return
	}
	var u *User
	if action != "ListUsers" {
		if !need("UserName") {
			return
		}
		u = a.users[form.Get("UserName")]
		if u == nil {
			writeError(w, 404, "NoSuchEntity", "The user with name "+form.Get("UserName")+" cannot be found.")
			return
		}
	}
	var b strings.Builder
	switch action {
	case "GetUser":
		fmt.Fprintf(&b, `<User>%s</User>`, userXML(acct, u))
	case "ListUsers":
		prefix := form.Get("PathPrefix")
		var names []string
		for n, x := range a.users {
			if prefix == "" || strings.HasPrefix(x.Path, prefix) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		start := 0
		if mk := form.Get("Marker"); mk != "" {
			start, _ = strconv.Atoi(mk)
		}
		end := min(start+f.PageSize, len(names))
		b.WriteString("<Users>")
		for _, n := range names[start:end] {
			fmt.Fprintf(&b, `<member>%s</member>`, userXML(acct, a.users[n]))
		}
		b.WriteString("</Users>")
		if end < len(names) {
			fmt.Fprintf(&b, `<IsTruncated>true</IsTruncated><Marker>%d</Marker>`, end)
		} else {
			b.WriteString(`<IsTruncated>false</IsTruncated>`)
		}
	case "ListUserTags":
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range u.Tags {
				if !yield(k) {
					return
				}
			}
		})
		b.WriteString("<Tags>")
		for _, k := range keys {
			fmt.Fprintf(&b, `<member><Key>%s</Key><Value>%s</Value></member>`, esc(k), esc(u.Tags[k]))
		}
		b.WriteString("</Tags><IsTruncated>false</IsTruncated>")
	case "TagUser":
		if !need("Tags.member.1.Key") {
			return
		}
		for i := 1; form.Get(fmt.Sprintf("Tags.member.%d.Key", i)) != ""; i++ {
			u.Tags[form.Get(fmt.Sprintf("Tags.member.%d.Key", i))] = form.Get(fmt.Sprintf("Tags.member.%d.Value", i))
		}
	case "UntagUser":
		if !need("TagKeys.member.1") {
			return
		}
		for i := 1; form.Get(fmt.Sprintf("TagKeys.member.%d", i)) != ""; i++ {
			delete(u.Tags, form.Get(fmt.Sprintf("TagKeys.member.%d", i)))
		}
	case "GetLoginProfile":
		if !u.Login {
			writeError(w, 404, "NoSuchEntity", "Login Profile for User "+u.Name+" cannot be found.")
			return
		}
		fmt.Fprintf(&b, `<LoginProfile><UserName>%s</UserName><CreateDate>%s</CreateDate><PasswordResetRequired>false</PasswordResetRequired></LoginProfile>`, esc(u.Name), created)
	case "DeleteLoginProfile":
		if !u.Login {
			writeError(w, 404, "NoSuchEntity", "Login Profile for User "+u.Name+" cannot be found.")
			return
		}
		u.Login = false
	case "ListAccessKeys":
		b.WriteString("<AccessKeyMetadata>")
		for _, k := range u.Keys {
			st := "Inactive"
			if k.Active {
				st = "Active"
			}
			fmt.Fprintf(&b, `<member><UserName>%s</UserName><AccessKeyId>%s</AccessKeyId><Status>%s</Status><CreateDate>%s</CreateDate></member>`, esc(u.Name), k.ID, st, created)
		}
		b.WriteString("</AccessKeyMetadata><IsTruncated>false</IsTruncated>")
	case "UpdateAccessKey", "DeleteAccessKey":
		if !need("AccessKeyId") {
			return
		}
		i := slices.IndexFunc(u.Keys, func(k *Key) bool { return k.ID == form.Get("AccessKeyId") })
		if i < 0 {
			writeError(w, 404, "NoSuchEntity", "The Access Key with id "+form.Get("AccessKeyId")+" cannot be found.")
			return
		}
		if action == "DeleteAccessKey" {
			u.Keys = slices.Delete(u.Keys, i, i+1)
			break
		}
		switch form.Get("Status") {
		case "Inactive":
			u.Keys[i].Active = false
		case "Active":
			u.Keys[i].Active = true
		default:
			f.t.Errorf("UpdateAccessKey Status = %q", form.Get("Status"))
		}
	case "ListMFADevices":
		b.WriteString("<MFADevices>")
		for _, s := range u.MFA {
			fmt.Fprintf(&b, `<member><UserName>%s</UserName><SerialNumber>%s</SerialNumber><EnableDate>%s</EnableDate></member>`, esc(u.Name), esc(s), created)
		}
		b.WriteString("</MFADevices><IsTruncated>false</IsTruncated>")
	case "DeactivateMFADevice":
		if !need("SerialNumber") || !remove(w, &u.MFA, form.Get("SerialNumber")) {
			return
		}
	case "ListSSHPublicKeys":
		b.WriteString("<SSHPublicKeys>")
		for _, s := range u.SSH {
			fmt.Fprintf(&b, `<member><UserName>%s</UserName><SSHPublicKeyId>%s</SSHPublicKeyId><Status>Active</Status><UploadDate>%s</UploadDate></member>`, esc(u.Name), s, created)
		}
		b.WriteString("</SSHPublicKeys><IsTruncated>false</IsTruncated>")
	case "DeleteSSHPublicKey":
		if !need("SSHPublicKeyId") || !remove(w, &u.SSH, form.Get("SSHPublicKeyId")) {
			return
		}
	case "ListSigningCertificates":
		b.WriteString("<Certificates>")
		for _, s := range u.Certs {
			fmt.Fprintf(&b, `<member><UserName>%s</UserName><CertificateId>%s</CertificateId><CertificateBody>-----BEGIN CERTIFICATE-----</CertificateBody><Status>Active</Status><UploadDate>%s</UploadDate></member>`, esc(u.Name), s, created)
		}
		b.WriteString("</Certificates><IsTruncated>false</IsTruncated>")
	case "DeleteSigningCertificate":
		if !need("CertificateId") || !remove(w, &u.Certs, form.Get("CertificateId")) {
			return
		}
	case "ListServiceSpecificCredentials":
		b.WriteString("<ServiceSpecificCredentials>")
		for _, s := range u.Svc {
			fmt.Fprintf(&b, `<member><UserName>%s</UserName><Status>Active</Status><ServiceUserName>%s-at-%s</ServiceUserName><CreateDate>%s</CreateDate><ServiceSpecificCredentialId>%s</ServiceSpecificCredentialId><ServiceName>%s</ServiceName></member>`, esc(u.Name), esc(u.Name), acct, created, s.ID, s.Service)
		}
		b.WriteString("</ServiceSpecificCredentials><IsTruncated>false</IsTruncated>")
	case "DeleteServiceSpecificCredential":
		if !need("ServiceSpecificCredentialId") {
			return
		}
		i := slices.IndexFunc(u.Svc, func(s ServiceCredential) bool { return s.ID == form.Get("ServiceSpecificCredentialId") })
		if i < 0 {
			writeError(w, 404, "NoSuchEntity", "no such credential")
			return
		}
		u.Svc = slices.Delete(u.Svc, i, i+1)
	case "ListGroupsForUser":
		b.WriteString("<Groups>")
		for _, g := range u.Groups {
			fmt.Fprintf(&b, `<member><Path>/</Path><GroupName>%s</GroupName><GroupId>AGPA%s</GroupId><Arn>arn:aws:iam::%s:group/%s</Arn><CreateDate>%s</CreateDate></member>`, esc(g), strings.ToUpper(g), acct, esc(g), created)
		}
		b.WriteString("</Groups><IsTruncated>false</IsTruncated>")
	case "GetUserPolicy", "PutUserPolicy":
		if !need("PolicyName") {
			return
		}
		if u.Policies == nil {
			u.Policies = map[string]string{}
		}
		f.policy(w, action, u.Policies, form)
		return
	case "RemoveUserFromGroup":
		if !need("GroupName") || !remove(w, &u.Groups, form.Get("GroupName")) {
			return
		}
	default:
		f.t.Errorf("unexpected IAM action %q", action)
		writeError(w, 400, "InvalidAction", "unknown action "+action)
		return
	}
	writeResult(w, action, iamVersion, b.String())
}

// policy answers Get/Put{User,Role}Policy on pols. A written document must
// be JSON; a read one is URL-encoded as IAM returns it.
func (f *Fake) policy(w http.ResponseWriter, action string, pols map[string]string, form url.Values) {
	name := form.Get("PolicyName")
	if strings.HasPrefix(action, "Put") {
		doc := form.Get("PolicyDocument")
		if !json.Valid([]byte(doc)) {
			f.t.Errorf("%s: PolicyDocument is not JSON: %q", action, doc)
			writeError(w, 400, "MalformedPolicyDocument", "not JSON")
			return
		}
		pols[name] = doc
		writeResult(w, action, iamVersion, "")
		return
	}
	doc, ok := pols[name]
	if !ok {
		writeError(w, 404, "NoSuchEntity", "The policy with name "+name+" cannot be found.")
		return
	}
	who := "<UserName>" + esc(form.Get("UserName")) + "</UserName>"
	if action == "GetRolePolicy" {
		who = "<RoleName>" + esc(form.Get("RoleName")) + "</RoleName>"
	}
	writeResult(w, action, iamVersion, who+"<PolicyName>"+esc(name)+"</PolicyName><PolicyDocument>"+esc(url.PathEscape(doc))+"</PolicyDocument>")
}

// AddRole adds a role (no inline policy) to acct.
func (f *Fake) AddRole(acct, name string) {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	if f.accounts[acct].roles == nil {
		f.accounts[acct].roles = map[string]map[string]string{}
	}
	f.accounts[acct].roles[name] = map[string]string{}
}

// RolePolicy returns a role's inline policy document ("" none).
func (f *Fake) RolePolicy(acct, role, name string) string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.accounts[acct].roles[role][name]
}

// UserPolicy returns a user's inline policy document ("" none).
func (f *Fake) UserPolicy(acct, user, name string) string {
	f.Mu.Lock()
	defer f.Mu.Unlock()
	return f.accounts[acct].users[user].Policies[name]
}

// remove deletes v from *list, answering NoSuchEntity when it is absent.
func remove(w http.ResponseWriter, list *[]string, v string) bool {
	i := slices.Index(*list, v)
	if i < 0 {
		writeError(w, 404, "NoSuchEntity", v+" cannot be found.")
		return false
	}
	*list = slices.Delete(*list, i, i+1)
	return true
}

func userXML(acct string, u *User) string {
	return fmt.Sprintf(`<Path>%s</Path><UserName>%s</UserName><UserId>AIDA%s</UserId><Arn>%s</Arn><CreateDate>%s</CreateDate>`,
		esc(u.Path), esc(u.Name), strings.ToUpper(strings.NewReplacer("@", "", ".", "").Replace(u.Name)), esc(u.arn(acct)), created)
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func writeResult(w http.ResponseWriter, action, version, inner string) {
	ns := "https://iam.amazonaws.com/doc/" + version + "/"
	if version == stsVersion {
		ns = "https://sts.amazonaws.com/doc/" + version + "/"
	}
	w.Header().Set("Content-Type", "text/xml")
	result := ""
	if inner != "" {
		result = fmt.Sprintf("<%sResult>%s</%sResult>", action, inner, action)
	}
	fmt.Fprintf(w, `<%sResponse xmlns="%s">%s<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></%sResponse>`, action, ns, result, action)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-err</RequestId></ErrorResponse>`, typ, code, esc(msg))
}
