package ldap_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/ldap"
)

// restore runs Restore then VerifyRestore and checks the outcome.
func restore(t *testing.T, c connectors.Restorer, req connectors.Request, want connectors.Outcome) connectors.Result {
	t.Helper()
	res, err := c.Restore(ctx(t), req)
	if err != nil {
		t.Fatalf("Restore(%s): %v", req.Operation, err)
	}
	if res.Outcome != want {
		t.Fatalf("Restore(%s) outcome = %s (%s), want %s", req.Operation, res.Outcome, res.Detail, want)
	}
	v, err := c.VerifyRestore(ctx(t), req)
	if err != nil || !v.OK {
		t.Fatalf("VerifyRestore(%s) = %+v, %v", req.Operation, v, err)
	}
	return res
}

// A rehire's round trip against the Samba DC (skipped without one, and a
// failure under CI without one, like every directory test here): disable,
// remove groups, then restore both from the recorded result data.
func TestRestoreRoundTrip(t *testing.T) {
	d := newTestDir(t)

	t.Run("re-enables and keeps the other userAccountControl bits; a second restore is already done", func(t *testing.T) {
		dn, u := d.addUser(t, userSpec{uac: uacNormal | uacDontExpirePasswd})
		c := d.connector(t, d.config())
		subj := connectors.Subject{Email: u.mail}
		res := mustDo(t, c, disableReq(subj), connectors.OutcomeDone)
		req := disableReq(subj)
		req.Account, req.Data = dn, res.Data
		restore(t, c, req, connectors.OutcomeDone)
		if got, want := d.uac(t, dn), uacNormal|uacDontExpirePasswd; got != want {
			t.Fatalf("userAccountControl = %#x, want %#x", got, want)
		}
		restore(t, c, req, connectors.OutcomeAlreadyDone)
	})

	t.Run("moves the account back from disabled_ou", func(t *testing.T) {
		parent := d.addOU(t, "people-r-"+d.run, d.ou)
		disabledOU := d.addOU(t, "disabled-r-"+d.run, d.ou)
		dn, u := d.addUser(t, userSpec{parent: parent})
		cfg := d.config()
		cfg.DisabledOU = disabledOU
		c := d.connector(t, cfg)
		subj := connectors.Subject{Email: u.mail}
		req := disableReq(subj)
		req.Account = dn
		res := mustDo(t, c, req, connectors.OutcomeDone)
		req.Data = res.Data
		got := restore(t, c, req, connectors.OutcomeDone)
		if !strings.EqualFold(got.Account, dn) {
			t.Fatalf("restored account %s, want it back at %s", got.Account, dn)
		}
		if d.uac(t, dn)&uacDisabled != 0 {
			t.Fatal("still disabled")
		}
	})

	t.Run("re-adds the recorded groups only", func(t *testing.T) {
		dn, u := d.addUser(t, userSpec{})
		sales := d.addGroup(t, "sales-r-"+d.run, "", dn)
		crm := d.addGroup(t, "crm r "+d.run, "", dn)
		c := d.connector(t, d.config())
		subj := connectors.Subject{Email: u.mail}
		res := mustDo(t, c, groupsReq(subj), connectors.OutcomeDone)
		if len(d.memberOf(t, dn)) != 0 {
			t.Fatal("groups not removed")
		}
		// Only sales is restored: the record is what decides.
		b, _ := json.Marshal([]string{sales})
		req := groupsReq(subj)
		req.Account, req.Data = dn, map[string]string{connectors.DataRemovedGroups: string(b)}
		restore(t, c, req, connectors.OutcomeDone)
		if m := d.memberOf(t, dn); len(m) != 1 || !strings.EqualFold(m[0], sales) {
			t.Fatalf("memberOf = %q, want only %s", m, sales)
		}
		req.Data = res.Data // both, one already back
		restore(t, c, req, connectors.OutcomeDone)
		if m := d.memberOf(t, dn); len(m) != 2 {
			t.Fatalf("memberOf = %q, want %s and %s", m, sales, crm)
		}
		restore(t, c, req, connectors.OutcomeAlreadyDone)
	})

	t.Run("a deleted account is not found, permanently", func(t *testing.T) {
		c := d.connector(t, d.config())
		req := disableReq(connectors.Subject{Email: "nobody-" + d.run + "@example.test"})
		_, err := c.Restore(ctx(t), req)
		assertKind(t, err, connectors.KindNotFound)
	})
}

// Garbled recorded data is refused before the directory is touched.
func TestRestoreRefusesGarbledData(t *testing.T) {
	c, err := ldap.New("ad", validConfig()) // never dials: the data is refused first
	if err != nil {
		t.Fatal(err)
	}
	req := groupsReq(connectors.Subject{Email: "a@example.test"})
	for _, data := range []string{`CN=a,DC=x`, `[""]`, `{"cn":"a"}`} {
		req.Data = map[string]string{connectors.DataRemovedGroups: data}
		_, err = c.Restore(ctx(t), req)
		assertKind(t, err, connectors.KindInvalid)
	}
	if !c.RestoresOperation(connectors.OpDisableAccount) || c.RestoresOperation(connectors.OpRevokeSessions) {
		t.Fatal("RestoresOperation")
	}
}
