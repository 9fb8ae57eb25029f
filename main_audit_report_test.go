package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/internal/anchor"
	"github.com/kineticsec/kinetic/internal/evidence"
	"github.com/kineticsec/kinetic/store"
	"gorm.io/gorm"
)

// auditReportSetup writes kinetic.yaml (the embedded default plus an
// audit block: a report key and an anchor file) in a temporary directory,
// migrates kinetic.db and stores case 1 with its audit events, interleaved
// with case 2's. It returns the directory and the signer's public key.
func auditReportSetup(t *testing.T) (string, ed25519.PublicKey) {
	t.Helper()
	wd, err := filepath.Abs("configs")
	if err != nil {
		t.Fatal(err)
	}
	dir := inTempDir(t)
	emb, err := os.ReadFile(filepath.Join(wd, "embedded.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(emb), "file: directory.sample.json", "file: "+filepath.Join(wd, "directory.sample.json"), 1)
	y = strings.Replace(y, "policy: policy.example.yaml", "policy: "+filepath.Join(wd, "policy.example.yaml"), 1)
	y += "\naudit:\n  report_key: {file: report.pem}\n  report_sla: 15m\n  anchors:\n    interval: 1m\n    file: anchors/anchors.jsonl\n"
	if err := os.WriteFile("kinetic.yaml", []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile("report.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("report.pub", evidence.MarshalPublicKey(pub), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("anchors", 0o700); err != nil {
		t.Fatal(err)
	}
	kinetic(t, "migrate", "--config", "kinetic.yaml").want(t, 0)

	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Driver: store.DialectSQLite, Path: filepath.Join(dir, "kinetic.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	done := t0.Add(6 * time.Minute)
	db := st.TestDB()
	for _, c := range []store.Case{
		{ID: 1, EmployeeID: "E1001", Trigger: store.TriggerSlack, Requester: "E0001", EffectiveAt: t0, Status: store.CaseCompleted, CriticalDoneAt: &done},
		{ID: 2, EmployeeID: "E1002", Trigger: "hr", Requester: "hr:workday", EffectiveAt: t0, Status: "running"},
	} {
		if err := db.Create(&c).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Create(&store.Action{ID: 1, CaseID: 1, Name: "disable-ad", Connector: "ad", Operation: "disable_account", PhaseName: "critical", Status: store.ActionSucceeded, Verified: true, FinishedAt: &done}).Error; err != nil {
		t.Fatal(err)
	}
	for _, e := range []store.Entry{
		{Time: t0, CaseID: 1, Actor: "E0001", Event: "case.created", Result: "ok"},
		{Time: t0, CaseID: 2, Actor: "hr:workday", Event: "case.created", Result: "ok"},
		{Time: t0, CaseID: 1, Actor: "kinetic", Event: "case.planned", Result: "ok", Detail: "policy ab; rules everyone; 1 actions: disable-ad; 0 devices"},
		{Time: done, CaseID: 1, ActionID: 1, Actor: "kinetic", System: "ad", Event: "action.succeeded", Result: "disabled"},
		{Time: done, CaseID: 2, Actor: "kinetic", Event: "case.planned", Result: "ok"},
	} {
		if err := st.Tx(ctx, func(tx *gorm.DB) error { _, err := store.AppendAudit(tx, e); return err }); err != nil {
			t.Fatal(err)
		}
	}
	return dir, pub
}

func TestAuditReportCLI(t *testing.T) {

	auditReportSetup(t)

	kinetic(t, "audit", "report", "--case", "1", "--config", "kinetic.yaml", "--out", "case-1.pdf").want(t, 0, "wrote case-1.pdf", "wrote case-1.pdf.sig")
	kinetic(t, "audit", "verify-report", "case-1.pdf", "--config", "kinetic.yaml").want(t, 0, "signature OK", "chain excerpt OK: case 1, 3 events (1 other events linked by hash)", "pages OK")
	kinetic(t, "audit", "verify-report", "--public-key", "report.pub", "case-1.pdf").want(t, 0, "signature OK")

	pdf, err := os.ReadFile("case-1.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(pdf), "%PDF-") {
		t.Fatalf("not a PDF: %q", pdf[:16])
	}
	pdf[len(pdf)/3] ^= 0x20
	if err := os.WriteFile("case-1.pdf", pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	kinetic(t, "audit", "verify-report", "--public-key", "report.pub", "case-1.pdf").want(t, 1, "does NOT verify", "report signature does not verify")

	kinetic(t, "audit", "report", "--case", "1", "--format", "html", "--config", "kinetic.yaml").want(t, 0, "wrote case-1.html")
	kinetic(t, "audit", "verify-report", "case-1.html", "--public-key", "report.pub").want(t, 0, "chain excerpt OK")
	kinetic(t, "audit", "report", "--from", "2026-03-01", "--to", "2026-03-03", "--config", "kinetic.yaml").want(t, 0, "wrote period-20260301-20260303.pdf")
	kinetic(t, "audit", "verify-report", "period-20260301-20260303.pdf", "--public-key", "report.pub").want(t, 0, "period report: 2 cases, 0 breaches")

	kinetic(t, "audit", "report", "--case", "1", "--from", "2026-03-01").want(t, 2, "needs --case ID, or --from DATE and --to DATE")
	kinetic(t, "audit", "report", "--case", "1", "--format", "docx").want(t, 2, "--format must be pdf or html")
	kinetic(t, "audit", "verify-report").want(t, 2, "needs one FILE")
}

func TestAuditExportVerifiesAlone(t *testing.T) {
	auditReportSetup(t)
	for _, f := range []string{"json", "csv"} {
		kinetic(t, "audit", "export", "--case", "1", "--format", f, "--out", "case-1."+f, "--config", "kinetic.yaml").want(t, 0)
		kinetic(t, "audit", "verify", "--export", "case-1."+f).want(t, 0, "export OK: 3 events (1 other events linked by hash)")
		b, _ := os.ReadFile("case-1." + f)
		if err := os.WriteFile("case-1."+f, []byte(strings.Replace(string(b), "rules everyone", "rules nobody", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		kinetic(t, "audit", "verify", "--export", "case-1."+f).want(t, 1, "BROKEN", "hash does not match its contents")
	}
}

// TestExternalAnchorCatchesRewrite: the head published to the anchor file
// catches a rewrite of the whole chain, head included, that the chain
// alone cannot.
func TestExternalAnchorCatchesRewrite(t *testing.T) {
	dir, _ := auditReportSetup(t)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{Driver: store.DialectSQLite, Path: filepath.Join(dir, "kinetic.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kinetic(t, "audit", "verify", "--config", "kinetic.yaml").want(t, 0, "no external anchor yet")
	p := &anchor.Publisher{Head: st.AuditHeadNow, Sinks: []anchor.Sink{anchor.File{Path: filepath.Join(dir, "anchors", "anchors.jsonl")}}}
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	kinetic(t, "audit", "verify", "--config", "kinetic.yaml").want(t, 0, "external anchor 5 ", "anchors OK: 1")

	// Rewrite event 3's detail and re-chain everything after it, head
	// included: the chain alone is consistent again.
	db := st.TestDB()
	var evs []store.AuditEvent
	if err := db.Order("seq").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	prev := evs[1].Hash
	for i := 2; i < len(evs); i++ {
		e := &evs[i]
		if e.Seq == 3 {
			e.Detail = "policy ab; rules nobody; 0 actions"
		}
		e.PrevHash = prev
		e.Hash = store.HashEvent(e)
		prev = e.Hash
		if err := db.Save(e).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Exec("UPDATE audit_heads SET hash = ? WHERE id = 1", prev).Error; err != nil {
		t.Fatal(err)
	}
	kinetic(t, "audit", "verify", "--config", "kinetic.yaml").want(t, 1, "audit chain BROKEN at anchor 5", "the chain was rewritten at or before it")
}
