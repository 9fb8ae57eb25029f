package identitycenter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
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

// The fake speaks the SSO Admin and Identity Store JSON 1.1 APIs as the
// SDK sends them: a POST to / with Content-Type
// application/x-amz-json-1.1, the operation in X-Amz-Target
// (SWBExternalService.* signed for "sso", AWSIdentityStore.* signed for
// "identitystore"), a JSON body, and a SigV4 signature that it recomputes
// with the key's secret. It keeps state (users, groups, memberships,
// assignments, asynchronous deletions) so operations can be read back,
// logs every call with its decoded body, and fails the test on anything
// it does not expect.

const (
	keyID    = "AKIDKINETICSSO000001"
	keySec   = "sso-secret-c2VjcmV0LXNzbw"
	region   = "eu-west-1"
	instance = "arn:aws:sso:::instance/ssoins-1234567890abcdef"
	store    = "d-1234567890"
	psAdmin  = "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-aaaaaaaaaaaaaaaa"
	psRead   = "arn:aws:sso:::permissionSet/ssoins-1234567890abcdef/ps-bbbbbbbbbbbbbbbb"
	acctA    = "111111111111"
	acctB    = "222222222222"
)

type fext struct{ Issuer, ID string }

type fuser struct {
	id, name string
	emails   []string
	external []fext
	disabled bool
}

type fassign struct {
	account, ps, ptype, pid string
}

type fdeletion struct {
	a        fassign
	polls    int // DescribeAccountAssignmentDeletionStatus answers left before the outcome
	fail     string
	finished bool
}

type fcall struct {
	Target string
	Body   map[string]any
}

type finject struct {
	target string // "" any
	status int
	code   string
	count  int // 0: forever
}

type fakeSSO struct {
	t   *testing.T
	srv *httptest.Server

	mu          sync.Mutex
	users       map[string]*fuser
	groups      map[string]string    // id → display name
	memberships map[string][2]string // membership id → {group id, user id}
	assignments []fassign
	deletions   map[string]*fdeletion
	calls       []fcall
	inject      []*finject
	pollsToDone int    // IN_PROGRESS answers before a deletion succeeds
	failReason  string // a deletion that fails with this reason
	pageSize    int
	stall       chan struct{}
	nextID      int
	scp         string // the deny SCP's content
	scpType     string
	scpDropNext int // the next UpdatePolicy calls are "lost" to a concurrent writer
}

const scpID = "p-examplescp1"

func newFakeSSO(t *testing.T) *fakeSSO {
	f := &fakeSSO{
		t:           t,
		users:       map[string]*fuser{},
		groups:      map[string]string{},
		memberships: map[string][2]string{},
		deletions:   map[string]*fdeletion{},
		pollsToDone: 1,
		pageSize:    100,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// seedDana: dana has two direct assignments (admin in A, read-only in B),
// one through the engineers group (read-only in A), and two groups.
func (f *fakeSSO) seedDana() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users["94482488-3041-7026-18f3-be45837cd0e4"] = &fuser{id: "94482488-3041-7026-18f3-be45837cd0e4", name: "dana", emails: []string{"dana@example.com"}}
	f.users["c4d8e4a8-0001-7026-18f3-be45837cd0e4"] = &fuser{id: "c4d8e4a8-0001-7026-18f3-be45837cd0e4", name: "mulder", emails: []string{"mulder@example.com"}}
	f.groups["g-0000000001"] = "engineers"
	f.groups["g-0000000002"] = "all-staff"
	f.memberships["m-0000000001"] = [2]string{"g-0000000001", danaID}
	f.memberships["m-0000000002"] = [2]string{"g-0000000002", danaID}
	f.assignments = append(f.assignments,
		fassign{acctA, psAdmin, "USER", danaID},
		fassign{acctB, psRead, "USER", danaID},
		fassign{acctA, psRead, "GROUP", "g-0000000001"},
		fassign{acctA, psAdmin, "USER", "c4d8e4a8-0001-7026-18f3-be45837cd0e4"},
	)
}

const danaID = "94482488-3041-7026-18f3-be45837cd0e4"

func (f *fakeSSO) failNext(target string, status int, code string, count int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = append(f.inject, &finject{target: target, status: status, code: code, count: count})
}

func (f *fakeSSO) clearFailures() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = nil
}

func (f *fakeSSO) callLog() []fcall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeSSO) targets() []string {
	var out []string
	for _, c := range f.callLog() {
		out = append(out, strings.SplitN(c.Target, ".", 2)[1])
	}
	return out
}

var authRe = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)/([0-9]{8})/([a-z0-9-]+)/([a-z]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

func (f *fakeSSO) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read", 500)
		return
	}
	f.mu.Lock()
	stall := f.stall
	f.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-r.Context().Done():
			return
		}
	}
	target := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.URL.RawQuery != "" {
		f.t.Errorf("unexpected request %s %s (%s)", r.Method, r.URL, target)
		writeErr(w, 400, "UnknownOperationException", "unexpected request")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.t.Errorf("%s: Content-Type = %q, want application/x-amz-json-1.1", target, ct)
	}
	prefix, action, _ := strings.Cut(target, ".")
	wantService := map[string]string{"SWBExternalService": "sso", "AWSIdentityStore": "identitystore", "AWSOrganizationsV20161128": "organizations"}[prefix]
	if wantService == "" || action == "" {
		f.t.Errorf("X-Amz-Target %q is not an SSO Admin or Identity Store operation", target)
		writeErr(w, 400, "UnknownOperationException", "unknown target")
		return
	}
	m := authRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		f.t.Errorf("%s: Authorization %q is not SigV4", target, r.Header.Get("Authorization"))
		writeErr(w, 400, "MissingAuthenticationTokenException", "Missing Authentication Token")
		return
	}
	if m[3] != region && !(wantService == "organizations" && m[3] == "us-east-1") || m[4] != wantService {
		f.t.Errorf("%s: credential scope %s/%s, want %s/%s", target, m[3], m[4], region, wantService)
	}
	if m[1] != keyID {
		writeErr(w, 400, "UnrecognizedClientException", "The security token included in the request is invalid.")
		return
	}
	if !signatureOK(f.t, r, raw, keySec, m[4], m[5], m[6]) {
		writeErr(w, 400, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided.")
		return
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.t.Errorf("%s: body is not JSON: %v", target, err)
		writeErr(w, 400, "SerializationException", "bad JSON")
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fcall{Target: target, Body: body})
	for i, in := range f.inject {
		if in.target != "" && in.target != action {
			continue
		}
		if in.count > 0 {
			if in.count--; in.count == 0 {
				f.inject = slices.Delete(f.inject, i, i+1)
			}
		}
		switch in.code {
		case "!garbage":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(in.status)
			fmt.Fprint(w, "<html><body>proxy error page<p></body>")
		case "!retry-after":
			w.Header().Set("Retry-After", "7")
			writeErr(w, in.status, "ThrottlingException", "Rate exceeded")
		default:
			writeErr(w, in.status, in.code, "injected "+in.code)
		}
		return
	}
	str := func(k string) string { s, _ := body[k].(string); return s }
	need := func(keys ...string) bool {
		for _, k := range keys {
			if str(k) == "" {
				f.t.Errorf("%s without %s: %v", action, k, body)
				writeErr(w, 400, "ValidationException", k+" is required")
				return false
			}
		}
		return true
	}
	if prefix == "AWSOrganizationsV20161128" {
		f.organizations(w, action, body)
		return
	}
	if prefix == "AWSIdentityStore" {
		if !need("IdentityStoreId") {
			return
		}
		if str("IdentityStoreId") != store {
			writeErr(w, 400, "ResourceNotFoundException", "identity store not found")
			return
		}
	} else {
		if !need("InstanceArn") {
			return
		}
		if str("InstanceArn") != instance {
			f.t.Errorf("%s: InstanceArn %q", action, str("InstanceArn"))
		}
	}
	switch action {
	case "GetUserId":
		alt, _ := body["AlternateIdentifier"].(map[string]any)
		var found *fuser
		switch {
		case alt["UniqueAttribute"] != nil:
			ua := alt["UniqueAttribute"].(map[string]any)
			path, _ := ua["AttributePath"].(string)
			val, ok := ua["AttributeValue"].(string)
			if !ok {
				f.t.Errorf("GetUserId AttributeValue is not a JSON string: %v", ua["AttributeValue"])
			}
			for _, u := range f.users {
				switch path {
				case "userName":
					if strings.EqualFold(u.name, val) {
						found = u
					}
				case "emails.value":
					if slices.ContainsFunc(u.emails, func(e string) bool { return strings.EqualFold(e, val) }) {
						found = u
					}
				default:
					f.t.Errorf("GetUserId AttributePath %q", path)
				}
			}
		case alt["ExternalId"] != nil:
			ex := alt["ExternalId"].(map[string]any)
			for _, u := range f.users {
				if slices.Contains(u.external, fext{ex["Issuer"].(string), ex["Id"].(string)}) {
					found = u
				}
			}
		default:
			f.t.Errorf("GetUserId AlternateIdentifier %v", alt)
		}
		if found == nil {
			writeErr(w, 400, "ResourceNotFoundException", "USER not found.")
			return
		}
		writeJSON(w, map[string]any{"IdentityStoreId": store, "UserId": found.id})
	case "DescribeUser", "DeleteUser":
		if !need("UserId") {
			return
		}
		u := f.users[str("UserId")]
		if u == nil {
			writeErr(w, 400, "ResourceNotFoundException", "USER not found.")
			return
		}
		if action == "DeleteUser" {
			delete(f.users, u.id)
			writeJSON(w, map[string]any{})
			return
		}
		st := "ENABLED"
		if u.disabled {
			st = "DISABLED"
		}
		out := map[string]any{"IdentityStoreId": store, "UserId": u.id, "UserName": u.name, "UserStatus": st}
		var exts []map[string]string
		for _, e := range u.external {
			exts = append(exts, map[string]string{"Issuer": e.Issuer, "Id": e.ID})
		}
		if len(exts) > 0 {
			out["ExternalIds"] = exts
		}
		writeJSON(w, out)
	case "ListGroupMembershipsForMember":
		mem, _ := body["MemberId"].(map[string]any)
		uid, _ := mem["UserId"].(string)
		if f.users[uid] == nil {
			writeErr(w, 400, "ResourceNotFoundException", "USER not found.")
			return
		}
		var ids []string
		for id, m := range f.memberships {
			if m[1] == uid {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		start, _ := strconv.Atoi(str("NextToken"))
		end := min(start+f.pageSize, len(ids))
		var list []map[string]any
		for _, id := range ids[start:end] {
			list = append(list, map[string]any{"IdentityStoreId": store, "MembershipId": id, "GroupId": f.memberships[id][0], "MemberId": map[string]string{"UserId": uid}})
		}
		out := map[string]any{"GroupMemberships": list}
		if end < len(ids) {
			out["NextToken"] = strconv.Itoa(end)
		}
		writeJSON(w, out)
	case "DeleteGroupMembership":
		if !need("MembershipId") {
			return
		}
		if _, ok := f.memberships[str("MembershipId")]; !ok {
			writeErr(w, 400, "ResourceNotFoundException", "GROUP_MEMBERSHIP not found.")
			return
		}
		delete(f.memberships, str("MembershipId"))
		writeJSON(w, map[string]any{})
	case "DescribeGroup":
		if !need("GroupId") {
			return
		}
		name, ok := f.groups[str("GroupId")]
		if !ok {
			writeErr(w, 400, "ResourceNotFoundException", "GROUP not found.")
			return
		}
		writeJSON(w, map[string]any{"IdentityStoreId": store, "GroupId": str("GroupId"), "DisplayName": name})
	case "ListAccountAssignmentsForPrincipal":
		if !need("PrincipalId", "PrincipalType") {
			return
		}
		if str("PrincipalType") != "USER" {
			f.t.Errorf("PrincipalType %q", str("PrincipalType"))
		}
		uid := str("PrincipalId")
		if f.users[uid] == nil {
			writeErr(w, 400, "ResourceNotFoundException", "principal not found")
			return
		}
		var groups []string
		for _, m := range f.memberships {
			if m[1] == uid {
				groups = append(groups, m[0])
			}
		}
		var list []map[string]any
		for _, a := range f.assignments {
			if a.ptype == "USER" && a.pid == uid || a.ptype == "GROUP" && slices.Contains(groups, a.pid) {
				list = append(list, map[string]any{"AccountId": a.account, "PermissionSetArn": a.ps, "PrincipalId": a.pid, "PrincipalType": a.ptype})
			}
		}
		start, _ := strconv.Atoi(str("NextToken"))
		end := min(start+f.pageSize, len(list))
		out := map[string]any{"AccountAssignments": list[start:end]}
		if end < len(list) {
			out["NextToken"] = strconv.Itoa(end)
		}
		writeJSON(w, out)
	case "DeleteAccountAssignment":
		if !need("TargetId", "TargetType", "PermissionSetArn", "PrincipalType", "PrincipalId") {
			return
		}
		if str("TargetType") != "AWS_ACCOUNT" {
			f.t.Errorf("TargetType %q", str("TargetType"))
		}
		a := fassign{str("TargetId"), str("PermissionSetArn"), str("PrincipalType"), str("PrincipalId")}
		if !slices.Contains(f.assignments, a) {
			writeErr(w, 400, "ResourceNotFoundException", "assignment not found")
			return
		}
		f.nextID++
		id := fmt.Sprintf("a1b2c3d4-0000-0000-0000-%012d", f.nextID)
		d := &fdeletion{a: a, polls: f.pollsToDone, fail: f.failReason}
		f.deletions[id] = d
		st := "IN_PROGRESS"
		if d.polls < 0 {
			st = f.finish(d)
		}
		writeJSON(w, map[string]any{"AccountAssignmentDeletionStatus": deletionStatus(id, st, d)})
	case "DescribeAccountAssignmentDeletionStatus":
		if !need("AccountAssignmentDeletionRequestId") {
			return
		}
		id := str("AccountAssignmentDeletionRequestId")
		d := f.deletions[id]
		if d == nil {
			writeErr(w, 400, "ResourceNotFoundException", "request not found")
			return
		}
		st := "IN_PROGRESS"
		if d.polls--; d.polls <= 0 {
			st = f.finish(d)
		}
		writeJSON(w, map[string]any{"AccountAssignmentDeletionStatus": deletionStatus(id, st, d)})
	default:
		f.t.Errorf("unexpected operation %q", target)
		writeErr(w, 400, "UnknownOperationException", "unknown operation "+target)
	}
}

// organizations answers DescribePolicy and UpdatePolicy on the one SCP.
// The caller holds f.mu.
func (f *fakeSSO) organizations(w http.ResponseWriter, action string, body map[string]any) {
	id, _ := body["PolicyId"].(string)
	if id != scpID || f.scp == "" {
		writeErr(w, 400, "PolicyNotFoundException", "We can't find a policy with the PolicyId that you specified.")
		return
	}
	switch action {
	case "DescribePolicy":
		typ := f.scpType
		if typ == "" {
			typ = "SERVICE_CONTROL_POLICY"
		}
		writeJSON(w, map[string]any{"Policy": map[string]any{
			"Content":       f.scp,
			"PolicySummary": map[string]any{"Id": scpID, "Name": "kinetic-revoke-sessions", "Type": typ, "AwsManaged": false},
		}})
	case "UpdatePolicy":
		content, _ := body["Content"].(string)
		if !json.Valid([]byte(content)) {
			f.t.Errorf("UpdatePolicy Content is not JSON: %q", content)
		}
		if len(content) > 5120 {
			writeErr(w, 400, "ConstraintViolationException", "POLICY_CONTENT_LIMIT_EXCEEDED")
			return
		}
		if f.scpDropNext > 0 {
			f.scpDropNext--
		} else {
			f.scp = content
		}
		writeJSON(w, map[string]any{"Policy": map[string]any{"Content": content}})
	default:
		f.t.Errorf("unexpected Organizations operation %q", action)
		writeErr(w, 400, "UnknownOperationException", action)
	}
}

// finish completes a deletion; the caller holds f.mu.
func (f *fakeSSO) finish(d *fdeletion) string {
	if d.fail != "" {
		return "FAILED"
	}
	if !d.finished {
		d.finished = true
		f.assignments = slices.DeleteFunc(f.assignments, func(x fassign) bool { return x == d.a })
	}
	return "SUCCEEDED"
}

func deletionStatus(id, st string, d *fdeletion) map[string]any {
	out := map[string]any{"RequestId": id, "Status": st, "TargetId": d.a.account, "TargetType": "AWS_ACCOUNT",
		"PermissionSetArn": d.a.ps, "PrincipalType": d.a.ptype, "PrincipalId": d.a.pid, "CreatedDate": 1.7e9}
	if st == "FAILED" {
		out["FailureReason"] = d.fail
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

// writeErr answers as the JSON 1.1 protocol does: the status, and the
// error's shape in __type.
func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.identitystore#" + code, "Message": msg})
}

// signatureOK re-signs a copy of the request holding only the signed
// headers and compares the signatures.
func signatureOK(t *testing.T, r *http.Request, body []byte, secret, service, signed, sig string) bool {
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		t.Errorf("X-Amz-Date %q: %v", r.Header.Get("X-Amz-Date"), err)
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
	if !slices.Contains(strings.Split(signed, ";"), "x-amz-target") {
		t.Errorf("X-Amz-Target is not signed (%s)", signed)
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, cp, hex.EncodeToString(sum[:]), service, region, at); err != nil {
		t.Errorf("re-signing: %v", err)
		return false
	}
	got := authRe.FindStringSubmatch(cp.Header.Get("Authorization"))
	return got != nil && got[6] == sig
}
