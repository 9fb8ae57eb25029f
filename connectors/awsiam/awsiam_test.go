package awsiam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/awsiam/iamtest"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

var dana = connectors.Subject{EmployeeID: "E100", Email: "dana@example.com", Username: "dana", DisplayName: "Dana Scully"}

var noBackoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeConfig is a Config for f.
func fakeConfig(f *iamtest.Fake) Config {
	return Config{
		AccessKeyID:     secret.FromValue(iamtest.KeyID),
		SecretAccessKey: secret.FromValue(iamtest.Secret),
		IAMEndpoint:     f.Server.URL,
		STSEndpoint:     f.Server.URL,
	}
}

func newConn(t *testing.T, cfg Config, opts ...Option) *Connector {
	t.Helper()
	c, err := New("aws-test", cfg, testPolicy, append([]Option{WithRetryBackoff(noBackoff)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantKind(t *testing.T, err error, kind connectors.Kind) *connectors.Error {
	t.Helper()
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *connectors.Error", err, err)
	}
	if ce.Kind != kind {
		t.Fatalf("kind = %s, want %s (%v)", ce.Kind, kind, err)
	}
	return ce
}

func countOf(calls []string, action string) int {
	n := 0
	for _, c := range calls {
		if c == action {
			n++
		}
	}
	return n
}

func TestConformance(t *testing.T) {
	var fakes sync.Map
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			f := iamtest.New(t)
			f.SeedDana(iamtest.Account)
			f.AddUser(iamtest.Account, &iamtest.User{Name: "mulder", Login: true, Keys: []*iamtest.Key{{ID: "AKIAMULDER0000000001", Active: true}}})
			c := newConn(t, fakeConfig(f))
			fakes.Store(c, f)
			return c
		},
		Present: dana,
		Missing: connectors.Subject{EmployeeID: "E404", Email: "nobody@example.com", Username: "nobody"},
		Ops:     []connectors.Operation{connectors.OpDisableAccount, connectors.OpDeleteAccessKeys, connectors.OpRemoveGroupMemberships, connectors.OpRevokeSessions},
		InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
			v, _ := fakes.Load(c)
			f := v.(*iamtest.Fake)
			f.ClearFailures()
			st := map[connectors.Kind]struct {
				status int
				code   string
			}{
				connectors.KindTransient:   {500, "ServiceFailure"},
				connectors.KindRateLimited: {400, "Throttling"},
				connectors.KindAuth:        {403, "InvalidClientTokenId"},
				connectors.KindForbidden:   {403, "AccessDenied"},
				connectors.KindInvalid:     {400, "ValidationError"},
				connectors.KindNotFound:    {404, "NoSuchEntity"},
			}[kind]
			f.FailNext("", "", st.status, st.code, 0)
		},
		Slow: func(t *testing.T, c connectors.Connector) {
			v, _ := fakes.Load(c)
			f := v.(*iamtest.Fake)
			f.Mu.Lock()
			f.Stall = make(chan struct{})
			t.Cleanup(func() { close(f.Stall) })
			f.Mu.Unlock()
		},
		Secrets: []string{iamtest.Secret},
	})
}

// TestDisableAccount checks every request disable_account makes, in order,
// and the read-back.
func TestDisableAccount(t *testing.T) {
	f := iamtest.New(t)
	f.SeedDana(iamtest.Account)
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	c := newConn(t, fakeConfig(f), WithClock(func() time.Time { return now }))
	req := connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana}

	res, err := c.Do(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != connectors.OutcomeDone || res.Account != "arn:aws:iam::111111111111:user/dana" {
		t.Fatalf("result = %+v", res)
	}
	want := []string{
		"GetUser", "GetUser", // by username (found), by email (NoSuchEntity)
		"ListAccessKeys", "UpdateAccessKey",
		"DeleteLoginProfile",
		"ListMFADevices", "DeactivateMFADevice",
		"ListSSHPublicKeys", "DeleteSSHPublicKey",
		"ListSigningCertificates", "DeleteSigningCertificate",
		"ListServiceSpecificCredentials", "DeleteServiceSpecificCredential",
		"ListUserTags", "TagUser",
	}
	calls := f.Calls()
	if got := f.Actions(); !slices.Equal(got, want) {
		t.Fatalf("requests:\n got %v\nwant %v", got, want)
	}
	checks := map[string]map[string]string{
		"UpdateAccessKey":                 {"UserName": "dana", "AccessKeyId": "AKIADANA000000000001", "Status": "Inactive"},
		"DeleteLoginProfile":              {"UserName": "dana"},
		"DeactivateMFADevice":             {"UserName": "dana", "SerialNumber": "arn:aws:iam::111111111111:mfa/dana"},
		"DeleteSSHPublicKey":              {"UserName": "dana", "SSHPublicKeyId": "APKADANA0001"},
		"DeleteSigningCertificate":        {"UserName": "dana", "CertificateId": "CERTDANA0001"},
		"DeleteServiceSpecificCredential": {"UserName": "dana", "ServiceSpecificCredentialId": "ACCADANA0001"},
		"TagUser":                         {"UserName": "dana", "Tags.member.1.Key": "kinetic:offboarded", "Tags.member.1.Value": "2026-12-07T15:00:00Z"},
	}
	for _, cl := range calls {
		for k, v := range checks[cl.Action] {
			if got := cl.Form.Get(k); got != v {
				t.Errorf("%s %s = %q, want %q", cl.Action, k, got, v)
			}
		}
	}
	for k, v := range map[string]string{
		"deactivated_keys": "AKIADANA000000000001", "login_profile": "deleted", "ssh_keys": "APKADANA0001",
		"signing_certificates": "CERTDANA0001", "tagged": "kinetic:offboarded=2026-12-07T15:00:00Z",
	} {
		if res.Data[k] != v {
			t.Errorf("Data[%s] = %q, want %q", k, res.Data[k], v)
		}
	}
	u := f.User(iamtest.Account, "dana")
	if u.Login || len(u.MFA)+len(u.SSH)+len(u.Certs)+len(u.Svc) != 0 || u.Keys[0].Active {
		t.Errorf("state after disable: %+v", u)
	}
	if len(u.Groups) != 3 {
		t.Errorf("disable_account removed Groups: %v", u.Groups)
	}

	v, err := c.Verify(ctxT(t), req)
	if err != nil || !v.OK {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	// The read-back asks each list and GetLoginProfile (NoSuchEntity).
	readBack := f.Actions()[len(want):]
	for _, a := range []string{"ListAccessKeys", "GetLoginProfile", "ListMFADevices", "ListSSHPublicKeys", "ListSigningCertificates", "ListServiceSpecificCredentials", "ListUserTags"} {
		if !slices.Contains(readBack, a) {
			t.Errorf("Verify did not call %s (%v)", a, readBack)
		}
	}

	// A credential re-added after the run fails the read-back.
	f.Mu.Lock()
	u.Keys[0].Active = true
	f.Mu.Unlock()
	if v, err := c.Verify(ctxT(t), req); err != nil || v.OK || !strings.Contains(v.Detail, "1 access key still active") {
		t.Fatalf("Verify with an active key = %+v, %v", v, err)
	}
}

func TestNoSuchEntityIsIdempotent(t *testing.T) {
	t.Run("login profile already gone", func(t *testing.T) {
		f := iamtest.New(t)
		u := f.SeedDana(iamtest.Account)
		u.Login = false
		c := newConn(t, fakeConfig(f))
		res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana})
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if _, ok := res.Data["login_profile"]; ok {
			t.Errorf("a missing login profile was reported deleted: %v", res.Data)
		}
	})
	t.Run("key deleted between list and update", func(t *testing.T) {
		f := iamtest.New(t)
		f.SeedDana(iamtest.Account)
		f.FailNext("UpdateAccessKey", "", 404, "NoSuchEntity", 1)
		c := newConn(t, fakeConfig(f))
		res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDeleteAccessKeys, Subject: dana})
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		if res.Data["deleted_keys"] != "AKIADANA000000000002" {
			t.Errorf("deleted = %q", res.Data["deleted_keys"])
		}
	})
	t.Run("user deleted since discovery", func(t *testing.T) {
		f := iamtest.New(t)
		c := newConn(t, fakeConfig(f))
		for _, op := range Operations(Config{}) {
			req := connectors.Request{Operation: op, Subject: dana, Account: "arn:aws:iam::111111111111:user/staff/dana"}
			res, err := c.Do(ctxT(t), req)
			if err != nil || res.Outcome != connectors.OutcomeNoneFound {
				t.Fatalf("%s: Do = %+v, %v", op, res, err)
			}
			if v, err := c.Verify(ctxT(t), req); err != nil || !v.OK {
				t.Fatalf("%s: Verify = %+v, %v", op, v, err)
			}
		}
	})
	t.Run("group already left", func(t *testing.T) {
		f := iamtest.New(t)
		f.SeedDana(iamtest.Account)
		f.FailNext("RemoveUserFromGroup", "", 404, "NoSuchEntity", 1)
		c := newConn(t, fakeConfig(f))
		res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpRemoveGroupMemberships, Subject: dana})
		if err != nil {
			t.Fatal(err)
		}
		if res.Data["removed_groups"] != "billing,all-staff" {
			t.Errorf("removed = %q", res.Data["removed_groups"])
		}
	})
}

func TestThrottling(t *testing.T) {
	t.Run("retried by the SDK until it passes", func(t *testing.T) {
		f := iamtest.New(t)
		f.SeedDana(iamtest.Account)
		f.FailNext("ListAccessKeys", "", 400, "Throttling", 2)
		c := newConn(t, fakeConfig(f))
		res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDeleteAccessKeys, Subject: dana})
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if n := countOf(f.Actions(), "ListAccessKeys"); n != 3 {
			t.Errorf("ListAccessKeys sent %d times, want 3 (2 throttled)", n)
		}
	})
	t.Run("still throttled after max_attempts is rate_limited", func(t *testing.T) {
		f := iamtest.New(t)
		f.SeedDana(iamtest.Account)
		f.FailNext("ListAccessKeys", "", 400, "Throttling", 0)
		cfg := fakeConfig(f)
		cfg.MaxAttempts = 4
		c := newConn(t, cfg)
		_, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDeleteAccessKeys, Subject: dana})
		wantKind(t, err, connectors.KindRateLimited)
		if !connectors.IsRetryable(err) {
			t.Error("throttling is not retryable")
		}
		if n := countOf(f.Actions(), "ListAccessKeys"); n != 4 {
			t.Errorf("ListAccessKeys sent %d times, want max_attempts=4", n)
		}
	})
	t.Run("5xx is transient", func(t *testing.T) {
		f := iamtest.New(t)
		f.SeedDana(iamtest.Account)
		f.FailNext("GetUser", "", 503, "ServiceUnavailable", 0)
		c := newConn(t, fakeConfig(f))
		_, err := c.Lookup(ctxT(t), dana)
		wantKind(t, err, connectors.KindTransient)
	})
}

// TestAccessDenied: a missing permission is permanent, is not retried, and
// does not stop the other steps; the user is not tagged offboarded.
func TestAccessDenied(t *testing.T) {
	f := iamtest.New(t)
	f.SeedDana(iamtest.Account)
	f.FailNext("DeleteLoginProfile", "", 403, "AccessDenied", 0)
	c := newConn(t, fakeConfig(f))
	req := connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana}
	res, err := c.Do(ctxT(t), req)
	ce := wantKind(t, err, connectors.KindForbidden)
	if connectors.IsRetryable(err) {
		t.Error("AccessDenied is retryable")
	}
	if !strings.Contains(ce.Error(), "deleting the console password: AccessDenied") {
		t.Errorf("error = %v", ce)
	}
	if n := countOf(f.Actions(), "DeleteLoginProfile"); n != 1 {
		t.Errorf("DeleteLoginProfile sent %d times, want 1 (no retry of a permanent error)", n)
	}
	if res.Data["deactivated_keys"] != "AKIADANA000000000001" || res.Data["ssh_keys"] != "APKADANA0001" {
		t.Errorf("partial result lost: %+v", res)
	}
	if slices.Contains(f.Actions(), "TagUser") {
		t.Error("tagged offboarded although a step failed")
	}
	if v, err := c.Verify(ctxT(t), req); err != nil || v.OK || !strings.Contains(v.Detail, "console password still set") {
		t.Errorf("Verify = %+v, %v", v, err)
	}
}

func TestPartialGroupRemoval(t *testing.T) {
	f := iamtest.New(t)
	f.SeedDana(iamtest.Account)
	f.FailNext("RemoveUserFromGroup", "", 403, "AccessDenied", 1) // the first group: developers
	cfg := fakeConfig(f)
	cfg.KeepGroups = []string{"ALL-STAFF"}
	c := newConn(t, cfg)
	req := connectors.Request{Operation: connectors.OpRemoveGroupMemberships, Subject: dana}
	res, err := c.Do(ctxT(t), req)
	wantKind(t, err, connectors.KindForbidden)
	if res.Outcome != connectors.OutcomeDone || res.Data["removed_groups"] != "billing" {
		t.Fatalf("result = %+v", res)
	}
	if !strings.Contains(err.Error(), "removing from group developers") {
		t.Errorf("error does not name the group: %v", err)
	}
	if got := f.User(iamtest.Account, "dana").Groups; !slices.Equal(got, []string{"developers", "all-staff"}) {
		t.Errorf("groups left = %v", got)
	}
	v, err := c.Verify(ctxT(t), req)
	if err != nil || v.OK || !strings.Contains(v.Detail, "still in developers") {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	// The retry removes what is left; the kept group stays.
	if res, err = c.Do(ctxT(t), req); err != nil || res.Data["removed_groups"] != "developers" {
		t.Fatalf("retry = %+v, %v", res, err)
	}
	if v, err := c.Verify(ctxT(t), req); err != nil || !v.OK {
		t.Fatalf("Verify after retry = %+v, %v", v, err)
	}
}

func TestTwoAccountsViaAssumeRole(t *testing.T) {
	const (
		acctA, roleA = "222222222222", "arn:aws:iam::222222222222:role/kinetic-offboarding"
		acctB, roleB = "333333333333", "arn:aws:iam::333333333333:role/kinetic-offboarding"
	)
	setup := func(t *testing.T, extB string) (*iamtest.Fake, *Connector) {
		f := iamtest.New(t)
		f.AddAccount(acctA, roleA, "")
		f.AddAccount(acctB, roleB, "ext-B-7781")
		f.SeedDana(acctA)
		f.SeedDana(acctB)
		cfg := fakeConfig(f)
		cfg.Accounts = []Account{
			{ID: acctA, RoleARN: roleA},
			{ID: acctB, RoleARN: roleB, ExternalID: secret.FromValue(extB), SessionName: "offboard-bot"},
		}
		return f, newConn(t, cfg)
	}

	t.Run("acts in both", func(t *testing.T) {
		f, c := setup(t, "ext-B-7781")
		look, err := c.Lookup(ctxT(t), dana)
		if err != nil || len(look.Accounts) != 2 {
			t.Fatalf("Lookup = %+v, %v", look, err)
		}
		if look.Accounts[0].ID != "arn:aws:iam::222222222222:user/dana" || look.Accounts[1].ID != "arn:aws:iam::333333333333:user/dana" {
			t.Errorf("accounts = %+v", look.Accounts)
		}
		req := connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana}
		res, err := c.Do(ctxT(t), req)
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if res.Data["222222222222.login_profile"] != "deleted" || res.Data["333333333333.login_profile"] != "deleted" {
			t.Errorf("data = %v", res.Data)
		}
		for _, a := range []string{acctA, acctB} {
			if f.User(a, "dana").Login {
				t.Errorf("account %s: console password left", a)
			}
		}
		if f.User(iamtest.Account, "dana") != nil {
			t.Fatal("seeded the base account by mistake")
		}
		var assumes []iamtest.Call
		perAcct := map[string]int{}
		for _, cl := range f.Calls() {
			if cl.Action == "AssumeRole" {
				assumes = append(assumes, cl)
			}
			perAcct[cl.Account]++
		}
		// The assumed credentials are cached: one AssumeRole per account.
		if len(assumes) != 2 {
			t.Fatalf("AssumeRole calls = %d, want 2", len(assumes))
		}
		if assumes[0].Form.Get("RoleArn") != roleA || assumes[0].Form.Get("ExternalId") != "" || assumes[0].Form.Get("RoleSessionName") != "kinetic-offboarding" {
			t.Errorf("AssumeRole A = %v", assumes[0].Form)
		}
		if assumes[1].Form.Get("RoleArn") != roleB || assumes[1].Form.Get("ExternalId") != "ext-B-7781" || assumes[1].Form.Get("RoleSessionName") != "offboard-bot" {
			t.Errorf("AssumeRole B = %v", assumes[1].Form)
		}
		if perAcct[iamtest.Account] != 0 || perAcct[acctA] == 0 || perAcct[acctB] == 0 {
			t.Errorf("requests per account = %v (IAM calls must use the assumed credentials)", perAcct)
		}
		if v, err := c.Verify(ctxT(t), req); err != nil || !v.OK {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
		// Acting on one user named by discovery touches only its account.
		before := len(f.Calls())
		res, err = c.Do(ctxT(t), connectors.Request{Operation: connectors.OpRemoveGroupMemberships, Subject: dana, Account: "arn:aws:iam::333333333333:user/dana"})
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do one account = %+v, %v", res, err)
		}
		for _, cl := range f.Calls()[before:] {
			if cl.Account != acctB {
				t.Errorf("%s sent to %s", cl.Action, cl.Account)
			}
		}
		if len(f.User(acctA, "dana").Groups) != 3 {
			t.Error("groups removed in the other account")
		}
	})

	t.Run("a refused role does not stop the other account", func(t *testing.T) {
		f, c := setup(t, "wrong-external-id")
		res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana})
		ce := wantKind(t, err, connectors.KindForbidden)
		if !strings.Contains(ce.Error(), "assuming "+roleB) || strings.Contains(ce.Error(), "wrong-external-id") {
			t.Errorf("error = %v", ce)
		}
		if res.Outcome != connectors.OutcomeDone || f.User(acctA, "dana").Login || !f.User(acctB, "dana").Login {
			t.Errorf("result = %+v; A login %v, B login %v", res, f.User(acctA, "dana").Login, f.User(acctB, "dana").Login)
		}
		_, err = c.Lookup(ctxT(t), dana)
		wantKind(t, err, connectors.KindForbidden)
	})
}

func TestFindByTag(t *testing.T) {
	tagged := func(t *testing.T) (*iamtest.Fake, Config) {
		f := iamtest.New(t)
		f.PageSize = 2
		for _, n := range []string{"alice", "bob", "carol", "eve"} {
			f.AddUser(iamtest.Account, &iamtest.User{Name: n, Tags: map[string]string{"hr-id": "E-" + n}})
		}
		f.AddUser(iamtest.Account, &iamtest.User{Name: "dscully", Path: "/staff/", Login: true, Tags: map[string]string{"hr-id": "E100", "email": "Dana@Example.com"}})
		cfg := fakeConfig(f)
		cfg.MatchTags = map[string]string{"employee_id": "hr-id", "email": "email"}
		return f, cfg
	}
	t.Run("by HR id over every page", func(t *testing.T) {
		f, cfg := tagged(t)
		c := newConn(t, cfg)
		res, err := c.Lookup(ctxT(t), dana)
		if err != nil || len(res.Accounts) != 1 || res.Accounts[0].ID != "arn:aws:iam::111111111111:user/staff/dscully" || res.Accounts[0].Status != connectors.StatusActive {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
		if n := countOf(f.Actions(), "ListUsers"); n != 3 {
			t.Errorf("ListUsers pages = %d, want 3", n)
		}
		if n := countOf(f.Actions(), "ListUserTags"); n != 5 {
			t.Errorf("ListUserTags = %d, want one per user (5)", n)
		}
	})
	t.Run("path prefix narrows the search", func(t *testing.T) {
		f, cfg := tagged(t)
		cfg.PathPrefix = "/staff/"
		c := newConn(t, cfg)
		if res, err := c.Lookup(ctxT(t), dana); err != nil || len(res.Accounts) != 1 {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
		for _, cl := range f.Calls() {
			if cl.Action == "ListUsers" && cl.Form.Get("PathPrefix") != "/staff/" {
				t.Errorf("ListUsers PathPrefix = %q", cl.Form.Get("PathPrefix"))
			}
		}
		if n := countOf(f.Actions(), "ListUserTags"); n != 1 {
			t.Errorf("ListUserTags = %d, want 1", n)
		}
	})
	t.Run("found twice is an invalid error", func(t *testing.T) {
		f, cfg := tagged(t)
		f.AddUser(iamtest.Account, &iamtest.User{Name: "dana-admin", Tags: map[string]string{"email": "dana@example.com"}})
		c := newConn(t, cfg)
		_, err := c.Lookup(ctxT(t), dana)
		ce := wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(ce.Error(), "matches 2 IAM users (dana-admin, dscully)") {
			t.Errorf("error = %v", ce)
		}
		res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana})
		wantKind(t, err, connectors.KindInvalid)
		if res.Outcome != connectors.OutcomeNoneFound || slices.Contains(f.Actions(), "DeleteLoginProfile") {
			t.Errorf("acted on an ambiguous match: %+v", res)
		}
	})
	t.Run("a name match carrying another person's tag is not taken", func(t *testing.T) {
		f, cfg := tagged(t)
		f.AddUser(iamtest.Account, &iamtest.User{Name: "dana", Login: true, Tags: map[string]string{"hr-id": "E999"}})
		c := newConn(t, cfg)
		res, err := c.Lookup(ctxT(t), dana)
		if err != nil || len(res.Accounts) != 1 || !strings.HasSuffix(res.Accounts[0].ID, "/dscully") {
			t.Fatalf("Lookup = %+v, %v", res, err)
		}
	})
}

func TestDeleteAccessKeysAfterDelay(t *testing.T) {
	f := iamtest.New(t)
	f.SeedDana(iamtest.Account)
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	cfg := fakeConfig(f)
	cfg.AccessKeyDeleteAfter = dur.Duration(72 * time.Hour)
	c := newConn(t, cfg, WithClock(func() time.Time { return now }))
	req := connectors.Request{Operation: connectors.OpDeleteAccessKeys, Subject: dana}

	res, err := c.Do(ctxT(t), req)
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("first Do = %+v, %v", res, err)
	}
	if res.Data["delete_after"] != "2026-12-10T15:00:00Z" || res.Data["deactivated_keys"] != "AKIADANA000000000001" {
		t.Errorf("data = %v", res.Data)
	}
	u := f.User(iamtest.Account, "dana")
	if len(u.Keys) != 2 || u.Keys[0].Active || u.Tags[DeleteAfterTag] != "2026-12-10T15:00:00Z" {
		t.Fatalf("state = %+v", u)
	}
	if v, err := c.Verify(ctxT(t), req); err != nil || !v.OK {
		t.Fatalf("Verify before due = %+v, %v", v, err)
	}
	if res, err := c.Do(ctxT(t), req); err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("second Do = %+v, %v", res, err)
	}

	now = now.Add(73 * time.Hour)
	if v, err := c.Verify(ctxT(t), req); err != nil || v.OK || !strings.Contains(v.Detail, "2 access keys not deleted") {
		t.Fatalf("Verify after due = %+v, %v", v, err)
	}
	res, err = c.Do(ctxT(t), req)
	if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["deleted_keys"] != "AKIADANA000000000001,AKIADANA000000000002" {
		t.Fatalf("Do after due = %+v, %v", res, err)
	}
	if len(u.Keys) != 0 || u.Tags[DeleteAfterTag] != "" {
		t.Errorf("state = %+v", u)
	}
	if v, err := c.Verify(ctxT(t), req); err != nil || !v.OK {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
}

// TestWrongCredentials: a bad secret makes every signature wrong; the
// error is auth, permanent, and never carries the secret.
func TestWrongCredentials(t *testing.T) {
	f := iamtest.New(t)
	f.SeedDana(iamtest.Account)
	cfg := fakeConfig(f)
	cfg.SecretAccessKey = secret.FromValue("not-the-secret-Q29mZmVl")
	c := newConn(t, cfg)
	_, err := c.Lookup(ctxT(t), dana)
	ce := wantKind(t, err, connectors.KindAuth)
	if connectors.IsRetryable(err) || !strings.Contains(ce.Error(), "SignatureDoesNotMatch") {
		t.Errorf("error = %v", ce)
	}
	if strings.Contains(ce.Error(), "not-the-secret") || strings.Contains(ce.Error(), iamtest.KeyID[:8]+"X") {
		t.Errorf("secret in error: %v", ce)
	}
	cfg.AccessKeyID = secret.FromValue("AKIDUNKNOWN000000000")
	_, err = newConn(t, cfg).Lookup(ctxT(t), dana)
	wantKind(t, err, connectors.KindAuth)
}

// TestRequestsPerDeparture counts the requests one departure costs for a
// user found by name holding one credential of each kind and three
// Groups: lookup, then disable_account, delete_access_keys and
// remove_group_memberships, each verified.
func TestRequestsPerDeparture(t *testing.T) {
	f := iamtest.New(t)
	f.SeedDana(iamtest.Account)
	c := newConn(t, fakeConfig(f))
	step := func(name string, fn func() error) int {
		before := len(f.Calls())
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return len(f.Calls()) - before
	}
	got := map[string]int{}
	got["lookup"] = step("lookup", func() error { _, err := c.Lookup(ctxT(t), dana); return err })
	for _, op := range Operations(Config{}) {
		req := connectors.Request{Operation: op, Subject: dana}
		got[string(op)] = step(string(op), func() error { _, err := c.Do(ctxT(t), req); return err })
		got["verify "+string(op)] = step("verify", func() error {
			v, err := c.Verify(ctxT(t), req)
			if err == nil && !v.OK {
				err = errors.New(v.Detail)
			}
			return err
		})
	}
	// Every operation first finds the user: GetUser by username, then by
	// email (NoSuchEntity), since both are configured name sources.
	want := map[string]int{
		"lookup": 5, // 2 GetUser, GetLoginProfile, ListAccessKeys, ListGroupsForUser
		// 2 GetUser, ListAccessKeys + UpdateAccessKey, DeleteLoginProfile,
		// 3 lists + 3 deletes/deactivations, ListServiceSpecificCredentials +
		// delete, ListUserTags + TagUser
		"disable_account":        15,
		"verify disable_account": 9, // 2 GetUser + 7 reads
		// 2 GetUser, ListAccessKeys, DeleteAccessKey x2 (both inactive now)
		"delete_access_keys":        5,
		"verify delete_access_keys": 3,
		// 2 GetUser, ListGroupsForUser, RemoveUserFromGroup x3
		"remove_group_memberships":        6,
		"verify remove_group_memberships": 3,
		// 2 GetUser, GetUserPolicy (none), PutUserPolicy, GetUserPolicy
		"revoke_sessions":        5,
		"verify revoke_sessions": 3,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d requests, want %d", k, got[k], v)
		}
	}
	t.Logf("requests per departure: %v", got)
}

// TestErrorTable: every interesting answer to the lookup's GetUser, after
// the SDK's retries, and the kind it is classified as.
func TestErrorTable(t *testing.T) {
	for _, tc := range []struct {
		status    int
		code      string
		kind      connectors.Kind
		retryable bool
	}{
		{400, "Throttling", connectors.KindRateLimited, true},
		{400, "ThrottlingException", connectors.KindRateLimited, true},
		{429, "!retry-after", connectors.KindRateLimited, true},
		{500, "ServiceFailure", connectors.KindTransient, true},
		{503, "ServiceUnavailable", connectors.KindTransient, true},
		{502, "!garbage", connectors.KindTransient, true},
		{200, "!garbage", connectors.KindTransient, true},
		{409, "EntityTemporarilyUnmodifiable", connectors.KindTransient, true},
		{409, "ConcurrentModification", connectors.KindTransient, true},
		{401, "Unauthorized", connectors.KindAuth, false},
		{403, "InvalidClientTokenId", connectors.KindAuth, false},
		{403, "ExpiredToken", connectors.KindAuth, false},
		{400, "RequestExpired", connectors.KindAuth, false},
		{403, "AccessDenied", connectors.KindForbidden, false},
		{409, "LimitExceeded", connectors.KindInvalid, false},
		{400, "ValidationError", connectors.KindInvalid, false},
		{400, "InvalidInput", connectors.KindInvalid, false},
	} {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.code), func(t *testing.T) {
			f := iamtest.New(t)
			f.SeedDana(iamtest.Account)
			f.FailNext("GetUser", "", tc.status, tc.code, 0)
			c := newConn(t, fakeConfig(f))
			_, err := c.Lookup(ctxT(t), dana)
			ce := wantKind(t, err, tc.kind)
			if connectors.IsRetryable(err) != tc.retryable {
				t.Errorf("retryable = %v", connectors.IsRetryable(err))
			}
			if tc.code == "!retry-after" && ce.RetryAfter != 7*time.Second {
				t.Errorf("RetryAfter = %s, want 7s", ce.RetryAfter)
			}
			if strings.Contains(err.Error(), "proxy error page") || strings.Contains(err.Error(), iamtest.Secret) {
				t.Errorf("error carries the body or a secret: %v", err)
			}
			sent := countOf(f.Actions(), "GetUser")
			// A 200 that does not parse and IAM's 409s are retryable for
			// the job layer but not retried by the SDK itself.
			once := tc.status == 200 || tc.status == 409
			want := 1
			if tc.retryable && !once {
				want = DefaultMaxAttempts
			}
			if sent != want {
				t.Errorf("GetUser sent %d times (retryable %v, max_attempts %d)", sent, tc.retryable, DefaultMaxAttempts)
			}
		})
	}
}

// TestSeveralFailures: failures in two steps are reported together on one
// line, retryable when one of them is, and each stays reachable.
func TestSeveralFailures(t *testing.T) {
	f := iamtest.New(t)
	f.SeedDana(iamtest.Account)
	f.FailNext("DeleteLoginProfile", "", 403, "AccessDenied", 0)
	f.FailNext("DeleteSSHPublicKey", "", 500, "ServiceFailure", 0)
	c := newConn(t, fakeConfig(f))
	res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana})
	wantKind(t, err, connectors.KindTransient)
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "2 failures: ") ||
		!strings.Contains(msg, "deleting the console password: AccessDenied") || !strings.Contains(msg, "deleting SSH public key APKADANA0001: ServiceFailure") {
		t.Errorf("error = %q", msg)
	}
	if res.Data["signing_certificates"] != "CERTDANA0001" {
		t.Errorf("later steps did not run: %v", res.Data)
	}
}
