package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kineticsec/kinetic/bot"
)

// The operations on cases, actions and equipment through a running kinetic
// serve's API (cli.go): actions retry|skip|done|escalate|confirm, cases
// cancel|restore, equipment move.

func newActionsCmd() *cobra.Command {
	ops := []struct{ name, short string }{
		{"retry", "run a failed or escalated action again"},
		{"skip", "skip a skippable action (--reason required)"},
		{"done", "mark a manual or escalated action done"},
		{"escalate", "escalate an action to its owning team"},
		{"confirm", "confirm a plan awaiting its requester's confirmation (takes a CASE-ID)"},
	}
	var subs []*cobra.Command
	for _, op := range ops {
		subs = append(subs, newActionCmd(op.name, op.short))
	}
	return group("actions", "the owning team's operations on an action; confirm a plan", groupAPI, subs...)
}

// newActionCmd returns one of the owning team's operations on an action,
// or confirm, which confirms a case's plan.
func newActionCmd(op, short string) *cobra.Command {
	use := op + " ACTION-ID --as HR-ID [flags]"
	if op == "confirm" {
		use = "confirm CASE-ID --as HR-ID [flags]"
	}
	cmd, server := apiCmd(use, short)
	as := cmd.Flags().String("as", "", "`HR-ID` of the person acting (required)")
	reason := cmd.Flags().String("reason", "", "`TEXT` saying why (required to skip; a note for done)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, _, err := idArgs(args, 0, "")
		if err != nil {
			return err
		}
		if *as == "" {
			return usageErr("actions %s needs --as HR-ID", op)
		}
		if op == "skip" && strings.TrimSpace(*reason) == "" {
			return usageErr("actions skip needs --reason")
		}
		c, err := newClient(*server)
		if err != nil {
			return err
		}
		body := bot.DecisionRequest{As: *as, Reason: *reason}
		stdout := cmd.OutOrStdout()
		if op == "confirm" {
			var out bot.CaseResponse
			if err := c.call(cmd.Context(), "POST", fmt.Sprintf("/api/v1/cases/%d/confirm", id), body, &out); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "case %d confirmed: %s\n", out.ID, out.Status)
			return nil
		}
		var out bot.ActionResponse
		if err := c.call(cmd.Context(), "POST", fmt.Sprintf("/api/v1/actions/%d/%s", id, op), body, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "action %d %s: %s %s\n", out.ID, out.Name, out.Status, out.BlockedReason)
		return nil
	}
	return cmd
}

func newCasesCmd() *cobra.Command {
	cancel, server := apiCmd("cancel CASE-ID --as HR-ID --reason TEXT [flags]", "cancel a case that has not started")
	as := cancel.Flags().String("as", "", "`HR-ID` of the person cancelling (required; authorized like /offboard cancel in Slack)")
	reason := cancel.Flags().String("reason", "", "`TEXT` saying why (required)")
	cancel.RunE = func(cmd *cobra.Command, args []string) error {
		id, _, err := idArgs(args, 0, "")
		if err != nil {
			return err
		}
		if *as == "" {
			return usageErr("cases cancel needs --as HR-ID")
		}
		if strings.TrimSpace(*reason) == "" {
			return usageErr("cases cancel needs --reason")
		}
		c, err := newClient(*server)
		if err != nil {
			return err
		}
		var out bot.CaseResponse
		if err := c.call(cmd.Context(), "POST", fmt.Sprintf("/api/v1/cases/%d/cancel", id), bot.CancelCaseRequest{As: *as, Reason: *reason}, &out); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "case %d (%s, %s) %s\n", out.ID, out.EmployeeName, out.EmployeeID, out.Status)
		return nil
	}
	return group("cases", "cancel a case that has not started; ask to restore a closed one", groupAPI, cancel, newCasesRestoreCmd())
}

// newCasesRestoreCmd asks for a closed case to be undone (a rehire, a case
// opened by mistake): kinetic cases restore CASE-ID --as HR-ID --reason
// TEXT. The request goes to its approvers; approving it runs the
// compensating actions.
func newCasesRestoreCmd() *cobra.Command {
	cmd, server := apiCmd("restore CASE-ID --as HR-ID --reason TEXT [flags]", "ask for a closed case to be undone (a rehire); its approvers decide")
	as := cmd.Flags().String("as", "", "`HR-ID` of the person asking (required; an admin, HR, the manager or HR partner, or the case's requester)")
	reason := cmd.Flags().String("reason", "", "`TEXT` saying why (required)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, _, err := idArgs(args, 0, "")
		if err != nil {
			return err
		}
		if *as == "" {
			return usageErr("cases restore needs --as HR-ID")
		}
		if strings.TrimSpace(*reason) == "" {
			return usageErr("cases restore needs --reason")
		}
		c, err := newClient(*server)
		if err != nil {
			return err
		}
		var out bot.RestoreCaseResponse
		if err := c.call(cmd.Context(), "POST", fmt.Sprintf("/api/v1/cases/%d/restore", id), bot.RestoreCaseRequest{As: *as, Reason: *reason}, &out); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "restore of case %d requested: approval %d awaits its approvers (kinetic approve %d --as HR-ID)\n", out.CaseID, out.ApprovalID, out.ApprovalID)
		return nil
	}
	return cmd
}

// equipmentStatuses are the statuses equipment move takes.
var equipmentStatuses = []string{"return_requested", "received", "wiped", "preserved", "redeployed", "disposed", "lost"}

// newEquipmentCmd moves an equipment task through the API: kinetic
// equipment move TASK-ID STATUS --as HR-ID [--note TEXT] [--reference REF].
func newEquipmentCmd() *cobra.Command {
	move, server := apiCmd("move TASK-ID STATUS --as HR-ID [flags]", "the recovering team moves a device: "+strings.Join(equipmentStatuses, ", "))
	as := move.Flags().String("as", "", "`HR-ID` of the person moving the device (required; on the task's team, or an admin)")
	note := move.Flags().String("note", "", "a note: where the instructions went, a tracking number")
	ref := move.Flags().String("reference", "", "the certificate-of-destruction reference (required to dispose)")
	move.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 1 {
			return equipmentStatuses, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	move.RunE = func(cmd *cobra.Command, args []string) error {
		id, rest, err := idArgs(args, 1, "equipment move needs the new status after the task id\nusage: kinetic equipment move TASK-ID "+strings.Join(equipmentStatuses, "|")+" --as HR-ID [--note TEXT] [--reference CERTIFICATE]")
		if err != nil {
			return err
		}
		to := rest[0]
		if *as == "" {
			return usageErr("equipment move needs --as HR-ID")
		}
		if to == "disposed" && strings.TrimSpace(*ref) == "" {
			return usageErr("equipment move … disposed needs --reference (the certificate of destruction)")
		}
		c, err := newClient(*server)
		if err != nil {
			return err
		}
		var out bot.EquipmentMoveResponse
		if err := c.call(cmd.Context(), "POST", fmt.Sprintf("/api/v1/equipment/%d/move", id), bot.EquipmentMoveRequest{As: *as, To: to, Note: *note, Reference: *ref}, &out); err != nil {
			return err
		}
		t := out.Task
		stdout := cmd.OutOrStdout()
		if !out.Changed {
			fmt.Fprintf(stdout, "equipment task %d %s: already %s\n", t.ID, t.AssetTag, t.Status)
			return nil
		}
		fmt.Fprintf(stdout, "equipment task %d %s (%s, team %s): %s\n", t.ID, t.AssetTag, t.Category, t.AssigneeTeam, t.Status)
		return nil
	}
	return group("equipment", "move a device's recovery task (equipment move TASK STATUS)", groupAPI, move)
}
