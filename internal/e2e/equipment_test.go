package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/intune/intunetest"
	"github.com/kineticsec/kinetic/connectors/servicenow/servicenowtest"
	"github.com/kineticsec/kinetic/connectors/snipeit/snipeittest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/smtptest"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// equipmentPolicy revokes AD at once, tells payroll and benefits by email
// (the payroll section's dates) for Gia (E7) only, finds the person's
// devices in Snipe-IT (tracker) and records every move there, locks every
// managed device through Intune at once for an involuntary case, and
// files a ServiceNow ticket per device for the it-assets team.
const equipmentPolicy = `version: 1
defaults:
  sla: {critical: 1h, entitlements: 4h, notifications: 24h}
  max_attempts: 4
  equipment_due: 7d
actions:
  disable_ad: {connector: ad, operation: disable_account, phase: critical}
  notify_payroll: {connector: mail, operation: notify, phase: notifications, params: {template: final_pay, teams: payroll}}
  notify_benefits: {connector: mail, operation: notify, phase: notifications, params: {template: benefits, teams: benefits}}
rules:
  - name: everyone
    when: "true"
    add: [disable_ad]
  - name: notices
    when: 'employee.id == "E7"'
    add: [notify_payroll, notify_benefits]
payroll:
  payday: {schedule: semimonthly, days: [15, 31]}
  rules:
    - {name: default, final_pay: 5d, leave_payout: false, benefits_end: end_of_month}
equipment:
  categories: {LT: laptop, PH: phone}
  teams: [{team: it-assets}]
  tracker: snipe
  mdm: {connector: intune-mdm, lock_when: [involuntary]}
tickets:
  connector: snow
  teams:
    it-assets: {assignment_group: asset-desk}
`

const (
	equipSnowPassword = "snow-e2e-S3CR3T"
	ackKey            = "an-e2e-acknowledgement-key-of-32-bytes-or-more"
)

// TestDepartureRecoversEquipment is issue #18's "done when" against the
// vendors' test servers: one involuntary departure (testkit's E7, Gia,
// whose HR record lists her laptop LT-7) under a policy whose asset
// tracker is a real snipeit instance (Snipe-IT also shows her phone PH-7
// and a colleague's laptop), whose MDM is a real intune instance, whose
// tickets go to a real servicenow instance and whose payroll and
// benefits notices go by the email connector to a real SMTP server. The
// tasks are HR's list merged with Snipe-IT's by tag; the phone is locked
// through Intune at once and read back; the notices arrive with their
// dates and are acknowledged (payroll by its signed link, benefits by
// the callback); the laptop moves open → return requested → received →
// wiped → disposed (with its certificate) and the phone to redeployed
// through engine.MoveEquipment as the it-assets member, each move
// recorded in Snipe-IT (check-in, status label, notes read back) and
// noted on the device's ServiceNow ticket, which is closed with the
// disposition. The case reports access revoked hours before it closes,
// and closes only after the last disposition and both acknowledgements.
// Bad input: a disposal without its certificate is refused and changes
// nothing; a colleague's laptop is not taken, and a device HR lists that
// Snipe-IT shows checked out to someone else fails its step as invalid
// with Snipe-IT unchanged.
func TestDepartureRecoversEquipment(t *testing.T) {
	const redisDB = 9 // the package's (cloud_test.go)
	ctx := context.Background()
	dir := t.TempDir()
	secretFile := func(name, value string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Snipe-IT: Gia holds LT-7 (which HR lists too) and PH-7 (which HR
	// does not); the colleague Xavi holds LT-8, which HR lists for Carl
	// (E2), whose Snipe-IT user holds nothing.
	snipe := snipeittest.New(t)
	snipe.Mu.Lock()
	snipe.Users = []snipeittest.User{
		{ID: 7, Username: "gia", Email: "gia@example.test", EmployeeNum: "E7", Name: "Gia Gadget"},
		{ID: 8, Username: "xavi", Email: "colleague@example.test", EmployeeNum: "X1", Name: "Xavi Colleague"},
		{ID: 9, Username: "carl", Email: "carl@example.test", EmployeeNum: "E2", Name: "Carl Contractor"},
	}
	snipe.Assets[70] = &snipeittest.Asset{ID: 70, Tag: "LT-7", Name: "Gia's laptop", Serial: "C02GIA7", Model: "MacBook Pro 14", Category: "Laptops", Status: 2, Assigned: 7}
	snipe.Assets[71] = &snipeittest.Asset{ID: 71, Tag: "PH-7", Name: "Gia's phone", Serial: "F2GIA7", Model: "iPhone 15", Category: "Phones", Status: 2, Assigned: 7}
	snipe.Assets[80] = &snipeittest.Asset{ID: 80, Tag: "LT-8", Name: "Xavi's laptop", Serial: "C02XAV8", Model: "MacBook Air", Category: "Laptops", Status: 2, Notes: "spare charger", Assigned: 8}
	snipe.Mu.Unlock()

	// Intune: Gia's phone and laptop are managed.
	mdm := intunetest.New(t)
	mdm.AddDevice("gia@example.test", "dev-ph7", "GIA-IPHONE", "F2GIA7", "iOS")
	mdm.AddDevice("gia@example.test", "dev-lt7", "GIA-MAC", "C02GIA7", "macOS")

	snow := servicenowtest.New(t, "kinetic.integration", equipSnowPassword)
	mail := smtptest.Start(t, false, false)

	conns := fmt.Sprintf(`  snipe:
    type: snipeit
    owner: it-assets
    snipeit: {url: %q, api_token: {file: %s}, status_labels: {return_requested: 3, received: 4, wiped: 6, disposed: 9, redeployed: 2, lost: 8}}
  intune-mdm:
    type: intune
    owner: it-assets
    intune: {tenant_id: %s, client_id: %s, client_secret: {file: %s}, authority_url: %q, graph_url: %q}
  snow:
    type: servicenow
    owner: it-ops
    servicenow: {instance_url: %q, username: kinetic.integration, password: {file: %s}}
  mail:
    type: email
    owner: payroll
    email:
      host: 127.0.0.1
      port: %d
      ca_file: %s
      username: kinetic
      password: {file: %s}
      from: "Kinetic <offboarding@example.test>"
      teams:
        payroll: [payroll@example.test]
        benefits: [benefits@example.test]
`, snipe.Srv.URL, secretFile("snipe", snipeittest.Token),
		intunetest.Tenant, intunetest.ClientID, secretFile("intune", intunetest.Secret), mdm.Srv.URL, mdm.Srv.URL+"/v1.0",
		snow.Server.URL, secretFile("snow", equipSnowPassword),
		mail.Port, mail.CAFile, secretFile("smtp", smtptest.Password))

	// Gia's HR record lists only her laptop; Carl's lists Xavi's.
	directory := strings.Replace(testkit.Directory, `"equipment":["LT-7","PH-7"]`, `"equipment":["LT-7"]`, 1)
	directory = strings.Replace(directory, `"accounts":{"ad":"carl","okta":"carl@example.test","badge":"B-2"}`,
		`"accounts":{"ad":"carl","okta":"carl@example.test","badge":"B-2"},"equipment":["LT-8"]`, 1)
	if !strings.Contains(directory, `"equipment":["LT-7"]`) || !strings.Contains(directory, `"equipment":["LT-8"]`) {
		t.Fatal("the test directory changed: Gia's or Carl's equipment not replaced")
	}

	// The engine's clock runs from 2026-03-18 15:00 UTC; the test moves
	// it on while the laptop travels back.
	start, base := time.Now(), time.Date(2026, 3, 18, 15, 0, 0, 0, time.UTC)
	var skip atomic.Int64
	now := func() time.Time { return base.Add(time.Since(start) + time.Duration(skip.Load())) }

	k := testkit.New(t, testkit.Options{
		RedisDB:        redisDB,
		Policy:         equipmentPolicy,
		Directory:      directory,
		Connectors:     conns,
		Now:            now,
		Outbound:       "{allow_hosts: [127.0.0.1]}",
		Service:        fmt.Sprintf("notices: {ack_page: \"http://127.0.0.1/notices/ack\", ack_key: {file: %s}, ack_ttl: 48h}", secretFile("ack.key", ackKey)),
		ApproverGroups: "{hr: [H1, H2, M1], legal: [L1, L2], security: [S1], it-assets: [T1], it-berlin: [T2], payroll: [H1], benefits: [H2]}",
	})
	if _, err := k.StartWorker(); err != nil {
		t.Fatal(err)
	}

	o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E7", Requester: "M1", Reason: "gross misconduct", Involuntary: true, Trigger: store.TriggerCLI})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	caseID := o.Case.ID
	ref := engine.CaseReference(caseID)

	// Discovery: HR's list merged with Snipe-IT's by tag; the colleague's
	// laptop is not taken.
	tasks, err := k.Store.EquipmentTasks(ctx, caseID)
	if err != nil {
		t.Fatal(err)
	}
	byTag := map[string]store.EquipmentTask{}
	for _, tk := range tasks {
		byTag[tk.AssetTag] = tk
	}
	if len(tasks) != 2 || byTag["LT-7"].Source != string(connectors.SourceBoth) || byTag["LT-7"].Serial != "C02GIA7" ||
		byTag["PH-7"].Source != string(connectors.SourceTracker) || byTag["PH-7"].Serial != "F2GIA7" || byTag["PH-7"].Category != "phone" {
		t.Fatalf("equipment tasks %+v; want LT-7 from HR and Snipe-IT, PH-7 from Snipe-IT, with the tracker's serials", tasks)
	}
	lt, ph := byTag["LT-7"], byTag["PH-7"]

	// Access is revoked, and every device locked through Intune at once
	// (the involuntary case), read back.
	var c *store.Case
	testkit.Eventually(t, 60*time.Second, func() bool {
		c, err = k.Store.CaseWithActions(ctx, caseID)
		return err == nil && c.RevokedAt != nil
	}, func() string { return fmt.Sprintf("case %d never reported access revoked: %+v", caseID, c) })
	lock := settled(t, k, caseID, "lock_devices.involuntary")
	if lock.Status != store.ActionSucceeded || !lock.Verified || lock.Simulated || lock.Connector != "intune-mdm" || lock.Phase != 1 {
		t.Fatalf("lock: %+v", lock)
	}
	for _, id := range []string{"dev-ph7", "dev-lt7"} {
		if got := mdm.Actions(id); !slices.Equal(got, []string{"remoteLock"}) {
			t.Errorf("Intune: %s got %v, want one remoteLock", id, got)
		}
	}
	if !strings.Contains(lock.Verification, "GIA-IPHONE=pending") {
		t.Errorf("lock read back: %q", lock.Verification)
	}

	// The notices arrive by SMTP with their dates.
	byTeam := map[string]string{}
	for range 2 {
		d := mail.Next()
		m, body := smtptest.Parse(t, d.Data)
		team := m.Header.Get("X-Kinetic-Team")
		byTeam[team] = body
		if !d.TLS || d.Authed != "kinetic" || m.Header.Get("X-Kinetic-Case") != ref {
			t.Errorf("%s notice: TLS %t, authed %q, case %q", team, d.TLS, d.Authed, m.Header.Get("X-Kinetic-Case"))
		}
		want := map[string]map[string]string{
			"payroll":  {"X-Kinetic-Last-Working-Day": "2026-03-18", "X-Kinetic-Final-Pay-Date": "2026-03-23"},
			"benefits": {"X-Kinetic-Last-Working-Day": "2026-03-18", "X-Kinetic-Benefits-End-Date": "2026-03-31"},
		}[team]
		if want == nil {
			t.Fatalf("a notice to team %q: %s", team, d.Data)
		}
		for h, v := range want {
			if got := m.Header.Get(h); got != v {
				t.Errorf("%s notice %s: %q, want %q", team, h, got, v)
			}
		}
	}
	var notices []store.Notice
	testkit.Eventually(t, 10*time.Second, func() bool {
		notices, err = k.Store.CaseNotices(ctx, caseID)
		return err == nil && len(notices) == 2
	}, func() string { return fmt.Sprintf("notices recorded: %+v (%v)", notices, err) })

	// Tickets: one per device, in the team's assignment group.
	opened := settled(t, k, caseID, "ticket.LT-7.open")
	if opened.Status != store.ActionSucceeded || !opened.Verified || opened.Connector != "snow" {
		t.Fatalf("ticket open: %+v", opened)
	}
	settled(t, k, caseID, "ticket.PH-7.open")
	lt = *task(t, k, lt.ID)
	rec := snow.Record(lt.Ticket.ID)
	if rec == nil || rec["assignment_group"] != "asset-desk" || !strings.Contains(rec["short_description"], "LT-7") || rec["active"] != "true" {
		t.Fatalf("LT-7's ticket %+v: %v", lt.Ticket, rec)
	}

	// Acknowledgements: payroll through the signed link its message
	// carries, benefits through the callback as a member of the team.
	link := regexp.MustCompile(`http://127\.0\.0\.1/notices/ack\?t=\S+`).FindString(byTeam["payroll"])
	u, err := url.Parse(link)
	if link == "" || err != nil {
		t.Fatalf("no acknowledgement link in the payroll notice:\n%s", byTeam["payroll"])
	}
	if _, err := k.Engine.AcknowledgeNoticeLink(ctx, u.Query().Get("t"), "payroll@example.test"); err != nil {
		t.Fatalf("payroll's acknowledgement: %v", err)
	}
	var benefits int64
	for _, n := range notices {
		if n.Team == "benefits" {
			benefits = n.ID
		}
	}
	if _, err := k.Engine.AcknowledgeNotice(ctx, benefits, "T1", store.AckCallback); err == nil {
		t.Fatal("someone outside the benefits team acknowledged its notice")
	}
	if _, err := k.Engine.AcknowledgeNotice(ctx, benefits, "H2", store.AckCallback); err != nil {
		t.Fatalf("benefits' acknowledgement: %v", err)
	}
	if c = caseNow(t, k, caseID); c.ClosedAt != nil || c.Status != store.CaseRunning {
		t.Fatalf("case %s closed at %v with both devices still open", c.Status, c.ClosedAt)
	}

	move := func(id int64, to, ref string) {
		t.Helper()
		if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: id, To: to, Actor: "T1", Note: "courier 1Z999", Reference: ref, Via: "test"}); err != nil {
			t.Fatalf("moving task %d to %s: %v", id, to, err)
		}
	}
	step := func(tag, state string) *store.Action {
		t.Helper()
		a := settled(t, k, caseID, "equipment_step."+tag+"."+state)
		if a.Status != store.ActionSucceeded || !a.Verified || a.Connector != "snipe" {
			t.Fatalf("equipment_step.%s.%s: %+v", tag, state, a)
		}
		return a
	}

	// The phone comes back first and is redeployed. Each step names the
	// case (its case_ref param) in the line it appends to the notes.
	var noted string
	for _, to := range []string{store.EquipmentReceived, store.EquipmentWiped, store.EquipmentRedeployed} {
		move(ph.ID, to, "")
		var p map[string]string
		if err := json.Unmarshal([]byte(step("PH-7", to).Params), &p); err != nil {
			t.Fatal(err)
		}
		noted = p[connectors.ParamCaseRef]
	}
	if noted != engine.CaseReference(caseID) {
		t.Fatalf("the steps' case_ref %q, want %q (the connector adds \"Kinetic case \" itself)", noted, engine.CaseReference(caseID))
	}
	line := func(state string) string { return "Kinetic case " + noted + ": " + state }
	if a := snipe.Asset("PH-7"); a.Assigned != 0 || a.Status != 2 || !slices.Equal(a.Checkins, []string{line("received")}) ||
		a.Notes != line("received")+"\n"+line("wiped")+"\n"+line("redeployed") {
		t.Errorf("Snipe-IT PH-7: %+v", a)
	}

	// The laptop travels back over three hours.
	move(lt.ID, store.EquipmentReturnRequested, "")
	step("LT-7", "return_requested")
	if a := snipe.Asset("LT-7"); a.Assigned != 7 || a.Status != 3 || a.Notes != line("return requested") {
		t.Errorf("Snipe-IT LT-7 after return requested (still checked out to Gia, label 3): %+v", a)
	}
	skip.Store(int64(3 * time.Hour))
	move(lt.ID, store.EquipmentReceived, "")
	step("LT-7", "received")
	if a := snipe.Asset("LT-7"); a.Assigned != 0 || a.Status != 4 || !slices.Equal(a.Checkins, []string{line("received")}) {
		t.Errorf("Snipe-IT LT-7 after received (checked in, label 4): %+v", a)
	}
	move(lt.ID, store.EquipmentWiped, "")
	step("LT-7", "wiped")

	// A disposal without its certificate is refused and changes nothing.
	before := len(snow.Requests())
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: lt.ID, To: store.EquipmentDisposed, Actor: "T1", Via: "test"}); err == nil {
		t.Fatal("a disposal without a certificate reference was accepted")
	}
	if now := task(t, k, lt.ID); now.Status != store.EquipmentWiped || now.Reference != "" {
		t.Fatalf("the refused disposal changed the task: %+v", now)
	}
	if c = caseNow(t, k, caseID); c.ClosedAt != nil || actionNamed(c, "equipment_step.LT-7.disposed") != nil {
		t.Fatalf("the refused disposal closed the case or added a step: %+v", c)
	}

	move(lt.ID, store.EquipmentDisposed, "COD-2026-77")
	step("LT-7", "disposed")
	if a := snipe.Asset("LT-7"); a.Status != 9 || !strings.HasSuffix(a.Notes, "\n"+line("wiped")+"\n"+line("disposed (ref COD-2026-77)")) {
		t.Errorf("Snipe-IT LT-7 after disposal (label 9, the certificate in the notes): %+v", a)
	}
	if a := settled(t, k, caseID, "ticket.LT-7.close"); a.Status != store.ActionSucceeded || a.Operation != string(connectors.OpCloseTicket) {
		t.Fatalf("ticket close: %+v", a)
	}
	// Counted once the close has settled: the ticket actions run on the
	// workers after the Snipe-IT step the test waited for.
	if len(snow.Requests()) == before {
		t.Error("ServiceNow saw nothing of the moves")
	}
	rec = snow.Record(lt.Ticket.ID)
	if rec["state"] != "6" || rec["active"] != "false" || !strings.Contains(rec["work_notes"], "LT-7 return requested by T1") ||
		!strings.Contains(rec["close_notes"]+rec["work_notes"], "COD-2026-77") {
		t.Errorf("LT-7's ticket after disposal: %v", rec)
	}

	c = k.WaitClosed(t, caseID, 60*time.Second)
	t.Logf("case %d %s:\n%s", c.ID, c.Status, engine.Summary(c))
	// Mail has no read-back: the notify actions succeed unverified, and
	// their proof is the teams' acknowledgement, which the case counts
	// (and says so); every other action was verified by reading back.
	if c.Status != store.CaseCompleted || c.RevokedAt == nil || c.ClosedAt == nil || c.ClosedAt.Sub(*c.RevokedAt) < 3*time.Hour {
		t.Fatalf("case %s revoked at %v, closed at %v; want completed, closed hours after access was revoked", c.Status, c.RevokedAt, c.ClosedAt)
	}
	if !strings.Contains(c.Summary, "2 notices confirmed by the receiving team's acknowledgement") || strings.Contains(c.Summary, "without read-back") {
		t.Errorf("summary %q: want the two acknowledged notices counted as confirmed, nothing unverified", c.Summary)
	}
	for _, a := range c.Actions {
		mailed := a.Connector == "mail"
		if a.Status != store.ActionSucceeded || a.Verified == mailed {
			t.Errorf("%s on %s: %s, verified %t (%s)", a.Name, a.Connector, a.Status, a.Verified, a.Detail)
		}
	}
	last, err := k.Store.EquipmentTask(ctx, lt.ID)
	if err != nil || last.StatusAt == nil || c.ClosedAt.Before(*last.StatusAt) {
		t.Errorf("case closed at %v, before the laptop's disposition at %+v (%v)", c.ClosedAt, last, err)
	}
	for _, ev := range []string{"notice.acknowledged", "ticket.closed"} {
		if n := k.Count(t, &store.AuditEvent{}, "case_id = ? AND event = ?", caseID, ev); n != 2 {
			t.Errorf("%d %s audit events, want 2", n, ev)
		}
	}

	// Carl's HR record lists Xavi's laptop: Snipe-IT shows it checked out
	// to someone else, so its step fails as invalid and nothing changes.
	o2, err := k.Engine.Open(ctx, engine.Request{EmployeeID: "E2", Requester: "M1", Reason: "contract ended", Trigger: store.TriggerCLI})
	if err != nil {
		t.Fatalf("open E2: %v", err)
	}
	ts, err := k.Store.EquipmentTasks(ctx, o2.Case.ID)
	if err != nil || len(ts) != 1 || ts[0].AssetTag != "LT-8" || ts[0].Source != string(connectors.SourceHR) {
		t.Fatalf("Carl's tasks %+v (%v); want LT-8 from HR only", ts, err)
	}
	if _, err := k.Engine.MoveEquipment(ctx, engine.EquipmentMove{TaskID: ts[0].ID, To: store.EquipmentReceived, Actor: "T1", Via: "test"}); err != nil {
		t.Fatal(err)
	}
	if a := settled(t, k, o2.Case.ID, "equipment_step.LT-8.received"); a.Status != store.ActionFailed || a.ErrorKind != string(connectors.KindInvalid) {
		t.Errorf("a step on someone else's laptop: %+v", a)
	}
	if a := snipe.Asset("LT-8"); a.Assigned != 8 || a.Status != 2 || a.Notes != "spare charger" || len(a.Checkins) != 0 {
		t.Errorf("Snipe-IT changed Xavi's laptop: %+v", a)
	}

	for _, n := range []struct {
		name  string
		calls []string
	}{{"snipe (Snipe-IT)", snipe.Requests()}, {"intune-mdm (Intune)", mdm.Requests()}, {"snow (ServiceNow)", snow.Requests()}} {
		t.Logf("%s: %d calls:\n  %s", n.name, len(n.calls), strings.Join(n.calls, "\n  "))
	}
}

// settled waits for the case's action name to reach a final status.
func settled(t *testing.T, k *testkit.Kit, caseID int64, name string) *store.Action {
	t.Helper()
	var a *store.Action
	testkit.Eventually(t, 60*time.Second, func() bool {
		a = actionNamed(caseNow(t, k, caseID), name)
		return a != nil && store.ActionFinal(a.Status)
	}, func() string { return fmt.Sprintf("case %d: action %s never settled: %+v", caseID, name, a) })
	return a
}

func caseNow(t *testing.T, k *testkit.Kit, caseID int64) *store.Case {
	t.Helper()
	c, err := k.Store.CaseWithActions(context.Background(), caseID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func task(t *testing.T, k *testkit.Kit, id int64) *store.EquipmentTask {
	t.Helper()
	tk, err := k.Store.EquipmentTask(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func actionNamed(c *store.Case, name string) *store.Action {
	for i := range c.Actions {
		if c.Actions[i].Name == name {
			return &c.Actions[i]
		}
	}
	return nil
}
