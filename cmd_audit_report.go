package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/anchor"
	"github.com/kineticsec/kinetic/internal/evidence"
	"github.com/kineticsec/kinetic/store"
)

// parseDay reads a --from/--to value: 2006-01-02 (midnight UTC) or RFC 3339.
func parseDay(flagName, v string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usageErr("--%s %q: want YYYY-MM-DD or RFC 3339", flagName, v)
}

// latestAnchor reads the newest anchor of audit.anchors.file, or nil when
// no file sink is configured or it holds none yet.
func latestAnchor(svc *configs.Service) (*evidence.Anchor, error) {
	if svc.Audit.Anchors.File == "" {
		return nil, nil
	}
	r, err := anchor.Latest(svc.Audit.Anchors.File)
	if errors.Is(err, anchor.ErrNoAnchor) || errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &evidence.Anchor{Seq: r.Seq, Hash: r.Hash, Time: r.Time, Sink: "file"}, nil
}

func newAuditReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report (--case ID | --from DATE --to DATE) [flags]",
		Short: "signed evidence report of a case or a period (PDF or HTML)",
		Long: "Writes a signed evidence report: one case's (--case), or every case of a period (--from, --to).\n" +
			"The report embeds its evidence and the chain excerpt; FILE.sig holds its Ed25519 signature\n" +
			"(audit.report_key, docs/audit.md).",
		Args: noArgs,
	}
	cfgPath := configFlag(cmd)
	fl := cmd.Flags()
	caseID := fl.Int64("case", 0, "the case to report on")
	from := fl.String("from", "", "period start (YYYY-MM-DD or RFC 3339, inclusive)")
	to := fl.String("to", "", "period end (YYYY-MM-DD or RFC 3339, exclusive)")
	format := fl.String("format", "pdf", "pdf or html")
	out := fl.String("out", "", "the report `FILE` (default case-ID.FORMAT or period-FROM-TO.FORMAT); its signature goes to FILE.sig")
	unsigned := fl.Bool("unsigned", false, "write the report without a signature when audit.report_key is not configured")
	enumFlag(cmd, "format", "pdf", "html")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return auditReport(cmd.Context(), *cfgPath, *caseID, *from, *to, *format, *out, *unsigned, cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func auditReport(ctx context.Context, cfgPath string, caseID int64, from, to, format, out string, unsigned bool, stdout, stderr io.Writer) error {
	if (caseID > 0) == (from != "" || to != "") {
		return usageErr("audit report needs --case ID, or --from DATE and --to DATE")
	}
	if format != "pdf" && format != "html" {
		return usageErr("--format must be pdf or html")
	}
	var f, t time.Time
	if caseID == 0 {
		var err error
		if f, err = parseDay("from", from); err != nil {
			return err
		}
		if t, err = parseDay("to", to); err != nil {
			return err
		}
		if !t.After(f) {
			return usageErr("--to must be after --from")
		}
	}
	a, err := openForAudit(ctx, cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	svc := a.Config.Service
	var key ed25519.PrivateKey
	if svc.Audit.ReportKey.IsSet() {
		if key, err = evidence.ParsePrivateKey(svc.Audit.ReportKey.Value()); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("audit.report_key: %v", err)}
		}
	} else if !unsigned {
		return &exitError{code: 1, err: errors.New("audit.report_key is not configured: set it (docs/audit.md) or pass --unsigned")}
	}
	an, err := latestAnchor(svc)
	if err != nil {
		return err
	}
	names := &evidence.Names{Dir: a.Directory}
	sla := svc.Audit.ReportSLA.D()
	var ev *evidence.Evidence
	if caseID > 0 {
		ev, err = evidence.BuildCase(ctx, a.Store, names, caseID, sla, an, time.Now())
		if errors.Is(err, store.ErrNotFound) {
			return &exitError{code: 1, err: fmt.Errorf("no case %d", caseID)}
		}
	} else {
		ev, err = evidence.BuildPeriod(ctx, a.Store, names, f, t, sla, an, time.Now())
	}
	if err != nil {
		return err
	}
	render := evidence.PDF
	if format == "html" {
		render = evidence.HTML
	}
	rep, err := render(ev)
	if err != nil {
		return err
	}
	path := out
	if path == "" {
		if caseID > 0 {
			path = "case-" + strconv.FormatInt(caseID, 10) + "." + format
		} else {
			path = "period-" + f.Format("20060102") + "-" + t.Format("20060102") + "." + format
		}
	}
	if err := os.WriteFile(path, rep, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", path, len(rep))
	if key == nil {
		fmt.Fprintln(stdout, "UNSIGNED: audit.report_key is not configured; verify-report will refuse this file")
		return nil
	}
	if err := os.WriteFile(path+".sig", evidence.Sign(rep, key), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.sig (Ed25519)\n", path)
	return nil
}

func newAuditVerifyReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify-report FILE [flags]",
		Short: "check a report's signature and its embedded chain excerpt",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr("audit verify-report needs one FILE")
			}
			return nil
		},
	}
	cfgPath := configFlag(cmd)
	sigPath := cmd.Flags().String("sig", "", "the detached signature (default FILE.sig)")
	pubPath := cmd.Flags().String("public-key", "", "the signer's Ed25519 public key (PEM); default: the public half of the configured audit.report_key")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return auditVerifyReport(args[0], *cfgPath, *sigPath, *pubPath, cmd.OutOrStdout())
	}
	return cmd
}

func auditVerifyReport(file, cfgPath, sigPath, pubPath string, stdout io.Writer) error {
	if sigPath == "" {
		sigPath = file + ".sig"
	}
	var pub ed25519.PublicKey
	if pubPath != "" {
		b, err := os.ReadFile(pubPath)
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		if pub, err = evidence.ParsePublicKey(b); err != nil {
			return &exitError{code: 1, err: fmt.Errorf("--public-key: %v", err)}
		}
	} else {
		cfg, err := loadConfig(cfgPath)
		if err != nil {
			return err
		}
		if !cfg.Service.Audit.ReportKey.IsSet() {
			return usageErr("no key to verify with: pass --public-key PEM or configure audit.report_key")
		}
		k, err := evidence.ParsePrivateKey(cfg.Service.Audit.ReportKey.Value())
		if err != nil {
			return &exitError{code: 1, err: fmt.Errorf("audit.report_key: %v", err)}
		}
		pub = k.Public().(ed25519.PublicKey)
	}
	rep, err := os.ReadFile(file)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	sig, err := os.ReadFile(sigPath)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("signature: %w", err)}
	}
	res, err := evidence.Verify(rep, sig, pub)
	if err != nil {
		fmt.Fprintf(stdout, "report %s does NOT verify: %v\n", file, err)
		return &exitError{code: 1, err: fmt.Errorf("report %s does not verify", file)}
	}
	fmt.Fprintf(stdout, "signature OK: Ed25519 key %s over all %d bytes of %s\n", res.KeyID, len(rep), file)
	ev := res.Evidence
	if ev.Chain != nil {
		fmt.Fprintf(stdout, "chain excerpt OK: case %d, %d events (%d other events linked by hash), from %s to %s\n",
			ev.Case.ID, len(ev.Chain.Events), len(ev.Chain.Links), ev.Chain.Before, res.LastHash)
		fmt.Fprintf(stdout, "head when made: %d %s\n", ev.Chain.HeadSeq, ev.Chain.HeadHash)
	} else if ev.Period != nil {
		fmt.Fprintf(stdout, "period report: %d cases, %d breaches\n", len(ev.Period.Cases), ev.Period.Breaches)
	}
	if res.PagesMatch {
		fmt.Fprintln(stdout, "pages OK: rendering the embedded evidence again gives this file byte for byte")
	} else {
		fmt.Fprintln(stdout, "pages NOT re-rendered identically: made by another Kinetic version, or its text differs from the embedded evidence")
	}
	if ev.Anchor != nil {
		fmt.Fprintf(stdout, "external anchor recorded in the report: %d %s (%s)\n", ev.Anchor.Seq, ev.Anchor.Hash, ev.Anchor.Sink)
	}
	if ev.Simulated {
		fmt.Fprintln(stdout, "SIMULATED: the report covers sandbox connectors")
	}
	return nil
}

// verifyExportFile checks one case's export (JSON or CSV) on its own.
func verifyExportFile(path string, stdout io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	c, err := store.ParseExport(data)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	last, err := store.VerifyExcerpt(c)
	if err != nil {
		fmt.Fprintf(stdout, "export %s BROKEN: %v\n", path, err)
		return &exitError{code: 1, err: fmt.Errorf("export %s does not verify", path)}
	}
	fmt.Fprintf(stdout, "export OK: %d events (%d other events linked by hash), from %s to %s\n", len(c.Events), len(c.Links), c.Before, last)
	return nil
}
