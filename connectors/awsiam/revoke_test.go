package awsiam

import (
	"encoding/json"
	"github.com/kineticsec/kinetic/connectors/awsiam/iamtest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
)

// wantRevokeDoc checks a written revoke policy: one Deny of every action
// on every resource for sessions issued before at.
func wantRevokeDoc(t *testing.T, doc string, at time.Time) {
	t.Helper()
	var d struct {
		Version   string
		Statement []struct {
			Sid       string
			Effect    string
			Action    []string
			Resource  []string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatalf("policy %q: %v", doc, err)
	}
	if d.Version != "2012-10-17" || len(d.Statement) != 1 {
		t.Fatalf("policy %s: want version 2012-10-17 and one statement", doc)
	}
	st := d.Statement[0]
	if st.Effect != "Deny" || !slices.Equal(st.Action, []string{"*"}) || !slices.Equal(st.Resource, []string{"*"}) {
		t.Errorf("statement %+v: want Deny * on *", st)
	}
	if got := st.Condition["DateLessThan"]["aws:TokenIssueTime"]; got != at.UTC().Format(time.RFC3339) {
		t.Errorf("aws:TokenIssueTime condition = %q, want %s", got, at.UTC().Format(time.RFC3339))
	}
	if !strings.HasPrefix(st.Sid, "KineticRevoke") {
		t.Errorf("Sid = %q", st.Sid)
	}
}

// TestRevokeSessions: the user's inline policy, then each listed role's
// AWSRevokeOlderSessions, each request in order, read back; a retry with
// the same idempotency key changes nothing; a later case moves the time.
func TestRevokeSessions(t *testing.T) {
	f := iamtest.New(t)
	f.SeedDana(iamtest.Account)
	f.AddRole(iamtest.Account, "Admin")
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	cfg := fakeConfig(f)
	cfg.RevokeSessionRoles = []string{"arn:aws:iam::" + iamtest.Account + ":role/team/Admin"}
	c := newConn(t, cfg, WithClock(func() time.Time { return now }))
	req := connectors.Request{Operation: connectors.OpRevokeSessions, Subject: dana, IdempotencyKey: "case-1/action-7"}

	res, err := c.Do(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != connectors.OutcomeDone {
		t.Fatalf("outcome %s (%s)", res.Outcome, res.Detail)
	}
	type step struct{ action, name string }
	var got []step
	for _, cl := range f.Calls() {
		n := cl.Form.Get("UserName")
		if n == "" {
			n = cl.Form.Get("RoleName")
		}
		got = append(got, step{cl.Action, n})
		if p := cl.Form.Get("PolicyName"); strings.Contains(cl.Action, "Policy") {
			want := UserPolicyName
			if strings.Contains(cl.Action, "Role") {
				want = RolePolicyName
			}
			if p != want {
				t.Errorf("%s PolicyName = %q, want %q", cl.Action, p, want)
			}
		}
	}
	want := []step{
		{"GetUser", "dana"}, {"GetUser", "dana@example.com"},
		{"GetUserPolicy", "dana"}, {"PutUserPolicy", "dana"}, {"GetUserPolicy", "dana"},
		{"GetRolePolicy", "Admin"}, {"PutRolePolicy", "Admin"}, {"GetRolePolicy", "Admin"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("requests:\n got %v\nwant %v", got, want)
	}
	wantRevokeDoc(t, f.UserPolicy(iamtest.Account, "dana", UserPolicyName), now)
	wantRevokeDoc(t, f.RolePolicy(iamtest.Account, "Admin", RolePolicyName), now)
	if res.Data["revoked"] != "arn:aws:iam::"+iamtest.Account+":user/dana,"+cfg.RevokeSessionRoles[0] {
		t.Errorf("data %v", res.Data)
	}

	t.Run("a retry of the same action is already done", func(t *testing.T) {
		now = now.Add(time.Minute)
		n := len(f.Calls())
		res, err := c.Do(ctxT(t), req)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("Do = %s, %v (%s)", res.Outcome, err, res.Detail)
		}
		for _, cl := range f.Calls()[n:] {
			if strings.HasPrefix(cl.Action, "Put") {
				t.Errorf("retry wrote %s", cl.Action)
			}
		}
		v, err := c.Verify(ctxT(t), req)
		if err != nil || !v.OK {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
	})
	t.Run("a later case moves the time forward", func(t *testing.T) {
		now = now.Add(time.Hour)
		later := req
		later.IdempotencyKey = "case-2/action-1"
		res, err := c.Do(ctxT(t), later)
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %s, %v (%s)", res.Outcome, err, res.Detail)
		}
		wantRevokeDoc(t, f.UserPolicy(iamtest.Account, "dana", UserPolicyName), now)
		wantRevokeDoc(t, f.RolePolicy(iamtest.Account, "Admin", RolePolicyName), now)
	})
}

// TestRevokeSessionsNeverMovesBack: a policy already denying sessions up
// to a later time (the console's revocation, a clock ahead) is kept.
func TestRevokeSessionsNeverMovesBack(t *testing.T) {
	f := iamtest.New(t)
	f.SeedDana(iamtest.Account)
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	f.User(iamtest.Account, "dana").Policies = map[string]string{UserPolicyName: revokeDocument("Console", now.Add(time.Hour))}
	c := newConn(t, fakeConfig(f), WithClock(func() time.Time { return now }))
	res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpRevokeSessions, Subject: dana, IdempotencyKey: "k"})
	if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("Do = %s, %v (%s)", res.Outcome, err, res.Detail)
	}
	if countOf(f.Actions(), "PutUserPolicy") != 0 {
		t.Error("wrote over a later revocation")
	}
}

// TestRevokeSessionsRolesWithoutUser: a person with no IAM user has the
// roles revoked only when the request says always_revoke_roles.
func TestRevokeSessionsRolesWithoutUser(t *testing.T) {
	f := iamtest.New(t)
	f.AddRole(iamtest.Account, "Admin")
	cfg := fakeConfig(f)
	cfg.RevokeSessionRoles = []string{"arn:aws:iam::" + iamtest.Account + ":role/Admin"}
	c := newConn(t, cfg)
	req := connectors.Request{Operation: connectors.OpRevokeSessions, Subject: dana, IdempotencyKey: "k"}
	res, err := c.Do(ctxT(t), req)
	if err != nil || res.Outcome != connectors.OutcomeNoneFound {
		t.Fatalf("Do = %s, %v", res.Outcome, err)
	}
	if countOf(f.Actions(), "PutRolePolicy") != 0 {
		t.Fatal("revoked a role for a person with no IAM user")
	}
	req.Params = map[string]string{"always_revoke_roles": "true"}
	res, err = c.Do(ctxT(t), req)
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("Do = %s, %v (%s)", res.Outcome, err, res.Detail)
	}
	if v, err := c.Verify(ctxT(t), req); err != nil || !v.OK {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
}

// TestRevokeSessionsPartial: a role whose PutRolePolicy is denied does not
// stop the user's revocation; the error is forbidden and names the role.
func TestRevokeSessionsPartial(t *testing.T) {
	f := iamtest.New(t)
	f.SeedDana(iamtest.Account)
	f.AddRole(iamtest.Account, "Admin")
	f.AddRole(iamtest.Account, "ReadOnly")
	cfg := fakeConfig(f)
	cfg.RevokeSessionRoles = []string{"arn:aws:iam::" + iamtest.Account + ":role/Admin", "arn:aws:iam::" + iamtest.Account + ":role/ReadOnly"}
	c := newConn(t, cfg)
	f.FailNext("PutRolePolicy", "", 403, "AccessDenied", 1)
	res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpRevokeSessions, Subject: dana, IdempotencyKey: "k"})
	wantKind(t, err, connectors.KindForbidden)
	if !strings.Contains(err.Error(), "role arn:aws:iam::"+iamtest.Account+":role/Admin") {
		t.Errorf("error %q does not name the role", err)
	}
	if res.Outcome != connectors.OutcomeDone || f.UserPolicy(iamtest.Account, "dana", UserPolicyName) == "" || f.RolePolicy(iamtest.Account, "ReadOnly", RolePolicyName) == "" {
		t.Fatalf("the rest was not revoked: %s (%s)", res.Outcome, res.Detail)
	}
}

func TestParseRevocation(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"ours", url.PathEscape(revokeDocument("S", at)), true},
		{"console form, strings not lists", url.PathEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-02T03:04:05Z"}}}]}`), true},
		{"allow is not a revocation", url.PathEscape(`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-02T03:04:05Z"}}}]}`), false},
		{"not every action", url.PathEscape(`{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-02T03:04:05Z"}}}]}`), false},
		{"no condition", url.PathEscape(`{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`), false},
		{"garbage", "%7Bnot json", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rv, ok := parseRevocation(tc.doc)
			if ok != tc.ok || ok && !rv.before.Equal(at) {
				t.Fatalf("parse = %+v, %t; want ok=%t", rv, ok, tc.ok)
			}
		})
	}
}

func TestValidateRevokeSessionRoles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		wants string
	}{
		{"not an ARN", Config{RevokeSessionRoles: []string{"Admin"}}, `revoke_session_roles[0]: "Admin" is not an IAM role ARN`},
		{"service-linked", Config{RevokeSessionRoles: []string{"arn:aws:iam::111111111111:role/aws-service-role/sso.amazonaws.com/AWSServiceRoleForSSO"}}, "revoke_session_roles[0]: \"arn:aws:iam::111111111111:role/aws-service-role/sso.amazonaws.com/AWSServiceRoleForSSO\" is a service-linked role"},
		{"account not listed", Config{Accounts: []Account{{ID: "111111111111"}}, RevokeSessionRoles: []string{"arn:aws:iam::222222222222:role/Admin"}}, "revoke_session_roles[0]: the role is in account 222222222222, which accounts does not list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("Validate = %v, want %q", err, tc.wants)
			}
		})
	}
	ok := Config{Accounts: []Account{{ID: "111111111111"}}, RevokeSessionRoles: []string{"arn:aws:iam::111111111111:role/team/Admin"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}
