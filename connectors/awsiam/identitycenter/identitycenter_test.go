package identitycenter

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
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/internal/dur"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/secret"
)

var testPolicy = &outbound.URLPolicy{AllowHosts: []string{"127.0.0.1"}}

var dana = connectors.Subject{EmployeeID: "E100", Email: "dana@example.com", Username: "dana", DisplayName: "Dana Scully"}

var noBackoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })

// noWait replaces the poll interval's timer: the fake's deletions finish
// after a set number of status reads, so no test waits on a clock.
func noWait(ctx context.Context, _ time.Duration) error { return ctx.Err() }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (f *fakeSSO) config() Config {
	return Config{
		Region:                region,
		InstanceARN:           instance,
		IdentityStoreID:       store,
		AccessKeyID:           secret.FromValue(keyID),
		SecretAccessKey:       secret.FromValue(keySec),
		SSOAdminEndpoint:      f.srv.URL,
		IdentityStoreEndpoint: f.srv.URL,
	}
}

func newConn(t *testing.T, cfg Config, opts ...Option) *Connector {
	t.Helper()
	c, err := New("sso-test", cfg, testPolicy, append([]Option{WithRetryBackoff(noBackoff), WithWait(noWait)}, opts...)...)
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

func TestConformance(t *testing.T) {
	var fakes sync.Map
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) connectors.Connector {
			f := newFakeSSO(t)
			f.seedDana()
			f.scp = awsExampleSCP
			cfg := f.config()
			cfg.DeleteUser = true
			cfg.DenyPolicyID = scpID
			cfg.OrganizationsEndpoint = f.srv.URL
			c := newConn(t, cfg)
			fakes.Store(c, f)
			return c
		},
		Present: dana,
		Missing: connectors.Subject{EmployeeID: "E404", Email: "nobody@example.com", Username: "nobody"},
		// deactivate_user deletes the user, after which a second call by
		// subject alone cannot tell "deleted by us" from "never there":
		// it answers none_found (a success), not the kit's already_done.
		// With the user id from discovery (req.Account) it answers
		// already_done; TestDeactivateUser checks both, and the kit's
		// other checks (missing, errors, cancellation, secrets) run on
		// the other operations.
		Ops: []connectors.Operation{connectors.OpDisableAccount, connectors.OpRemoveGroupMemberships, connectors.OpRevokeSessions},
		InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
			v, _ := fakes.Load(c)
			f := v.(*fakeSSO)
			f.clearFailures()
			st := map[connectors.Kind]struct {
				status int
				code   string
			}{
				connectors.KindTransient:   {500, "InternalServerException"},
				connectors.KindRateLimited: {400, "ThrottlingException"},
				connectors.KindAuth:        {400, "UnrecognizedClientException"},
				connectors.KindForbidden:   {400, "AccessDeniedException"},
				connectors.KindInvalid:     {400, "ValidationException"},
				connectors.KindNotFound:    {400, "ResourceNotFoundException"},
			}[kind]
			f.failNext("", st.status, st.code, 0)
		},
		Slow: func(t *testing.T, c connectors.Connector) {
			v, _ := fakes.Load(c)
			f := v.(*fakeSSO)
			f.mu.Lock()
			f.stall = make(chan struct{})
			t.Cleanup(func() { close(f.stall) })
			f.mu.Unlock()
		},
		Secrets: []string{keySec},
	})
}

// step is one expected request: the operation and the body fields that
// matter.
type step struct {
	op   string
	body map[string]any
}

func wantCalls(t *testing.T, got []fcall, want []step) {
	t.Helper()
	if len(got) != len(want) {
		var names []string
		for _, c := range got {
			names = append(names, c.Target)
		}
		t.Fatalf("%d requests, want %d: %v", len(got), len(want), names)
	}
	for i, w := range want {
		g := got[i]
		if !strings.HasSuffix(g.Target, "."+w.op) {
			t.Errorf("request %d: %s, want %s", i, g.Target, w.op)
			continue
		}
		for k, v := range w.body {
			if fmt.Sprint(g.Body[k]) != fmt.Sprint(v) {
				t.Errorf("request %d (%s): %s = %v, want %v", i, w.op, k, g.Body[k], v)
			}
		}
	}
}

func userName(v string) map[string]any {
	return map[string]any{"AlternateIdentifier": map[string]any{"UniqueAttribute": map[string]any{"AttributePath": "userName", "AttributeValue": v}}}
}

// TestDisableAccount checks every request disable_account makes, in order,
// with its target and body, and the read-back.
func TestDisableAccount(t *testing.T) {
	f := newFakeSSO(t)
	f.seedDana()
	f.pollsToDone = 2
	c := newConn(t, f.config())
	req := connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana}
	res, err := c.Do(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != connectors.OutcomeDone || res.Account != danaID {
		t.Fatalf("result %+v", res)
	}
	if res.Data["removed_assignments"] != acctA+":"+psAdmin+","+acctB+":"+psRead {
		t.Errorf("data %v", res.Data)
	}
	if !strings.Contains(res.Detail, "2 account assignments deleted") || !strings.Contains(res.Detail, "1 assignment through groups left to remove_group_memberships") {
		t.Errorf("detail %q", res.Detail)
	}
	del := func(acct, ps string) map[string]any {
		return map[string]any{"InstanceArn": instance, "TargetId": acct, "TargetType": "AWS_ACCOUNT", "PermissionSetArn": ps, "PrincipalType": "USER", "PrincipalId": danaID}
	}
	poll := func(n int) map[string]any {
		return map[string]any{"InstanceArn": instance, "AccountAssignmentDeletionRequestId": fmt.Sprintf("a1b2c3d4-0000-0000-0000-%012d", n)}
	}
	wantCalls(t, f.callLog(), []step{
		{"GetUserId", userName("dana")},
		{"GetUserId", userName("dana@example.com")},
		{"GetUserId", map[string]any{"AlternateIdentifier": map[string]any{"UniqueAttribute": map[string]any{"AttributePath": "emails.value", "AttributeValue": "dana@example.com"}}}},
		{"DescribeUser", map[string]any{"IdentityStoreId": store, "UserId": danaID}},
		{"ListAccountAssignmentsForPrincipal", map[string]any{"InstanceArn": instance, "PrincipalId": danaID, "PrincipalType": "USER"}},
		{"DeleteAccountAssignment", del(acctA, psAdmin)},
		{"DeleteAccountAssignment", del(acctB, psRead)},
		{"DescribeAccountAssignmentDeletionStatus", poll(1)},
		{"DescribeAccountAssignmentDeletionStatus", poll(1)},
		{"DescribeAccountAssignmentDeletionStatus", poll(2)},
		{"DescribeAccountAssignmentDeletionStatus", poll(2)},
	})

	v, err := c.Verify(ctxT(t), req)
	if err != nil || !v.OK {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	n := len(f.callLog())
	res, err = c.Do(ctxT(t), req)
	if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("second Do = %s, %v", res.Outcome, err)
	}
	if slices.Contains(f.targets()[n:], "DeleteAccountAssignment") {
		t.Error("second Do deleted again")
	}
}

// TestDisableAccountScope: accounts and permission_sets limit what is
// deleted; the read-back checks only that scope.
func TestDisableAccountScope(t *testing.T) {
	f := newFakeSSO(t)
	f.seedDana()
	cfg := f.config()
	cfg.Accounts = []string{acctB}
	c := newConn(t, cfg)
	req := connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana}
	if _, err := c.Do(ctxT(t), req); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	left := slices.Contains(f.assignments, fassign{acctA, psAdmin, "USER", danaID})
	gone := !slices.Contains(f.assignments, fassign{acctB, psRead, "USER", danaID})
	f.mu.Unlock()
	if !left || !gone {
		t.Fatalf("scope not honoured: acct A left %t, acct B gone %t", left, gone)
	}
	if v, err := c.Verify(ctxT(t), req); err != nil || !v.OK {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
}

// TestDeletionStatus: a FAILED deletion and one still in progress past
// deletion_timeout are retryable errors naming the assignment; the other
// assignment is still deleted.
func TestDeletionStatus(t *testing.T) {
	t.Run("failed", func(t *testing.T) {
		f := newFakeSSO(t)
		f.seedDana()
		f.failReason = "Received a 409 status error: another operation is in progress"
		c := newConn(t, f.config())
		res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana})
		ce := wantKind(t, err, connectors.KindTransient)
		if !strings.Contains(ce.Error(), "another operation is in progress") || !strings.Contains(ce.Error(), acctA+":"+psAdmin) {
			t.Errorf("error %q", ce)
		}
		if res.Outcome != connectors.OutcomeAlreadyDone {
			t.Errorf("outcome %s", res.Outcome)
		}
	})
	t.Run("still in progress", func(t *testing.T) {
		f := newFakeSSO(t)
		f.seedDana()
		f.pollsToDone = 1000
		cfg := f.config()
		cfg.PollInterval = dur.Duration(time.Second)
		cfg.DeletionTimeout = dur.Duration(3 * time.Second)
		c := newConn(t, cfg)
		_, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana})
		wantKind(t, err, connectors.KindTransient)
		if !strings.Contains(err.Error(), "still in progress after 3s") {
			t.Errorf("error %q", err)
		}
		if n := slices.Index(f.targets(), "DescribeAccountAssignmentDeletionStatus"); n < 0 {
			t.Fatal("no status read")
		}
		polls := 0
		for _, tg := range f.targets() {
			if tg == "DescribeAccountAssignmentDeletionStatus" {
				polls++
			}
		}
		if polls != 6 { // 3 per deletion: bounded
			t.Errorf("%d status reads, want 6", polls)
		}
	})
	t.Run("succeeded at once", func(t *testing.T) {
		f := newFakeSSO(t)
		f.seedDana()
		f.pollsToDone = -1
		c := newConn(t, f.config())
		res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana})
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %s, %v", res.Outcome, err)
		}
		if slices.Contains(f.targets(), "DescribeAccountAssignmentDeletionStatus") {
			t.Error("polled a deletion that had already succeeded")
		}
	})
}

// TestRemoveGroupMemberships: keep_groups by display name needs
// DescribeGroup; the kept group stays; read back.
func TestRemoveGroupMemberships(t *testing.T) {
	f := newFakeSSO(t)
	f.seedDana()
	cfg := f.config()
	cfg.KeepGroups = []string{"All-Staff"}
	c := newConn(t, cfg)
	req := connectors.Request{Operation: connectors.OpRemoveGroupMemberships, Subject: dana}
	res, err := c.Do(ctxT(t), req)
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	if res.Data["removed_groups"] != "g-0000000001" || !strings.Contains(res.Detail, "kept all-staff (g-0000000002)") {
		t.Errorf("result %+v", res)
	}
	wantCalls(t, f.callLog()[4:], []step{
		{"ListGroupMembershipsForMember", map[string]any{"IdentityStoreId": store, "MemberId": map[string]any{"UserId": danaID}}},
		{"DescribeGroup", map[string]any{"GroupId": "g-0000000001"}},
		{"DeleteGroupMembership", map[string]any{"IdentityStoreId": store, "MembershipId": "m-0000000001"}},
		{"DescribeGroup", map[string]any{"GroupId": "g-0000000002"}},
	})
	if v, err := c.Verify(ctxT(t), req); err != nil || !v.OK {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	// The group's assignment went with the membership.
	if l, err := c.Lookup(ctxT(t), dana); err != nil || !strings.Contains(l.Accounts[0].Detail, "3 account assignments (2 direct)") && !strings.Contains(l.Accounts[0].Detail, "2 account assignments (2 direct)") {
		t.Fatalf("lookup %+v %v", l, err)
	}
}

// TestDeactivateUser: deleted only with delete_user, only when not
// provisioned by SCIM, read back with DescribeUser.
func TestDeactivateUser(t *testing.T) {
	f := newFakeSSO(t)
	f.seedDana()
	cfg := f.config()
	if slices.Contains(Operations(cfg), connectors.OpDeactivateUser) {
		t.Fatal("deactivate_user offered without delete_user")
	}
	cfg.DeleteUser = true
	c := newConn(t, cfg)
	req := connectors.Request{Operation: connectors.OpDeactivateUser, Subject: dana}
	res, err := c.Do(ctxT(t), req)
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	wantCalls(t, f.callLog()[4:], []step{
		{"DeleteUser", map[string]any{"IdentityStoreId": store, "UserId": danaID}},
		{"DescribeUser", map[string]any{"UserId": danaID}},
	})
	if v, err := c.Verify(ctxT(t), req); err != nil || !v.OK {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	t.Run("a retry is a success", func(t *testing.T) {
		res, err := c.Do(ctxT(t), req)
		if err != nil || res.Outcome != connectors.OutcomeNoneFound {
			t.Fatalf("by subject: Do = %s, %v", res.Outcome, err)
		}
		byID := req
		byID.Account = danaID
		res, err = c.Do(ctxT(t), byID)
		if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("by the discovered id: Do = %s, %v", res.Outcome, err)
		}
		if v, err := c.Verify(ctxT(t), byID); err != nil || !v.OK {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
	})
	t.Run("a SCIM-provisioned user is refused", func(t *testing.T) {
		f := newFakeSSO(t)
		f.seedDana()
		f.users[danaID].external = []fext{{"https://scim.aws.com/1234", "00u1abcd"}}
		c2 := newConn(t, func() Config { x := f.config(); x.DeleteUser = true; return x }())
		_, err := c2.Do(ctxT(t), req)
		wantKind(t, err, connectors.KindInvalid)
		if !strings.Contains(err.Error(), "provisioned by an identity provider") {
			t.Errorf("error %q", err)
		}
		if slices.Contains(f.targets(), "DeleteUser") {
			t.Error("deleted a SCIM user")
		}
	})
}

// TestFindByExternalID and the ambiguous case.
func TestFind(t *testing.T) {
	t.Run("by external id", func(t *testing.T) {
		f := newFakeSSO(t)
		f.seedDana()
		f.users[danaID].external = []fext{{"okta", "E100"}}
		cfg := f.config()
		cfg.UserNameFrom = []string{"employee_id"}
		f2 := false
		cfg.MatchEmail = &f2
		cfg.ExternalIDIssuer, cfg.ExternalIDFrom = "okta", "employee_id"
		c := newConn(t, cfg)
		l, err := c.Lookup(ctxT(t), dana)
		if err != nil || len(l.Accounts) != 1 || l.Accounts[0].ID != danaID || l.Accounts[0].Status != connectors.StatusActive {
			t.Fatalf("lookup %+v, %v", l, err)
		}
		wantCalls(t, f.callLog()[:3], []step{
			{"GetUserId", userName("E100")},
			{"GetUserId", map[string]any{"AlternateIdentifier": map[string]any{"ExternalId": map[string]any{"Issuer": "okta", "Id": "E100"}}}},
			{"DescribeUser", nil},
		})
	})
	t.Run("two users is ambiguous", func(t *testing.T) {
		f := newFakeSSO(t)
		f.seedDana()
		f.users["c4d8e4a8-0001-7026-18f3-be45837cd0e4"].emails = []string{"dana@example.com"}
		f.users[danaID].emails = nil
		c := newConn(t, f.config())
		_, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana})
		wantKind(t, err, connectors.KindInvalid)
		if slices.Contains(f.targets(), "DeleteAccountAssignment") {
			t.Error("acted on an ambiguous subject")
		}
	})
	t.Run("a disabled user with nothing left is disabled", func(t *testing.T) {
		f := newFakeSSO(t)
		f.seedDana()
		f.users[danaID].disabled = true
		c := newConn(t, f.config())
		l, err := c.Lookup(ctxT(t), dana)
		if err != nil || l.Accounts[0].Status != connectors.StatusDisabled {
			t.Fatalf("lookup %+v, %v", l, err)
		}
	})
}

// TestPartialFailure: one denied deletion does not stop the other.
func TestPartialFailure(t *testing.T) {
	f := newFakeSSO(t)
	f.seedDana()
	c := newConn(t, f.config())
	f.failNext("DeleteAccountAssignment", 400, "AccessDeniedException", 1)
	res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpDisableAccount, Subject: dana})
	wantKind(t, err, connectors.KindForbidden)
	if res.Outcome != connectors.OutcomeDone || res.Data["removed_assignments"] != acctB+":"+psRead {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(err.Error(), "deleting account assignment "+acctA+":"+psAdmin) {
		t.Errorf("error %q does not name the assignment", err)
	}
}

// TestErrorTable: each interesting answer to the first request, after the
// SDK's retries, and its kind.
func TestErrorTable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		code   string
		kind   connectors.Kind
		after  time.Duration
	}{
		{"400 ThrottlingException", 400, "ThrottlingException", connectors.KindRateLimited, 0},
		{"429 with Retry-After", 429, "!retry-after", connectors.KindRateLimited, 7 * time.Second},
		{"400 AccessDeniedException", 400, "AccessDeniedException", connectors.KindForbidden, 0},
		{"403 AccessDeniedException", 403, "AccessDeniedException", connectors.KindForbidden, 0},
		{"400 UnrecognizedClientException", 400, "UnrecognizedClientException", connectors.KindAuth, 0},
		{"403 InvalidSignatureException", 403, "InvalidSignatureException", connectors.KindAuth, 0},
		{"400 ExpiredTokenException", 400, "ExpiredTokenException", connectors.KindAuth, 0},
		{"401 unknown code", 401, "Unauthorized", connectors.KindAuth, 0},
		{"404 unknown code", 404, "NotFound", connectors.KindNotFound, 0},
		{"409 ConflictException", 409, "ConflictException", connectors.KindTransient, 0},
		{"400 ValidationException", 400, "ValidationException", connectors.KindInvalid, 0},
		{"500 InternalServerException", 500, "InternalServerException", connectors.KindTransient, 0},
		{"503 HTML page", 503, "!garbage", connectors.KindTransient, 0},
		{"200 HTML page", 200, "!garbage", connectors.KindTransient, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSSO(t)
			f.seedDana()
			cfg := f.config()
			cfg.MaxAttempts = 2
			c := newConn(t, cfg)
			f.failNext("GetUserId", tc.status, tc.code, 0)
			_, err := c.Lookup(ctxT(t), dana)
			ce := wantKind(t, err, tc.kind)
			if ce.RetryAfter != tc.after {
				t.Errorf("RetryAfter = %s, want %s", ce.RetryAfter, tc.after)
			}
			if strings.Contains(err.Error(), keySec) {
				t.Error("secret in error")
			}
		})
	}
}

func TestWrongCredentials(t *testing.T) {
	f := newFakeSSO(t)
	f.seedDana()
	cfg := f.config()
	cfg.AccessKeyID = secret.FromValue("AKIDWRONG00000000000")
	c := newConn(t, cfg)
	_, err := c.Lookup(ctxT(t), dana)
	wantKind(t, err, connectors.KindAuth)
	if strings.Contains(err.Error(), keySec) {
		t.Error("secret in error")
	}
}

// TestRequestsPerDeparture counts the requests of a departure: lookup,
// each operation and its read-back.
func TestRequestsPerDeparture(t *testing.T) {
	f := newFakeSSO(t)
	f.seedDana()
	f.scp = awsExampleSCP
	cfg := f.config()
	cfg.DeleteUser = true
	cfg.DenyPolicyID = scpID
	cfg.OrganizationsEndpoint = f.srv.URL
	c := newConn(t, cfg)
	got := map[string]int{}
	step := func(name string, fn func() error) {
		before := len(f.callLog())
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got[name] = len(f.callLog()) - before
	}
	step("lookup", func() error { _, err := c.Lookup(ctxT(t), dana); return err })
	for _, op := range Operations(cfg) {
		req := connectors.Request{Operation: op, Subject: dana}
		step(string(op), func() error { _, err := c.Do(ctxT(t), req); return err })
		step("verify "+string(op), func() error {
			v, err := c.Verify(ctxT(t), req)
			if err == nil && !v.OK {
				err = errors.New(v.Detail)
			}
			return err
		})
	}
	// Finding the user: GetUserId on userName (username, email) and on
	// emails.value, then DescribeUser: 4.
	want := map[string]int{
		"lookup": 6, // find 4, ListAccountAssignmentsForPrincipal, ListGroupMembershipsForMember
		// find 4, list, 2 deletions, 1 status read each
		"disable_account":        9,
		"verify disable_account": 5,
		// find 4, list, 2 deletions
		"remove_group_memberships":        7,
		"verify remove_group_memberships": 5,
		// find 4, DescribePolicy, UpdatePolicy, DescribePolicy
		"revoke_sessions":        7,
		"verify revoke_sessions": 5,
		// find 4, DeleteUser, DescribeUser
		"deactivate_user":        6,
		"verify deactivate_user": 3, // 3 GetUserId, none found
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %d requests, want %d", k, got[k], v)
		}
	}
	t.Logf("requests per departure: %v", got)
}
