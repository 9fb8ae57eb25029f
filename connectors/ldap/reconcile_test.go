package ldap_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// reconcilePolicy disables the person's AD account and nothing else.
const reconcilePolicy = `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
  max_attempts: 2
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
rules:
  - name: everyone
    when: "true"
    add: [disable_ad]
`

// TestReconcileFindsAccountReenabledBehindKineticsBack (issue 19): Erin's
// AD account on the Samba DC is disabled by a case, re-enabled after close
// by an administrator outside Kinetic; the reconciliation finds it, and
// the security officer's remediation disables it again, read back.
// The test kit's "ad" instance is pointed at the DC (a real LDAP
// connector in place of the sandbox) before anything runs.
func TestReconcileFindsAccountReenabledBehindKineticsBack(t *testing.T) {
	d := newTestDir(t) // skips without a DC (fails under CI)
	dn, _ := d.addUser(t, userSpec{mail: "erin@example.test", employeeID: "E1"})
	k := testkit.New(t, testkit.Options{RedisDB: 9, Policy: reconcilePolicy})
	in, ok := k.Connectors.Get("ad")
	if !ok {
		t.Fatal("the kit has no ad instance")
	}
	in.Connector, in.Simulated = d.connector(t, d.config()), false
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E1", Requester: "M1", Reason: "resigned", Trigger: store.TriggerCLI})
	if err != nil {
		t.Fatal(err)
	}
	c := k.WaitClosed(t, o.Case.ID, 60*time.Second)
	if c.Status != store.CaseCompleted || d.uac(t, dn)&uacDisabled == 0 {
		t.Fatalf("case %s, userAccountControl %#x:\n%s", c.Status, d.uac(t, dn), engine.Summary(c))
	}

	// Behind Kinetic's back: an administrator enables the account again.
	l := d.dial(t)
	mod := goldap.NewModifyRequest(dn, nil)
	mod.Replace("userAccountControl", []string{strconv.Itoa(d.uac(t, dn) &^ uacDisabled)})
	if err := l.Modify(mod); err != nil {
		l.Close()
		t.Fatalf("re-enabling %s: %v", dn, err)
	}
	l.Close()

	rep, err := k.Engine.ReconcileCase(ctx, c.ID, "cli", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Residuals) != 1 || rep.Residuals[0].Connector != "ad" || rep.Residuals[0].Kind != store.ResidualVerify || rep.Residuals[0].Simulated {
		t.Fatalf("residuals: %+v (problems %v)", rep.Residuals, rep.Problems)
	}
	if _, err := k.Engine.Remediate(ctx, rep.Residuals[0].ID, "S1"); err != nil {
		t.Fatal(err)
	}
	c = k.WaitClosed(t, c.ID, 60*time.Second)
	if c.Status != store.CaseCompleted || d.uac(t, dn)&uacDisabled == 0 {
		t.Fatalf("after remediation: case %s, userAccountControl %#x:\n%s", c.Status, d.uac(t, dn), engine.Summary(c))
	}
	if rep, err := k.Engine.ReconcileCase(ctx, c.ID, "cli", ""); err != nil || len(rep.Residuals) != 0 {
		t.Fatalf("after remediation: %+v %v", rep, err)
	}
}
