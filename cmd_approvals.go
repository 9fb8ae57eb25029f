package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kineticsec/kinetic/bot"
)

// The approval commands: approvals list|release, approve, deny,
// exceptions request and batches list|approve|deny, through a running
// kinetic serve's API (cli.go).

func newApprovalsCmd() *cobra.Command {
	list, server := apiCmd("list [flags]", "pending and decided approvals (--for ID: what ID may decide now)")
	list.Args = noArgs
	f := list.Flags()
	forUser := f.String("for", "", "only pending approvals this HR id may decide now")
	status := f.String("status", "", "pending, approved, denied, expired or cancelled (default any; pending with --for)")
	caseID := f.Int64("case", 0, "only this case's approvals")
	asJSON := f.Bool("json", false, "print JSON")
	enumFlag(list, "status", "pending", "approved", "denied", "expired", "cancelled")
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := newClient(*server)
		if err != nil {
			return err
		}
		q := url.Values{}
		if *forUser != "" {
			q.Set("for", *forUser)
		}
		if *status != "" {
			q.Set("status", *status)
		}
		if *caseID > 0 {
			q.Set("case", strconv.FormatInt(*caseID, 10))
		}
		var list []bot.ApprovalResponse
		if err := c.call(cmd.Context(), "GET", "/api/v1/approvals?"+q.Encode(), nil, &list); err != nil {
			return err
		}
		stdout := cmd.OutOrStdout()
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		if len(list) == 0 {
			fmt.Fprintln(stdout, "no approvals")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCASE\tEMPLOYEE\tKIND\tSTATUS\tCURRENT\tMAY DECIDE")
		for _, a := range list {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.CaseID, a.EmployeeName, a.Kind, a.Status, currentStep(a), strings.Join(a.Approvers, ","))
		}
		return tw.Flush()
	}
	return group("approvals", "list approvals; release an approved legal hold", groupAPI, list, newDecideCmd("release"))
}

// newDecideCmd returns approve, deny or approvals release.
func newDecideCmd(verb string) *cobra.Command {
	use, short := verb+" ID --as HR-ID [flags]", "approve an approval's current step"
	switch verb {
	case "deny":
		use, short = "deny ID --as HR-ID --reason TEXT [flags]", "deny an approval's current step"
	case "release":
		use, short = "release LEGAL-HOLD-APPROVAL-ID --as HR-ID --reason TEXT [flags]", "ask to release an approved legal hold"
	}
	cmd, server := apiCmd(use, short)
	if verb != "release" {
		cmd.GroupID = groupAPI
	}
	as := cmd.Flags().String("as", "", "`HR-ID` of the person deciding (required)")
	reason := cmd.Flags().String("reason", "", "`TEXT` saying why (required to deny or release)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, _, err := idArgs(args, 0, "")
		if err != nil {
			return err
		}
		if *as == "" {
			return usageErr("%s needs --as HR-ID", verb)
		}
		if (verb == "deny" || verb == "release") && strings.TrimSpace(*reason) == "" {
			return usageErr("%s needs --reason", verb)
		}
		c, err := newClient(*server)
		if err != nil {
			return err
		}
		var out bot.ApprovalResponse
		if err := c.call(cmd.Context(), "POST", fmt.Sprintf("/api/v1/approvals/%d/%s", id, verb), bot.DecisionRequest{As: *as, Reason: *reason}, &out); err != nil {
			return err
		}
		printApproval(cmd.OutOrStdout(), out)
		return nil
	}
	return cmd
}

func newExceptionsCmd() *cobra.Command {
	req, server := apiCmd("request CASE KIND --as HR-ID [flags]", "ask for an exception to a case's plan (forwarding, a delay, a late laptop…)")
	f := req.Flags()
	as := f.String("as", "", "`HR-ID` of the person asking (required)")
	forward := f.String("forward-to", "", "forwarding: the address to forward to")
	days := f.Int("days", 0, "forwarding, delay: how many days")
	action := f.String("action", "", "delay_action: the action to delay")
	reason := f.String("reason", "", "`TEXT` saying why")
	req.RunE = func(cmd *cobra.Command, args []string) error {
		caseID, rest, err := idArgs(args, 1, "exceptions request needs CASE and KIND")
		if err != nil {
			return err
		}
		if *as == "" {
			return usageErr("exceptions request needs --as HR-ID")
		}
		c, err := newClient(*server)
		if err != nil {
			return err
		}
		var out bot.ApprovalResponse
		body := bot.ExceptionBody{Kind: rest[0], As: *as, Reason: *reason, ForwardTo: *forward, Days: *days, Action: *action}
		if err := c.call(cmd.Context(), "POST", fmt.Sprintf("/api/v1/cases/%d/exceptions", caseID), body, &out); err != nil {
			return err
		}
		printApproval(cmd.OutOrStdout(), out)
		return nil
	}
	return group("exceptions", "ask for an exception to a case's plan (exceptions request CASE KIND)", groupAPI, req)
}

func newBatchesCmd() *cobra.Command {
	list, server := apiCmd("list [flags]", "mass-termination batches held by the guard")
	list.Args = noArgs
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := newClient(*server)
		if err != nil {
			return err
		}
		var bs []bot.BatchResponse
		if err := c.call(cmd.Context(), "GET", "/api/v1/batches", nil, &bs); err != nil {
			return err
		}
		stdout := cmd.OutOrStdout()
		if len(bs) == 0 {
			fmt.Fprintln(stdout, "no batches")
		}
		for _, b := range bs {
			fmt.Fprintf(stdout, "batch %d: %s — %s\n", b.ID, b.Status, b.Reason)
			for _, c := range b.Cases {
				fmt.Fprintf(stdout, "  case %d %s (%s): %s\n", c.ID, c.EmployeeName, c.EmployeeID, c.Status)
			}
		}
		return nil
	}
	return group("batches", "mass-termination batches held by the guard (list, approve, deny)", groupAPI,
		list, newBatchDecideCmd("approve"), newBatchDecideCmd("deny"))
}

// newBatchDecideCmd returns batches approve or batches deny.
func newBatchDecideCmd(verb string) *cobra.Command {
	use, short := "approve ID --as HR-ID [--case N,…] [flags]", "release a held batch, or only some of its cases"
	if verb == "deny" {
		use, short = "deny ID --as HR-ID --reason TEXT [flags]", "deny a held batch: its cases are not started"
	}
	cmd, server := apiCmd(use, short)
	as := cmd.Flags().String("as", "", "`HR-ID` of the approver (required)")
	reason := cmd.Flags().String("reason", "", "`TEXT` saying why (required to deny)")
	cases := cmd.Flags().String("case", "", "approve: release only these case ids (comma separated)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		id, _, err := idArgs(args, 0, "")
		if err != nil {
			return err
		}
		if *as == "" {
			return usageErr("batches %s needs --as HR-ID", verb)
		}
		body := bot.DecisionRequest{As: *as, Reason: *reason}
		if *cases != "" {
			for _, s := range strings.Split(*cases, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
				if err != nil || n <= 0 {
					return usageErr("--case takes case ids separated by commas")
				}
				body.CaseIDs = append(body.CaseIDs, n)
			}
		}
		c, err := newClient(*server)
		if err != nil {
			return err
		}
		var out bot.BatchDecisionResponse
		if err := c.call(cmd.Context(), "POST", fmt.Sprintf("/api/v1/batches/%d/%s", id, verb), body, &out); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), out.Detail)
		return nil
	}
	return cmd
}
