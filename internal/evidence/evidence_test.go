package evidence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fixture stores a finished case 1 (two actions, one approval with a
// decision made in Slack) whose audit events are interleaved with case 2's.
func fixture(t *testing.T) (*store.Store, *Names) {
	t.Helper()
	s := store.OpenTestSQLite(t)
	db := s.TestDB()
	done := t0.Add(7 * time.Minute)
	deadline := t0.Add(time.Hour)
	for _, c := range []store.Case{
		{ID: 1, EmployeeID: "e-42", EmployeeName: "Dana Scully", EmployeeEmail: "dana@example.com", Trigger: store.TriggerSlack, Requester: "m-7",
			Reason: "resigned", EffectiveAt: t0, Status: store.CaseCompleted, PolicyHash: strings.Repeat("ab", 32), CriticalDoneAt: &done,
			ComplianceProfile: "fedramp", ComplianceDeadline: &deadline, ClosedAt: &done},
		{ID: 2, EmployeeID: "e-43", EmployeeName: "Fox Mulder", Trigger: "hr", Requester: "hr:workday", EffectiveAt: t0.Add(time.Hour), Status: "running"},
	} {
		if err := db.Create(&c).Error; err != nil {
			t.Fatal(err)
		}
	}
	started := t0.Add(time.Minute)
	for _, a := range []store.Action{
		{ID: 10, CaseID: 1, Name: "disable-ad", Connector: "ad", Operation: "disable_account", PhaseName: "critical", TargetAccount: "CN=Dana Scully,OU=Staff", Status: store.ActionSucceeded, Outcome: "disabled", Verified: true, Verification: "userAccountControl has ACCOUNTDISABLE", StartedAt: &started, FinishedAt: &done},
		{ID: 11, CaseID: 1, Name: "okta-sessions", Connector: "okta", Operation: "revoke_sessions", PhaseName: "critical", TargetAccount: "00u1", Status: store.ActionFailed, LastError: "403 forbidden", StartedAt: &started, FinishedAt: &done},
	} {
		if err := db.Create(&a).Error; err != nil {
			t.Fatal(err)
		}
	}
	ap := store.Approval{ID: 5, CaseID: 1, Kind: "keep_forwarding", Effect: "defer", Status: store.ApprovalApproved, Requester: "m-7", Reason: "customer mail for 30 days", CreatedAt: t0, UpdatedAt: t0}
	if err := db.Create(&ap).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Create(&store.ApprovalDecision{ApprovalID: 5, Approver: "hr-1", Decision: "approve", Reason: "ok per policy", Via: "slack", Principal: "slack:U0HR", At: t0.Add(2 * time.Minute)}).Error; err != nil {
		t.Fatal(err)
	}
	appendEv := func(es ...store.Entry) {
		if err := s.Tx(context.Background(), func(tx *gorm.DB) error { _, err := store.AppendAudit(tx, es...); return err }); err != nil {
			t.Fatal(err)
		}
	}
	appendEv(store.Entry{Time: t0, CaseID: 2, Actor: "hr:workday", Event: "case.created", Result: "ok"})
	appendEv(store.Entry{Time: t0, CaseID: 1, Actor: "m-7", Event: "case.created", Result: "ok"},
		store.Entry{Time: t0, CaseID: 1, Actor: "kinetic", Event: "case.planned", Result: "ok", Detail: "policy abab; rules everyone,staff; 2 actions: disable-ad,okta-sessions; 0 devices"})
	appendEv(store.Entry{Time: t0, CaseID: 2, Actor: "kinetic", Event: "case.planned", Result: "ok"})
	appendEv(store.Entry{Time: started, CaseID: 1, ActionID: 10, Actor: "worker-1", System: "ad", Event: "action.started", Result: "ok"},
		store.Entry{Time: done, CaseID: 1, ActionID: 10, Actor: "worker-1", System: "ad", Event: "action.succeeded", Result: "disabled"},
		store.Entry{Time: done, CaseID: 1, Actor: "slack:U0HR", Event: "approval.decision", Result: "approve", Detail: "ok per policy"})
	appendEv(store.Entry{Time: done, CaseID: 2, Actor: "kinetic", Event: "case.started", Result: "ok"})
	return s, &Names{Dir: directory.NewMemory([]directory.Employee{
		{ID: "m-7", Name: "Walter Skinner", Email: "skinner@example.com"},
		{ID: "hr-1", Name: "Monica Reyes", Email: "reyes@example.com", ChatUserID: "U0HR"},
	})}
}

func newKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVerificationSectionMatchesChain reads the whole chain independently
// (straight from the table, in seq order) and checks the report's
// verification section against it.
func TestVerificationSectionMatchesChain(t *testing.T) {
	s, names := fixture(t)
	ev, err := BuildCase(context.Background(), s, names, 1, 10*time.Minute, nil, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var all []store.AuditEvent
	if err := s.TestDB().Order("seq").Find(&all).Error; err != nil {
		t.Fatal(err)
	}
	// Independent reading: the case's events, the hash before the first,
	// the events between, the head.
	var mine []store.AuditEvent
	for _, e := range all {
		if e.CaseID == 1 {
			mine = append(mine, e)
		}
	}
	ch := ev.Chain
	if len(ch.Events) != len(mine) {
		t.Fatalf("excerpt has %d events, the chain %d", len(ch.Events), len(mine))
	}
	for i, e := range mine {
		got := ch.Events[i]
		if got.Seq != e.Seq || got.Hash != e.Hash || got.PrevHash != e.PrevHash || got.Detail != e.Detail {
			t.Errorf("excerpt event %d = %+v, chain %+v", i, got, e)
		}
	}
	if ch.Before != all[mine[0].Seq-2].Hash {
		t.Errorf("before = %s, event %d's hash is %s", ch.Before, mine[0].Seq-1, all[mine[0].Seq-2].Hash)
	}
	if len(ch.Links) != 1 || ch.Links[0].Seq != 4 || ch.Links[0].Hash != all[3].Hash {
		t.Errorf("links = %+v", ch.Links)
	}
	if ch.HeadSeq != all[len(all)-1].Seq || ch.HeadHash != all[len(all)-1].Hash {
		t.Errorf("head = %d %s", ch.HeadSeq, ch.HeadHash)
	}
	c := ev.Case
	if c.Requester.Name != "Walter Skinner" || strings.Join(c.RulesMatched, ",") != "everyone,staff" || c.TimeToRevocation != 7*time.Minute || c.SLAMet == nil || !*c.SLAMet {
		t.Errorf("case report = %+v", c)
	}
	if len(c.Actions) != 2 || len(c.Actions[0].Actors) != 1 || c.Actions[0].Actors[0].ID != "worker-1" {
		t.Errorf("actions = %+v", c.Actions)
	}
	if len(c.Approvals) != 1 || len(c.Approvals[0].Decisions) != 1 {
		t.Fatalf("approvals = %+v", c.Approvals)
	}
	if d := c.Approvals[0].Decisions[0]; d.Approver.Name != "Monica Reyes" || d.Via != "slack" || d.Reason != "ok per policy" {
		t.Errorf("decision = %+v", d)
	}
	if len(c.Exceptions) != 2 {
		t.Errorf("exceptions = %q", c.Exceptions)
	}
}

func TestSignedReportVerifies(t *testing.T) {
	s, names := fixture(t)
	key := newKey(t)
	pub := key.Public().(ed25519.PublicKey)
	ev, err := BuildCase(context.Background(), s, names, 1, 10*time.Minute, &Anchor{Seq: 7, Hash: strings.Repeat("0", 64), Time: t0, Sink: "file"}, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for name, render := range map[string]func(*Evidence) ([]byte, error){"pdf": PDF, "html": HTML} {
		t.Run(name, func(t *testing.T) {
			rep, err := render(ev)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := render(ev)
			if !bytes.Equal(rep, again) {
				t.Error("the same evidence renders to different bytes")
			}
			sig := Sign(rep, key)
			res, err := Verify(rep, sig, pub)
			if err != nil {
				t.Fatalf("intact report: %v", err)
			}
			if res.LastHash != ev.Chain.Events[len(ev.Chain.Events)-1].Hash || res.Evidence.Case.ID != 1 || !res.PagesMatch {
				t.Errorf("result = %+v", res)
			}
			// One byte changed anywhere fails: the first, the middle, inside
			// the embedded evidence, the last.
			at := []int{0, len(rep) / 2, bytes.Index(rep, []byte(markOpen)) + len(markOpen) + 10, len(rep) - 1}
			for _, i := range at {
				bad := bytes.Clone(rep)
				bad[i] ^= 0x01
				if _, err := Verify(bad, sig, pub); !errors.Is(err, ErrBadSignature) {
					t.Errorf("byte %d changed: err = %v", i, err)
				}
			}
			other := newKey(t)
			if _, err := Verify(rep, Sign(rep, other), pub); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "not the trusted key") {
				t.Errorf("another key's signature: err = %v", err)
			}
		})
	}
}

// TestTamperedEvidenceFailsEvenWhenSigned: a report whose embedded chain
// was edited before signing (a signer who rewrote one event) still fails,
// on the excerpt.
func TestTamperedEvidenceFailsEvenWhenSigned(t *testing.T) {
	s, names := fixture(t)
	key := newKey(t)
	for name, edit := range map[string]func(*Evidence){
		"event edited":       func(ev *Evidence) { ev.Chain.Events[1].Detail = "rules nobody;" },
		"event dropped":      func(ev *Evidence) { ev.Chain.Events = append(ev.Chain.Events[:1], ev.Chain.Events[2:]...) },
		"link dropped":       func(ev *Evidence) { ev.Chain.Links = nil },
		"before replaced":    func(ev *Evidence) { ev.Chain.Before = strings.Repeat("1", 64) },
		"other case's event": func(ev *Evidence) { ev.Case.ID = 2 },
	} {
		t.Run(name, func(t *testing.T) {
			ev, err := BuildCase(context.Background(), s, names, 1, 0, nil, t0)
			if err != nil {
				t.Fatal(err)
			}
			edit(ev)
			rep, err := PDF(ev)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(rep, Sign(rep, key), key.Public().(ed25519.PublicKey)); !errors.Is(err, ErrBadEvidence) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestPeriodReport(t *testing.T) {
	s, names := fixture(t)
	// Reconciliation found an AD account of case 1 enabled again after it
	// closed: the period report counts it.
	if err := s.TestDB().Create(&store.Residual{RunID: 1, CaseID: 1, Kind: "verify", Connector: "ad", Operation: "disable_account",
		Detail: "enabled again", Status: "open", CreatedAt: t0.Add(time.Hour)}).Error; err != nil {
		t.Fatal(err)
	}
	ev, err := BuildPeriod(context.Background(), s, names, t0.Add(-time.Hour), t0.Add(2*time.Hour), 5*time.Minute, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	pr := ev.Period
	if len(pr.Cases) != 2 || pr.Breaches != 1 || !pr.Cases[0].Breached || pr.Cases[0].Exceptions != 2 || pr.Cases[1].Revoked {
		t.Fatalf("period = %+v", pr)
	}
	if pr.Residuals != 1 || pr.Cases[0].Residuals != 1 || pr.Cases[1].Residuals != 0 {
		t.Fatalf("residual access: period %d, cases %d and %d; want 1, 1 and 0", pr.Residuals, pr.Cases[0].Residuals, pr.Cases[1].Residuals)
	}
	rep, err := PDF(ev)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t)
	if _, err := Verify(rep, Sign(rep, key), key.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
}

// TestRenderPNG renders the case report's first page with pdftoppm when it
// is installed (poppler-utils), and keeps it when KINETIC_EVIDENCE_PNG_DIR
// names a directory.
func TestRenderPNG(t *testing.T) {
	bin, err := exec.LookPath("pdftoppm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pdftoppm not installed (apt package poppler-utils): under CI it must be")
		}
		t.Skip("pdftoppm not installed (apt package poppler-utils)")
	}
	s, names := fixture(t)
	ev, err := BuildCase(context.Background(), s, names, 1, 10*time.Minute, nil, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := PDF(ev)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if d := os.Getenv("KINETIC_EVIDENCE_PNG_DIR"); d != "" {
		dir = d
	}
	pdf := filepath.Join(dir, "case-1.pdf")
	if err := os.WriteFile(pdf, rep, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-png", "-r", "80", pdf, filepath.Join(dir, "case-1")).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	pngs, _ := filepath.Glob(filepath.Join(dir, "case-1*.png"))
	if len(pngs) == 0 {
		t.Fatal("pdftoppm wrote no page")
	}
}

// TestEditedPagesAreReported: an HTML report whose visible text was
// changed before signing (the embedded evidence left alone) verifies its
// signature and chain, but its pages do not re-render from the evidence.
func TestEditedPagesAreReported(t *testing.T) {
	s, names := fixture(t)
	key := newKey(t)
	ev, err := BuildCase(context.Background(), s, names, 1, 0, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := HTML(ev)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(rep, []byte("Walter Skinner"), []byte("Someone Else"), 1)
	res, err := Verify(edited, Sign(edited, key), key.Public().(ed25519.PublicKey))
	if err != nil || res.PagesMatch {
		t.Fatalf("edited pages: %+v, %v", res, err)
	}
}
