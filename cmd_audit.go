package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	extanchor "github.com/kineticsec/kinetic/internal/anchor"
	"github.com/kineticsec/kinetic/internal/app"
)

func newAuditCmd() *cobra.Command {
	return group("audit", "verify the audit trail, export a case, signed evidence reports", groupAudit,
		newAuditVerifyCmd(), newAuditExportCmd(), newAuditReportCmd(), newAuditVerifyReportCmd())
}

func openForAudit(ctx context.Context, cfgPath string, stderr io.Writer) (*app.App, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return nil, err
	}
	if cfg.Service.Database.Driver == "sqlite" {
		if _, err := os.Stat(cfg.Service.Database.Path); err != nil {
			return nil, &exitError{code: 1, err: fmt.Errorf("no database at %s (run kinetic demo or serve first, or pass --config)", cfg.Service.Database.Path)}
		}
	}
	cfg.Service.Log.Level = "error"
	return app.Build(ctx, cfg, app.Options{Log: newLogger(cfg, stderr), NoRedis: true, SkipMigrate: true})
}

func newAuditVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify [flags]",
		Short: "check the hash chain, the latest external anchor, and that the state matches it",
		Long: "Checks the audit trail's hash chain, the anchors given and the latest one published outside\n" +
			"the database (audit.anchors.file), and that the database's state is what the chain leads to.\n" +
			"With --export FILE it checks one case's export on its own, without the database.",
		Args: noArgs,
	}
	cfgPath := configFlag(cmd)
	f := cmd.Flags()
	exportFile := f.String("export", "", "verify one case's export `FILE` (JSON or CSV, from audit export) on its own, without the database")
	anchorFile := f.String("anchor-file", "", "an anchor `FILE` (JSON lines) to check the chain against; default audit.anchors.file")
	anchors := f.StringArray("anchor", nil, "a head recorded earlier outside the database (`SEQ:HASH`, as an earlier verify printed it); the chain must still hold that event with that hash (repeatable)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return auditVerify(cmd.Context(), *cfgPath, *exportFile, *anchorFile, *anchors, cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func auditVerify(ctx context.Context, cfgPath, exportFile, anchorFile string, anchors []string, stdout, stderr io.Writer) error {
	type anchor struct {
		seq  int64
		hash string
	}
	var want []anchor
	for _, v := range anchors {
		seq, hash, ok := strings.Cut(v, ":")
		n, err := strconv.ParseInt(seq, 10, 64)
		if !ok || err != nil || n <= 0 || len(hash) != 64 {
			return usageErr("--anchor %q: want SEQ:HASH, e.g. 1234:%s", v, strings.Repeat("0", 64))
		}
		want = append(want, anchor{n, strings.ToLower(hash)})
	}
	if exportFile != "" {
		return verifyExportFile(exportFile, stdout)
	}
	a, err := openForAudit(ctx, cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	// The newest anchor published outside the database (audit.anchors.file,
	// or --anchor-file) is checked like an --anchor.
	if anchorFile == "" {
		anchorFile = a.Config.Service.Audit.Anchors.File
	}
	if anchorFile != "" {
		r, err := extanchor.Latest(anchorFile)
		switch {
		case errors.Is(err, extanchor.ErrNoAnchor) || (errors.Is(err, os.ErrNotExist) && anchorFile == a.Config.Service.Audit.Anchors.File):
			fmt.Fprintf(stdout, "no external anchor yet in %s\n", anchorFile)
		case err != nil:
			return &exitError{code: 1, err: err}
		default:
			fmt.Fprintf(stdout, "external anchor %d %s (published %s)\n", r.Seq, r.Hash, r.Time.Format(time.RFC3339))
			want = append(want, anchor{r.Seq, r.Hash})
		}
	}
	rep, err := a.Store.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if !rep.OK {
		fmt.Fprintf(stdout, "audit chain BROKEN at event %d: %s\n", rep.FirstBad, rep.Problem)
		return &exitError{code: 1, err: fmt.Errorf("audit chain does not verify (first broken event %d)", rep.FirstBad)}
	}
	// The chain and its head live in one database: whoever can rewrite
	// both can forge a consistent chain. A head recorded elsewhere earlier
	// (a SIEM, a ticket, a signed log line) catches that.
	for _, an := range want {
		if err := a.Store.CheckAuditAnchor(ctx, an.seq, an.hash); err != nil {
			fmt.Fprintf(stdout, "audit chain BROKEN at anchor %d: %v\n", an.seq, err)
			return &exitError{code: 1, err: fmt.Errorf("audit chain does not match anchor %d", an.seq)}
		}
	}
	fmt.Fprintf(stdout, "audit chain OK: %d events, head %d %s\n", rep.Events, rep.HeadSeq, rep.HeadHash)
	if rep.Pending > 0 && rep.PendingSince != nil {
		// Committed by other processes while the walk ran, not yet
		// chained (PostgreSQL; docs/audit.md): within the bound, or the
		// chain would not be OK.
		fmt.Fprintf(stdout, "pending: %d events committed and not yet chained, the oldest from %s\n", rep.Pending, rep.PendingSince.UTC().Format(time.RFC3339Nano))
	}
	if len(want) > 0 {
		fmt.Fprintf(stdout, "anchors OK: %d\n", len(want))
	}
	fmt.Fprintf(stdout, "record this anchor outside the database: %d:%s\n", rep.HeadSeq, rep.HeadHash)
	// An intact chain says nothing of rows changed behind the engine's
	// back: the state must also be what the chain leads to.
	st, err := a.Store.VerifyAuditedState(ctx)
	if err != nil {
		return err
	}
	if !st.OK {
		for _, m := range st.Mismatches {
			fmt.Fprintf(stdout, "state MISMATCH: %s\n", m)
		}
		if more := st.MismatchCount - int64(len(st.Mismatches)); more > 0 {
			fmt.Fprintf(stdout, "state MISMATCH: %d more not listed\n", more)
		}
		return &exitError{code: 1, err: fmt.Errorf("the database's state does not match the audit trail (%d mismatches)", st.MismatchCount)}
	}
	fmt.Fprintf(stdout, "state matches the audit trail: %d cases, %d actions, %d approvals\n", st.Cases, st.Actions, st.Approvals)
	if st.Unrecorded > 0 {
		fmt.Fprintf(stdout, "not checked: %d cases created before state records began\n", st.Unrecorded)
	}
	return nil
}

func newAuditExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export --case ID [flags]",
		Short: "write one case's audit record (JSON or CSV)",
		Args:  noArgs,
	}
	cfgPath := configFlag(cmd)
	f := cmd.Flags()
	caseID := f.Int64("case", 0, "case id")
	format := f.String("format", "json", "json or csv")
	out := f.String("out", "", "write to `FILE` instead of standard output")
	enumFlag(cmd, "format", "json", "csv")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *caseID <= 0 {
			return usageErr("audit export needs --case ID")
		}
		if *format != "json" && *format != "csv" {
			return usageErr("--format must be json or csv")
		}
		a, err := openForAudit(cmd.Context(), *cfgPath, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		defer a.Close()
		stdout := cmd.OutOrStdout()
		w := stdout
		if *out != "" {
			f, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		n, err := a.Store.ExportAudit(cmd.Context(), *caseID, *format, w)
		if err != nil {
			return err
		}
		if *out != "" {
			fmt.Fprintf(stdout, "wrote %d events of case %d to %s\n", n, *caseID, *out)
		}
		return nil
	}
	return cmd
}
