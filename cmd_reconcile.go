package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/store"
)

// newReconcileCmd returns kinetic reconcile: a reconciliation scan of one
// closed case, or of every case closed in the last N days and the
// organization-wide orphan scan (--all), made from this process (it calls
// the connectors itself), printing each scan's report. It exits 1 when
// residual access was found, so a scheduler notices.
func newReconcileCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reconcile (--case ID | --all [--days N]) [flags]",
		Short: "ask every connector whether closed cases' people still have access",
		Long: "Asks every connector whether a closed case's person still has access (--case), or every case\n" +
			"closed in the last --days days' and every orphan account (--all), and prints each scan's report.\n" +
			"Exit 1 when residual access was found.",
		GroupID: groupAudit,
		Args:    noArgs,
	}
	cfgPath := configFlag(cmd)
	caseID := cmd.Flags().Int64("case", 0, "the closed case to scan")
	all := cmd.Flags().Bool("all", false, "scan every case closed in the last --days days")
	days := cmd.Flags().Int("days", 30, "with --all: how far back closed cases are scanned")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return reconcile(cmd.Context(), *cfgPath, *caseID, *all, *days, cmd.OutOrStdout(), cmd.ErrOrStderr())
	}
	return cmd
}

func reconcile(ctx context.Context, cfgPath string, caseID int64, all bool, days int, stdout, stderr io.Writer) error {
	if (caseID > 0) == all {
		return usageErr("usage: kinetic reconcile (--case ID | --all [--days N]) [--config FILE]")
	}
	if days <= 0 {
		return usageErr("--days must be positive")
	}
	a, err := openForAudit(ctx, cfgPath, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	var reps []*engine.ReconcileReport
	var orphans *engine.ReconcileReport
	var scanErr error
	if all {
		reps, scanErr = a.Engine.ReconcileAll(ctx, time.Now().Add(-time.Duration(days)*24*time.Hour), 10000, store.TriggerCLI)
		// And the organization-wide orphan scan of the connectors that
		// can list their accounts.
		orph, err := a.Engine.ReconcileOrphans(ctx, store.TriggerCLI)
		if err != nil {
			scanErr = errors.Join(scanErr, err)
		} else {
			orphans = orph
		}
	} else {
		var rep *engine.ReconcileReport
		rep, scanErr = a.Engine.ReconcileCase(ctx, caseID, store.TriggerCLI, "")
		if rep != nil {
			reps = append(reps, rep)
		}
	}
	found := 0
	for _, r := range reps {
		printReconcile(stdout, r.Run, r.Residuals)
		found += len(r.Residuals)
	}
	if orphans != nil {
		printReconcile(stdout, orphans.Run, orphans.Residuals)
		found += len(orphans.Residuals)
	}
	fmt.Fprintf(stdout, "%d cases scanned, %d residual access found\n", len(reps), found)
	if scanErr != nil {
		if errors.Is(scanErr, engine.ErrNotFound) || errors.Is(scanErr, engine.ErrInvalidRequest) {
			return &exitError{code: 2, err: scanErr}
		}
		return scanErr
	}
	if found > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d residual access found; remediate from the security alerts channel", found)}
	}
	return nil
}

// printReconcile writes one scan's report.
func printReconcile(w io.Writer, run store.ReconcileRun, res []store.Residual) {
	if run.CaseID == 0 {
		fmt.Fprintf(w, "orphan scan %d (%s): %d connectors listed, %d orphan accounts, %d could not be made\n",
			run.ID, run.Trigger, run.Checked, run.Residuals, run.Errors)
	} else {
		fmt.Fprintf(w, "case %d scan %d (%s, %s): %d checks, %d residual, %d could not be made\n",
			run.CaseID, run.ID, run.Stage, run.Trigger, run.Checked, run.Residuals, run.Errors)
	}
	for _, r := range res {
		sim := ""
		if r.Simulated {
			sim = " [SIMULATED]"
		}
		fmt.Fprintf(w, "  RESIDUAL %d%s %s %s: %s (%s)\n", r.ID, sim, r.Kind, r.Connector, r.Detail, r.Status)
	}
	if run.Detail != "" {
		fmt.Fprintf(w, "  not checked:\n    %s\n", run.Detail)
	}
}
