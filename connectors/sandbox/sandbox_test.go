package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/conformance"
	"github.com/kineticsec/kinetic/connectors/sandbox"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/dur"
)

var (
	dana = directory.Employee{
		ID: "E100", Email: "Dana.Scully@example.com", Name: "Dana Scully", Username: "dscully",
		Type: directory.TypeEmployee, Status: "active", Department: "Sales", Location: "Berlin",
		RoleProfiles: []string{"sales-team", "crm-admin"},
		Equipment:    []string{"LAP-0001", "MON-0002"},
	}
	fox = directory.Employee{
		ID: "E200", Email: "fox@example.com", Name: "Fox Mulder", Username: "fmulder",
		Type: directory.TypeContractor, Status: "inactive", Department: "Research & Development",
	}
	present = connectors.Subject{EmployeeID: dana.ID, Email: "dana.scully@EXAMPLE.com", DisplayName: dana.Name}
	missing = connectors.Subject{EmployeeID: "E999", Email: "nobody@example.com", Username: "nobody"}
)

func withAccounts(e directory.Employee, name, id string) directory.Employee {
	e.Accounts = map[string]string{name: id}
	return e
}

// newSeeded returns a sandbox for system named name with dana and fox seeded.
func newSeeded(t *testing.T, name string, cfg sandbox.Config, opts ...sandbox.Option) *sandbox.Connector {
	t.Helper()
	c, err := sandbox.New(name, cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.SeedEmployees([]directory.Employee{
		withAccounts(dana, name, "dana-"+cfg.System),
		withAccounts(fox, name, "fox-"+cfg.System),
	})
	return c
}

func TestConformance(t *testing.T) {
	for _, system := range sandbox.Systems {
		t.Run(system, func(t *testing.T) {
			conformance.Run(t, conformance.Harness{
				New: func(t *testing.T) connectors.Connector {
					return newSeeded(t, system+"-test", sandbox.Config{System: system}, sandbox.WithSeed(1))
				},
				Present: present,
				Missing: missing,
				Ops:     sandbox.Operations(system),
				Params: map[connectors.Operation]map[string]string{
					connectors.OpRemoveGroupMemberships: {"keep": "all-staff"},
					connectors.OpNotify:                 {"template": "final-pay"},
					connectors.OpTransferOwnership:      {"to": "manager@example.com"},
					connectors.OpSetForwarding:          {"forward_to": "manager@example.com"},
					connectors.OpRecordEquipmentStep:    connectors.EquipmentStepParams("LAP-0001", connectors.EquipmentReceived, "kinetic case 1", ""),
				},
				InjectFailure: func(t *testing.T, c connectors.Connector, kind connectors.Kind) {
					var ra time.Duration
					if kind == connectors.KindRateLimited {
						ra = 2 * time.Second
					}
					c.(*sandbox.Connector).FailNext(present.Email, 1, kind, ra)
				},
				Slow: func(t *testing.T, c connectors.Connector) {
					c.(*sandbox.Connector).SetLatency(time.Minute, 0)
				},
				Secrets: []string{"sandbox-fake-token-3f9a"},
			})
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  sandbox.Config
		want string // substring of the error; "" means valid
	}{
		{"minimal", sandbox.Config{System: "okta"}, ""},
		{"everything", sandbox.Config{System: "ad", Latency: dur.Duration(time.Second), Jitter: dur.Duration(time.Millisecond), ErrorRate: 1, RateLimit: 600}, ""},
		{"missing system", sandbox.Config{}, "system is required"},
		{"unknown system", sandbox.Config{System: "mainframe"}, `unknown system "mainframe"`},
		{"negative latency", sandbox.Config{System: "ad", Latency: -1}, "latency must not be negative"},
		{"negative jitter", sandbox.Config{System: "ad", Jitter: -1}, "jitter must not be negative"},
		{"error rate above one", sandbox.Config{System: "ad", ErrorRate: 1.5}, "error_rate must be between 0 and 1"},
		{"negative error rate", sandbox.Config{System: "ad", ErrorRate: -0.1}, "error_rate must be between 0 and 1"},
		{"negative rate limit", sandbox.Config{System: "ad", RateLimit: -5}, "rate_limit must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := sandbox.New("x", tt.cfg); err != nil {
					t.Fatalf("New() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
			if _, err := sandbox.New("x", tt.cfg); err == nil {
				t.Fatal("New() accepted an invalid config")
			}
		})
	}
	t.Run("reports every problem", func(t *testing.T) {
		err := sandbox.Config{System: "nope", Latency: -1, ErrorRate: 2}.Validate()
		for _, want := range []string{"unknown system", "latency", "error_rate"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Validate() = %v, want it to mention %q", err, want)
			}
		}
	})
}

func TestOperations(t *testing.T) {
	if ops := sandbox.Operations("mainframe"); ops != nil {
		t.Errorf("Operations(unknown) = %v, want nil", ops)
	}
	for _, s := range sandbox.Systems {
		if len(sandbox.Operations(s)) == 0 {
			t.Errorf("Operations(%q) is empty", s)
		}
	}
	ops := sandbox.Operations("m365")
	ops[0] = "mutated"
	if sandbox.Operations("m365")[0] == "mutated" {
		t.Error("Operations returns the package's own slice")
	}
	want := map[string]string{
		"ad":         "disable_account, remove_group_memberships",
		"m365":       "convert_mailbox, delete_mailbox, disable_account, preserve_mailbox, remove_forwarding, remove_group_memberships, revoke_sessions, set_forwarding",
		"okta":       "deactivate_user, remove_group_memberships, revoke_sessions",
		"vpn":        "revoke_vpn",
		"aws":        "delete_access_keys, disable_account, remove_group_memberships",
		"salesforce": "deactivate_user, transfer_ownership",
		"badge":      "deactivate_badge",
		"assets":     "create_recovery_task, record_equipment_step",
		"payroll":    "notify",
		"mdm":        "lock_devices, retire_devices, wipe_devices",
	}
	for s, w := range want {
		if got := connectors.OperationNames(sandbox.Operations(s)); got != w {
			t.Errorf("Operations(%q) = %s, want %s", s, got, w)
		}
	}
}

func TestSeedEmployees(t *testing.T) {
	ctx := context.Background()
	t.Run("accounts are keyed by instance name", func(t *testing.T) {
		c, _ := sandbox.New("ad-emea", sandbox.Config{System: "ad"})
		c.SeedEmployees([]directory.Employee{
			withAccounts(dana, "ad", "wrong-instance"),
			withAccounts(fox, "ad-emea", "CN=Fox Mulder"),
		})
		if _, ok := c.Account(dana.Email); ok {
			t.Error("dana got an account from another instance's key")
		}
		a, ok := c.Account("FOX@example.com")
		if !ok || a.ID != "CN=Fox Mulder" {
			t.Fatalf("Account(fox) = %+v, %t", a, ok)
		}
	})
	t.Run("accounts are active, deterministic, and inactive people are seeded too", func(t *testing.T) {
		c1 := newSeeded(t, "okta", sandbox.Config{System: "okta"})
		c2 := newSeeded(t, "okta", sandbox.Config{System: "okta"})
		for _, email := range []string{dana.Email, fox.Email} {
			a1, ok1 := c1.Account(email)
			a2, _ := c2.Account(email)
			if !ok1 {
				t.Fatalf("no account for %s", email)
			}
			if a1.Status != connectors.StatusActive || a1.Kind != "user" {
				t.Errorf("%s: %+v, want an active user", email, a1)
			}
			if a1.Sessions < 1 || a1.Sessions > 4 {
				t.Errorf("%s: %d sessions, want 1-4", email, a1.Sessions)
			}
			if a1.Sessions != a2.Sessions || strings.Join(a1.Groups, ",") != strings.Join(a2.Groups, ",") {
				t.Errorf("%s: seeding is not deterministic: %+v vs %+v", email, a1, a2)
			}
		}
		a, _ := c1.Account(dana.Email)
		for _, g := range []string{"all-staff", "dept-sales", "sales-team", "crm-admin"} {
			if !contains(a.Groups, g) {
				t.Errorf("dana's groups %v lack %q", a.Groups, g)
			}
		}
		f, _ := c1.Account(fox.Email)
		for _, g := range []string{"dept-research-development", "contractors"} {
			if !contains(f.Groups, g) {
				t.Errorf("fox's groups %v lack %q", f.Groups, g)
			}
		}
	})
	t.Run("assets holds one device per asset tag", func(t *testing.T) {
		c, _ := sandbox.New("assets", sandbox.Config{System: "assets"})
		c.SeedEmployees([]directory.Employee{dana, fox})
		res, err := c.Lookup(ctx, present)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Accounts) != 2 {
			t.Fatalf("Lookup = %+v, want 2 devices", res.Accounts)
		}
		for i, tag := range dana.Equipment {
			if a := res.Accounts[i]; a.ID != tag || a.Kind != "device" || a.Status != connectors.StatusActive {
				t.Errorf("device %d = %+v, want active device %s", i, a, tag)
			}
		}
		if res, _ := c.Lookup(ctx, connectors.Subject{Email: fox.Email}); len(res.Accounts) != 0 {
			t.Errorf("fox has no equipment but Lookup found %+v", res.Accounts)
		}
	})
	t.Run("aws access keys are sessions", func(t *testing.T) {
		c := newSeeded(t, "aws", sandbox.Config{System: "aws"})
		a, _ := c.Account(dana.Email)
		if a.Kind != "user" || a.Sessions < 1 || a.Detail != plural(a.Sessions, "%d active access key") {
			t.Fatalf("aws account = %+v", a)
		}
		res, err := c.Do(ctx, connectors.Request{Operation: connectors.OpDeleteAccessKeys, Subject: present})
		if err != nil || res.Outcome != connectors.OutcomeDone {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if a, _ := c.Account(dana.Email); a.Sessions != 0 {
			t.Errorf("keys left after delete_access_keys: %+v", a)
		}
		if e := c.Effects(); len(e) != 1 || e[0].Change != plural(a.Sessions, "deleted %d access key") {
			t.Errorf("effects = %+v", e)
		}
	})
}

// plural formats format with n and pluralises its last word when n != 1.
func plural(n int, format string) string {
	s := fmt.Sprintf(format, n)
	if n != 1 {
		s += "s"
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSubjectMatching(t *testing.T) {
	ctx := context.Background()
	c := newSeeded(t, "okta", sandbox.Config{System: "okta"})
	tests := []struct {
		name string
		s    connectors.Subject
		acct string
		want string // account id; "" = none found
	}{
		{"email, any case", connectors.Subject{Email: "DANA.scully@example.COM"}, "", "dana-okta"},
		{"employee id", connectors.Subject{EmployeeID: "E200"}, "", "fox-okta"},
		{"username", connectors.Subject{Username: "DScully"}, "", "dana-okta"},
		{"unknown email falls back to employee id", connectors.Subject{Email: "old@example.com", EmployeeID: "E100"}, "", "dana-okta"},
		{"account id first", connectors.Subject{Email: dana.Email}, "fox-okta", "fox-okta"},
		{"unknown account id falls back to subject", connectors.Subject{Email: dana.Email}, "gone", "dana-okta"},
		{"nobody", missing, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := c.Verify(ctx, connectors.Request{Operation: connectors.OpRevokeSessions, Subject: tt.s, Account: tt.acct})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if !v.OK || v.Detail != "no account" {
					t.Fatalf("Verify = %+v, want OK with no account", v)
				}
			}
			if tt.acct == "" {
				res, err := c.Lookup(ctx, tt.s)
				if err != nil {
					t.Fatal(err)
				}
				got := ""
				if len(res.Accounts) > 0 {
					got = res.Accounts[0].ID
				}
				if got != tt.want {
					t.Fatalf("Lookup matched %q, want %q", got, tt.want)
				}
			}
		})
	}
	t.Run("request account id targets that account only", func(t *testing.T) {
		res, err := c.Do(ctx, connectors.Request{Operation: connectors.OpDeactivateUser, Subject: present, Account: "fox-okta"})
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Account != "fox-okta" {
			t.Fatalf("Do = %+v, %v", res, err)
		}
		if a, _ := c.Account(dana.Email); a.Status != connectors.StatusActive {
			t.Errorf("dana was changed: %+v", a)
		}
		if a, _ := c.Account(fox.Email); a.Status != connectors.StatusDeprovisioned || a.Sessions != 0 {
			t.Errorf("fox = %+v, want deprovisioned with no sessions", a)
		}
	})
}

func TestOperationEffects(t *testing.T) {
	ctx := context.Background()
	do := func(t *testing.T, c *sandbox.Connector, op connectors.Operation, params map[string]string) connectors.Result {
		t.Helper()
		res, err := c.Do(ctx, connectors.Request{Operation: op, Subject: present, Params: params})
		if err != nil {
			t.Fatalf("Do(%s): %v", op, err)
		}
		return res
	}
	t.Run("remove groups keeps the listed ones and reports the removed", func(t *testing.T) {
		c := newSeeded(t, "ad", sandbox.Config{System: "ad"})
		before, _ := c.Account(dana.Email)
		res := do(t, c, connectors.OpRemoveGroupMemberships, map[string]string{"keep": " All-Staff , crm-admin"})
		if res.Outcome != connectors.OutcomeDone {
			t.Fatalf("outcome = %s", res.Outcome)
		}
		after, _ := c.Account(dana.Email)
		if strings.Join(after.Groups, ",") != "all-staff,crm-admin" {
			t.Errorf("groups left = %v", after.Groups)
		}
		var removed []string
		for _, g := range before.Groups {
			if g != "all-staff" && g != "crm-admin" {
				removed = append(removed, g)
			}
		}
		if got := res.Data["removed_groups"]; got != strings.Join(removed, ",") {
			t.Errorf("removed_groups = %q, want %q", got, strings.Join(removed, ","))
		}
		if res := do(t, c, connectors.OpRemoveGroupMemberships, map[string]string{"keep": "all-staff,crm-admin"}); res.Outcome != connectors.OutcomeAlreadyDone {
			t.Errorf("second remove = %s", res.Outcome)
		}
		if e := c.Effects(); len(e) != 1 || !strings.HasPrefix(e[0].Change, "removed groups ") {
			t.Errorf("effects = %+v", e)
		}
	})
	t.Run("m365 mailbox and sessions", func(t *testing.T) {
		c := newSeeded(t, "m365", sandbox.Config{System: "m365"})
		do(t, c, connectors.OpConvertMailbox, nil)
		do(t, c, connectors.OpRevokeSessions, nil)
		do(t, c, connectors.OpDisableAccount, nil)
		v, err := c.Verify(ctx, connectors.Request{Operation: connectors.OpConvertMailbox, Subject: present})
		if err != nil || !v.OK || v.Detail != "mailbox=shared" {
			t.Errorf("Verify(convert_mailbox) = %+v, %v", v, err)
		}
		v, err = c.Verify(ctx, connectors.Request{Operation: connectors.OpDisableAccount, Subject: present})
		if err != nil || !v.OK || v.Detail != "status=disabled sessions=0" {
			t.Errorf("Verify(disable_account) = %+v, %v", v, err)
		}
		changes := changes(c.Effects())
		if len(changes) != 3 || changes[0] != "mailbox user->shared" || !strings.HasPrefix(changes[1], "revoked ") || changes[2] != "status active->disabled" {
			t.Errorf("changes = %q", changes)
		}
	})
	t.Run("salesforce ownership transfer", func(t *testing.T) {
		c := newSeeded(t, "salesforce", sandbox.Config{System: "salesforce"})
		res := do(t, c, connectors.OpTransferOwnership, map[string]string{"to": "boss@example.com"})
		if res.Data["transferred_to"] != "boss@example.com" {
			t.Errorf("data = %v", res.Data)
		}
		if res := do(t, c, connectors.OpTransferOwnership, nil); res.Outcome != connectors.OutcomeAlreadyDone {
			t.Errorf("second transfer = %s", res.Outcome)
		}
	})
	t.Run("recovery task is one ticket per device", func(t *testing.T) {
		c, _ := sandbox.New("assets", sandbox.Config{System: "assets"})
		c.SeedEmployees([]directory.Employee{dana})
		req := connectors.Request{Operation: connectors.OpCreateRecoveryTask, Subject: present, IdempotencyKey: "action-7"}
		res, err := c.Do(ctx, req)
		if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["tickets"] != "RT-1,RT-2" || res.Account != "LAP-0001,MON-0002" {
			t.Fatalf("first = %+v, %v", res, err)
		}
		for i := 0; i < 3; i++ {
			res, err = c.Do(ctx, req)
			if err != nil || res.Outcome != connectors.OutcomeAlreadyDone || res.Data["tickets"] != "RT-1,RT-2" {
				t.Fatalf("repeat = %+v, %v", res, err)
			}
		}
		req.IdempotencyKey = ""
		if res, _ := c.Do(ctx, req); res.Outcome != connectors.OutcomeAlreadyDone {
			t.Errorf("without key = %s, want already_done", res.Outcome)
		}
		e := c.Effects()
		if len(e) != 2 || e[0].Account != "LAP-0001" || e[0].Change != "ticket RT-1 created" || e[1].Account != "MON-0002" {
			t.Errorf("effects = %+v", e)
		}
	})
	t.Run("notify is once per template", func(t *testing.T) {
		c := newSeeded(t, "payroll", sandbox.Config{System: "payroll"})
		final := map[string]string{"template": "final-pay"}
		if res := do(t, c, connectors.OpNotify, final); res.Outcome != connectors.OutcomeDone {
			t.Fatalf("first = %s", res.Outcome)
		}
		if res := do(t, c, connectors.OpNotify, final); res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("second = %s", res.Outcome)
		}
		if res := do(t, c, connectors.OpNotify, map[string]string{"template": "benefits-end"}); res.Outcome != connectors.OutcomeDone {
			t.Fatalf("other template = %s", res.Outcome)
		}
		if n := len(c.Effects()); n != 2 {
			t.Errorf("%d effects, want 2", n)
		}
	})
	t.Run("disable after deactivate is already done", func(t *testing.T) {
		c := newSeeded(t, "aws", sandbox.Config{System: "aws"})
		c.AddAccount(present, connectors.Account{ID: "dana-aws", Status: connectors.StatusDeprovisioned})
		if res := do(t, c, connectors.OpDisableAccount, nil); res.Outcome != connectors.OutcomeAlreadyDone {
			t.Fatalf("outcome = %s", res.Outcome)
		}
	})
}

func changes(effects []sandbox.Effect) []string {
	var out []string
	for _, e := range effects {
		out = append(out, e.Change)
	}
	return out
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func TestRateLimit(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	c := newSeeded(t, "okta", sandbox.Config{System: "okta", RateLimit: 3}, sandbox.WithClock(clock.Now))

	for i := 0; i < 3; i++ {
		if _, err := c.Lookup(ctx, present); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		clock.Advance(10 * time.Second)
	}
	// The window's oldest call was 30 s ago: it frees in 30 s.
	res, err := c.Do(ctx, connectors.Request{Operation: connectors.OpDeactivateUser, Subject: present})
	var ce *connectors.Error
	if !errors.As(err, &ce) {
		t.Fatalf("4th call = %+v, %v; want a rate-limited error", res, err)
	}
	if ce.Kind != connectors.KindRateLimited || ce.Status != 429 || ce.RetryAfter != 30*time.Second {
		t.Fatalf("error = %+v, want rate_limited, 429, retry after 30s", ce)
	}
	if !connectors.IsRetryable(err) || connectors.RetryAfterOf(err) != 30*time.Second {
		t.Errorf("IsRetryable = %t, RetryAfterOf = %s", connectors.IsRetryable(err), connectors.RetryAfterOf(err))
	}
	if a, _ := c.Account(dana.Email); a.Status != connectors.StatusActive {
		t.Errorf("a rate-limited call changed state: %+v", a)
	}
	if _, err := c.Verify(ctx, connectors.Request{Operation: connectors.OpDeactivateUser, Subject: present}); connectors.KindOf(err) != connectors.KindRateLimited {
		t.Errorf("Verify over the limit = %v", err)
	}

	clock.Advance(ce.RetryAfter)
	if res, err := c.Do(ctx, connectors.Request{Operation: connectors.OpDeactivateUser, Subject: present}); err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("after Retry-After: %+v, %v", res, err)
	}
	st := c.Stats()
	if st.Calls != 6 || st.RateLimited != 2 || st.Effects != 1 || st.InjectedFailures != 0 {
		t.Errorf("stats = %+v, want 6 calls, 2 rate limited, 1 effect", st)
	}
}

func TestErrorRate(t *testing.T) {
	ctx := context.Background()
	run := func(seed int64) []bool {
		c := newSeeded(t, "vpn", sandbox.Config{System: "vpn", ErrorRate: 0.3}, sandbox.WithSeed(seed))
		var failed []bool
		for i := 0; i < 200; i++ {
			_, err := c.Lookup(ctx, present)
			if err != nil {
				var ce *connectors.Error
				if !errors.As(err, &ce) || ce.Kind != connectors.KindTransient || ce.Status != 503 {
					t.Fatalf("error = %v, want a transient 503", err)
				}
			}
			failed = append(failed, err != nil)
		}
		if st := c.Stats(); int(st.InjectedFailures) != count(failed) || st.Calls != 200 {
			t.Errorf("stats = %+v, want %d injected failures in 200 calls", st, count(failed))
		}
		return failed
	}
	a, b, other := run(42), run(42), run(7)
	if n := count(a); n < 30 || n > 90 {
		t.Errorf("%d of 200 calls failed at error_rate 0.3", n)
	}
	if !equal(a, b) {
		t.Error("the same seed gave a different failure sequence")
	}
	if equal(a, other) {
		t.Error("different seeds gave the same failure sequence")
	}

	t.Run("failed calls change nothing", func(t *testing.T) {
		c := newSeeded(t, "vpn", sandbox.Config{System: "vpn", ErrorRate: 1}, sandbox.WithSeed(1))
		for i := 0; i < 20; i++ {
			if _, err := c.Do(ctx, connectors.Request{Operation: connectors.OpRevokeVPN, Subject: present}); !connectors.IsRetryable(err) {
				t.Fatalf("Do = %v, want a retryable error", err)
			}
		}
		if a, _ := c.Account(dana.Email); a.Status != connectors.StatusActive || len(c.Effects()) != 0 {
			t.Fatalf("state changed: %+v, effects %+v", a, c.Effects())
		}
	})
}

func count(b []bool) int {
	n := 0
	for _, x := range b {
		if x {
			n++
		}
	}
	return n
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFailNext(t *testing.T) {
	ctx := context.Background()
	c := newSeeded(t, "ad", sandbox.Config{System: "ad"})
	req := connectors.Request{Operation: connectors.OpDisableAccount, Subject: present}

	c.FailNext("DANA.SCULLY@example.com", 2, connectors.KindTransient, 0)
	for i := 0; i < 2; i++ {
		_, err := c.Do(ctx, req)
		if connectors.KindOf(err) != connectors.KindTransient {
			t.Fatalf("call %d = %v, want transient", i+1, err)
		}
	}
	if a, _ := c.Account(dana.Email); a.Status != connectors.StatusActive || len(c.Effects()) != 0 {
		t.Fatalf("a failed call changed state: %+v, %+v", a, c.Effects())
	}
	// Other subjects are unaffected meanwhile.
	c.FailNext(dana.Email, 1, connectors.KindForbidden, 0)
	if _, err := c.Lookup(ctx, connectors.Subject{Email: fox.Email}); err != nil {
		t.Fatalf("fox failed: %v", err)
	}
	// A subject named by employee id only still hits the failure.
	if _, err := c.Lookup(ctx, connectors.Subject{EmployeeID: dana.ID}); connectors.KindOf(err) != connectors.KindForbidden {
		t.Fatalf("Lookup by id = %v, want forbidden", err)
	}
	res, err := c.Do(ctx, req)
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("after the failures: %+v, %v", res, err)
	}
	if st := c.Stats(); st.InjectedFailures != 3 || st.Effects != 1 || st.Calls != 5 {
		t.Errorf("stats = %+v", st)
	}
	t.Run("n <= 0 clears", func(t *testing.T) {
		c.FailNext(dana.Email, 5, connectors.KindAuth, 0)
		c.FailNext(dana.Email, 0, connectors.KindAuth, 0)
		if _, err := c.Lookup(ctx, present); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rate limited carries retry after", func(t *testing.T) {
		c.FailNext(dana.Email, 1, connectors.KindRateLimited, 7*time.Second)
		_, err := c.Lookup(ctx, present)
		if connectors.RetryAfterOf(err) != 7*time.Second || connectors.KindOf(err) != connectors.KindRateLimited {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestConcurrentDoRecordsOneEffect(t *testing.T) {
	ctx := context.Background()
	c := newSeeded(t, "okta", sandbox.Config{System: "okta", Jitter: dur.Duration(time.Millisecond)}, sandbox.WithSeed(3))
	const n = 50
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		outcomes = make(chan connectors.Outcome, n)
		errs     = make(chan error, n)
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := c.Do(ctx, connectors.Request{Operation: connectors.OpDeactivateUser, Subject: present})
			if err != nil {
				errs <- err
				return
			}
			outcomes <- res.Outcome
			c.Lookup(ctx, present)
			c.Stats()
			c.Effects()
		}()
	}
	close(start)
	wg.Wait()
	close(outcomes)
	close(errs)
	for err := range errs {
		t.Errorf("Do: %v", err)
	}
	got := map[connectors.Outcome]int{}
	for o := range outcomes {
		got[o]++
	}
	if got[connectors.OutcomeDone] != 1 || got[connectors.OutcomeAlreadyDone] != n-1 {
		t.Errorf("outcomes = %v, want 1 done and %d already done", got, n-1)
	}
	if e := c.Effects(); len(e) != 1 || e[0].Seq != 1 {
		t.Errorf("effects = %+v, want exactly one", e)
	}
	if st := c.Stats(); st.Calls != 2*n || st.Effects != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestEffectsRecord(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	c := newSeeded(t, "okta-eu", sandbox.Config{System: "okta"}, sandbox.WithClock(clock.Now))
	before, _ := c.Account(dana.Email)

	steps := []connectors.Operation{connectors.OpRevokeSessions, connectors.OpRevokeSessions, connectors.OpDeactivateUser, connectors.OpRemoveGroupMemberships}
	for _, op := range steps {
		clock.Advance(time.Second)
		if _, err := c.Do(ctx, connectors.Request{Operation: op, Subject: present}); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := c.Do(ctx, connectors.Request{Operation: connectors.OpDeactivateUser, Subject: missing}); err != nil || res.Outcome != connectors.OutcomeNoneFound {
		t.Fatalf("missing = %+v, %v", res, err)
	}
	e := c.Effects()
	if len(e) != 3 {
		t.Fatalf("effects = %+v, want 3", e)
	}
	want := []sandbox.Effect{
		{Seq: 1, At: clock.now.Add(-3 * time.Second), Connector: "okta-eu", Operation: "revoke_sessions", Account: "dana-okta", Change: plural(before.Sessions, "revoked %d session")},
		{Seq: 2, At: clock.now.Add(-time.Second), Connector: "okta-eu", Operation: "deactivate_user", Account: "dana-okta", Change: "status active->deprovisioned"},
		{Seq: 3, At: clock.now, Connector: "okta-eu", Operation: "remove_group_memberships", Account: "dana-okta", Change: "removed groups " + strings.Join(before.Groups, ", ")},
	}
	for i := range want {
		if e[i] != want[i] {
			t.Errorf("effect %d = %+v\nwant %+v", i, e[i], want[i])
		}
	}
	e[0].Change = "mutated"
	if c.Effects()[0].Change == "mutated" {
		t.Error("Effects returns the connector's own slice")
	}
	if st := c.Stats(); st.Calls != 5 || st.Effects != 3 {
		t.Errorf("stats = %+v", st)
	}
}

func TestLatencyHonoursContext(t *testing.T) {
	c := newSeeded(t, "badge", sandbox.Config{System: "badge", Latency: dur.Duration(time.Hour)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, connectors.Request{Operation: connectors.OpDeactivateBadge, Subject: present})
	if !errors.Is(err, context.DeadlineExceeded) || connectors.KindOf(err) != connectors.KindCanceled {
		t.Fatalf("err = %v, want a canceled-kind error wrapping the deadline", err)
	}
	if a, _ := c.Account(dana.Email); a.Status != connectors.StatusActive {
		t.Errorf("a cancelled call changed state: %+v", a)
	}
	c.SetLatency(time.Millisecond, time.Millisecond)
	if res, err := c.Do(context.Background(), connectors.Request{Operation: connectors.OpDeactivateBadge, Subject: present}); err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("after SetLatency: %+v, %v", res, err)
	}
}

func TestAddAccount(t *testing.T) {
	c, _ := sandbox.New("", sandbox.Config{System: "okta"})
	if c.Name() != "okta" {
		t.Errorf("Name() = %q, want the system as default", c.Name())
	}
	c.AddAccount(present, connectors.Account{ID: "00u1", Groups: []string{"a"}})
	a, ok := c.Account(dana.Email)
	if !ok || a.Kind != "user" || a.Status != connectors.StatusActive {
		t.Fatalf("defaults not applied: %+v", a)
	}
	a.Groups[0] = "mutated"
	if a2, _ := c.Account(dana.Email); a2.Groups[0] != "a" {
		t.Error("Account returned the connector's own Groups slice")
	}
	// Dana becomes known by username too.
	c.AddAccount(connectors.Subject{Email: dana.Email, Username: "dscully"}, connectors.Account{ID: "00u2"})
	if res, _ := c.Lookup(context.Background(), connectors.Subject{Username: "DScully"}); len(res.Accounts) != 2 {
		t.Fatalf("by username: %+v", res.Accounts)
	}
	c.AddAccount(connectors.Subject{Username: "dscully"}, connectors.Account{ID: "00u2"}) // dana again
	c.AddAccount(connectors.Subject{EmployeeID: dana.ID}, connectors.Account{ID: "00u1", Status: connectors.StatusDisabled})
	res, _ := c.Lookup(context.Background(), present)
	if len(res.Accounts) != 2 || res.Accounts[0].ID != "00u1" || res.Accounts[0].Status != connectors.StatusDisabled {
		t.Fatalf("replace by ID: %+v", res.Accounts)
	}
	// Moving an account ID to another subject takes it from the first.
	c.AddAccount(connectors.Subject{Email: fox.Email}, connectors.Account{ID: "00u1"})
	if res, _ := c.Lookup(context.Background(), present); len(res.Accounts) != 1 || res.Accounts[0].ID != "00u2" {
		t.Errorf("dana still holds a moved account: %+v", res.Accounts)
	}
}

func BenchmarkDoParallel(b *testing.B) {
	c, _ := sandbox.New("okta", sandbox.Config{System: "okta"})
	const people = 10000
	emps := make([]directory.Employee, people)
	for i := range emps {
		id := fmt.Sprintf("E%05d", i)
		emps[i] = directory.Employee{ID: id, Email: id + "@example.com", Status: "active", Accounts: map[string]string{"okta": "00u" + id}}
	}
	c.SeedEmployees(emps)
	ctx := context.Background()
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) % people
			s := connectors.Subject{Email: fmt.Sprintf("E%05d@example.com", i)}
			if _, err := c.Do(ctx, connectors.Request{Operation: connectors.OpRevokeSessions, Subject: s}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
