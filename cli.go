package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kineticsec/kinetic/bot"
)

// The approval commands talk to a running `kinetic serve` through its JSON
// API, so they work the same against the embedded default and against a
// production deployment. The server is --server (or KINETIC_SERVER,
// default http://127.0.0.1:8080); the bearer token comes only from the
// environment (KINETIC_API_TOKEN), never from a flag that would show in
// the process list.

// apiClient calls the server.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func clientFlags(fs *flag.FlagSet) *string {
	def := os.Getenv("KINETIC_SERVER")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	return fs.String("server", def, "kinetic serve's base URL (env KINETIC_SERVER); the token is read from KINETIC_API_TOKEN")
}

func newClient(server string) (*apiClient, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErr("--server must be an http(s) URL, got %q", server)
	}
	tok := os.Getenv("KINETIC_API_TOKEN")
	if tok == "" {
		return nil, usageErr("KINETIC_API_TOKEN must hold an API token of the server (http.api_tokens, or KINETIC_API_TOKEN where it runs)")
	}
	return &apiClient{base: strings.TrimRight(server, "/"), token: tok, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// call sends a request and decodes a 2xx JSON answer into out. An error
// answer becomes an error with the server's message; 4xx answers exit 1.
func (c *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e bot.ErrorResponse
		_ = json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &exitError{code: 1, err: fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// The commands decode the API's answers into its own response types
// (bot.ApprovalResponse, bot.CaseResponse, …), as they send its request
// types.

// currentStep describes a's pending step, or "-".
func currentStep(a bot.ApprovalResponse) string {
	for _, s := range a.Steps {
		if s.Status == "pending" {
			due := ""
			if s.DueAt != nil {
				due = " until " + s.DueAt.Local().Format("2006-01-02 15:04")
			}
			return fmt.Sprintf("step %d/%d %q%s", s.Index+1, len(a.Steps), s.Name, due)
		}
	}
	return "-"
}

func printApproval(w io.Writer, a bot.ApprovalResponse) {
	fmt.Fprintf(w, "approval %d: %s for %s (%s), case %d — %s\n", a.ID, a.Kind, a.EmployeeName, a.EmployeeID, a.CaseID, a.Status)
	fmt.Fprintf(w, "  requested by %s; holds %s\n", a.Requester, strings.Join(a.Held, ", "))
	for _, s := range a.Steps {
		fmt.Fprintf(w, "  step %d %-12s %-9s (%s)\n", s.Index+1, s.Name, s.Status, s.Mode)
	}
	for _, d := range a.Decisions {
		fmt.Fprintf(w, "  %s %s step %d %s %s\n", d.At.Local().Format("2006-01-02 15:04:05"), d.Approver, d.StepIndex+1, d.Decision, d.Reason)
	}
	if len(a.Approvers) > 0 {
		fmt.Fprintf(w, "  may decide now: %s\n", strings.Join(a.Approvers, ", "))
	}
	if a.Outcome != "" {
		fmt.Fprintf(w, "  outcome: %s\n", a.Outcome)
	}
}

func cmdApprovals(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "release" {
		return cmdDecide(ctx, "release", args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "list" {
		return usageErr("usage: kinetic approvals list [--for ID] [--status S] [--case ID] | kinetic approvals release HOLD-ID --as ID --reason TEXT")
	}
	fs := flag.NewFlagSet("approvals list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := clientFlags(fs)
	forUser := fs.String("for", "", "only pending approvals this HR id may decide now")
	status := fs.String("status", "", "pending, approved, denied, expired or cancelled (default any; pending with --for)")
	caseID := fs.Int64("case", 0, "only this case's approvals")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kinetic approvals list [--for ID] [--status S] [--case ID] [--json] [--server URL]")
		fs.PrintDefaults()
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
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
	if err := c.call(ctx, "GET", "/api/v1/approvals?"+q.Encode(), nil, &list); err != nil {
		return err
	}
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

// cmdDecide runs approve, deny and approvals release.
func cmdDecide(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := clientFlags(fs)
	as := fs.String("as", "", "HR id of the person deciding (required)")
	reason := fs.String("reason", "", "why (required to deny or release)")
	synopsis := fmt.Sprintf("%s ID --as HR-ID [--reason TEXT] [--server URL]", verb)
	if verb == "release" {
		synopsis = "approvals release LEGAL-HOLD-APPROVAL-ID --as HR-ID --reason TEXT [--server URL]"
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: kinetic %s\n", synopsis)
		fs.PrintDefaults()
	}
	id, rest, err := leadingID(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
		}
		return err
	}
	if err := parse(fs, rest); err != nil {
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
	if err := c.call(ctx, "POST", fmt.Sprintf("/api/v1/approvals/%d/%s", id, verb), bot.DecisionRequest{As: *as, Reason: *reason}, &out); err != nil {
		return err
	}
	printApproval(stdout, out)
	return nil
}

func cmdExceptions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "request" {
		return usageErr("usage: kinetic exceptions request CASE KIND --as HR-ID [--forward-to ADDR] [--days N] [--action NAME] [--reason TEXT]")
	}
	fs := flag.NewFlagSet("exceptions request", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := clientFlags(fs)
	as := fs.String("as", "", "HR id of the person asking (required)")
	forward := fs.String("forward-to", "", "forwarding: the address to forward to")
	days := fs.Int("days", 0, "forwarding, delay: how many days")
	action := fs.String("action", "", "delay_action: the action to delay")
	reason := fs.String("reason", "", "why")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kinetic exceptions request CASE KIND --as HR-ID [--forward-to ADDR] [--days N] [--action NAME] [--reason TEXT] [--server URL]")
		fs.PrintDefaults()
	}
	rest := args[1:]
	caseID, rest, err := leadingID(rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
		}
		return err
	}
	if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
		return usageErr("exceptions request needs CASE and KIND")
	}
	kind := rest[0]
	if err := parse(fs, rest[1:]); err != nil {
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
	body := bot.ExceptionBody{Kind: kind, As: *as, Reason: *reason, ForwardTo: *forward, Days: *days, Action: *action}
	if err := c.call(ctx, "POST", fmt.Sprintf("/api/v1/cases/%d/exceptions", caseID), body, &out); err != nil {
		return err
	}
	printApproval(stdout, out)
	return nil
}

func cmdBatches(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: kinetic batches list | kinetic batches approve ID --as HR-ID [--case N,…] [--reason TEXT] | kinetic batches deny ID --as HR-ID --reason TEXT"
	if len(args) == 0 {
		return usageErr("%s", usage)
	}
	fs := flag.NewFlagSet("batches "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := clientFlags(fs)
	fs.Usage = func() {
		switch args[0] {
		case "approve":
			fmt.Fprintln(stderr, "Usage: kinetic batches approve ID --as HR-ID [--case N,…] [--reason TEXT] [--server URL]")
		case "deny":
			fmt.Fprintln(stderr, "Usage: kinetic batches deny ID --as HR-ID --reason TEXT [--server URL]")
		default:
			fmt.Fprintln(stderr, "Usage: kinetic batches list [--server URL]")
		}
		fs.PrintDefaults()
	}
	switch args[0] {
	case "list":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		c, err := newClient(*server)
		if err != nil {
			return err
		}
		var bs []bot.BatchResponse
		if err := c.call(ctx, "GET", "/api/v1/batches", nil, &bs); err != nil {
			return err
		}
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
	case "approve", "deny":
		as := fs.String("as", "", "HR id of the approver (required)")
		reason := fs.String("reason", "", "why (required to deny)")
		cases := fs.String("case", "", "approve: release only these case ids (comma separated)")
		id, rest, err := leadingID(args[1:])
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.Usage()
			}
			return err
		}
		if err := parse(fs, rest); err != nil {
			return err
		}
		if *as == "" {
			return usageErr("batches %s needs --as HR-ID", args[0])
		}
		body := bot.DecisionRequest{As: *as, Reason: *reason}
		if *cases != "" {
			var ids []int64
			for _, s := range strings.Split(*cases, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
				if err != nil || n <= 0 {
					return usageErr("--case takes case ids separated by commas")
				}
				ids = append(ids, n)
			}
			body.CaseIDs = ids
		}
		c, err := newClient(*server)
		if err != nil {
			return err
		}
		var out bot.BatchDecisionResponse
		if err := c.call(ctx, "POST", fmt.Sprintf("/api/v1/batches/%d/%s", id, args[0]), body, &out); err != nil {
			return err
		}
		fmt.Fprintln(stdout, out.Detail)
		return nil
	}
	return usageErr("%s", usage)
}

// leadingID takes a positive integer id from the front of args.
func leadingID(args []string) (int64, []string, error) {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		return 0, nil, flag.ErrHelp
	}
	if len(args) == 0 {
		return 0, nil, usageErr("an id is required")
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, nil, usageErr("%q is not an id", args[0])
	}
	return id, args[1:], nil
}

// cmdActions runs the owning team's operations on an action, and confirms
// a plan awaiting confirmation.
func cmdActions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: kinetic actions retry|skip|done|escalate ACTION-ID --as HR-ID [--reason TEXT] | kinetic actions confirm CASE-ID --as HR-ID"
	if len(args) == 0 {
		return usageErr("%s", usage)
	}
	op := args[0]
	switch op {
	case "retry", "skip", "done", "escalate", "confirm":
	default:
		return usageErr("%s", usage)
	}
	fs := flag.NewFlagSet("actions "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := clientFlags(fs)
	as := fs.String("as", "", "HR id of the person acting (required)")
	reason := fs.String("reason", "", "why (required to skip; a note for done)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	id, rest, err := leadingID(args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
		}
		return err
	}
	if err := parse(fs, rest); err != nil {
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
	if op == "confirm" {
		var out bot.CaseResponse
		if err := c.call(ctx, "POST", fmt.Sprintf("/api/v1/cases/%d/confirm", id), body, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "case %d confirmed: %s\n", out.ID, out.Status)
		return nil
	}
	var out bot.ActionResponse
	if err := c.call(ctx, "POST", fmt.Sprintf("/api/v1/actions/%d/%s", id, op), body, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "action %d %s: %s %s\n", out.ID, out.Name, out.Status, out.BlockedReason)
	return nil
}

// cmdCases runs operations on a case through the API: cases cancel, cases
// restore.
func cmdCases(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: kinetic cases cancel CASE-ID --as HR-ID --reason TEXT | kinetic cases restore CASE-ID --as HR-ID --reason TEXT"
	if len(args) > 0 && args[0] == "restore" {
		return cmdCasesRestore(ctx, args, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "cancel" {
		return usageErr("%s", usage)
	}
	fs := flag.NewFlagSet("cases cancel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := clientFlags(fs)
	as := fs.String("as", "", "HR id of the person cancelling (required; authorized like /offboard cancel in Slack)")
	reason := fs.String("reason", "", "why (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kinetic cases cancel CASE-ID --as HR-ID --reason TEXT [--server URL]")
		fs.PrintDefaults()
	}
	id, rest, err := leadingID(args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
		}
		return err
	}
	if err := parse(fs, rest); err != nil {
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
	if err := c.call(ctx, "POST", fmt.Sprintf("/api/v1/cases/%d/cancel", id), bot.CancelCaseRequest{As: *as, Reason: *reason}, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "case %d (%s, %s) %s\n", out.ID, out.EmployeeName, out.EmployeeID, out.Status)
	return nil
}

// cmdCasesRestore asks for a closed case to be undone (a rehire, a case
// opened by mistake): kinetic cases restore CASE-ID --as HR-ID --reason
// TEXT. The request goes to its approvers; approving it runs the
// compensating actions.
func cmdCasesRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cases restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := clientFlags(fs)
	as := fs.String("as", "", "HR id of the person asking (required; an admin, HR, the manager or HR partner, or the case's requester)")
	reason := fs.String("reason", "", "why (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kinetic cases restore CASE-ID --as HR-ID --reason TEXT [--server URL]")
		fs.PrintDefaults()
	}
	id, rest, err := leadingID(args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
		}
		return err
	}
	if err := parse(fs, rest); err != nil {
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
	if err := c.call(ctx, "POST", fmt.Sprintf("/api/v1/cases/%d/restore", id), bot.RestoreCaseRequest{As: *as, Reason: *reason}, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restore of case %d requested: approval %d awaits its approvers (kinetic approve %d --as HR-ID)\n", out.CaseID, out.ApprovalID, out.ApprovalID)
	return nil
}

// cmdEquipment moves an equipment task through the API: kinetic equipment
// move TASK-ID STATUS --as HR-ID [--note TEXT] [--reference REF].
func cmdEquipment(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: kinetic equipment move TASK-ID return_requested|received|wiped|preserved|redeployed|disposed|lost --as HR-ID [--note TEXT] [--reference CERTIFICATE]"
	if len(args) == 0 || args[0] != "move" {
		return usageErr("%s", usage)
	}
	fs := flag.NewFlagSet("equipment move", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := clientFlags(fs)
	as := fs.String("as", "", "HR id of the person moving the device (required; on the task's team, or an admin)")
	note := fs.String("note", "", "a note: where the instructions went, a tracking number")
	ref := fs.String("reference", "", "the certificate-of-destruction reference (required to dispose)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	id, rest, err := leadingID(args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
		}
		return err
	}
	if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
		return usageErr("equipment move needs the new status after the task id\n%s", usage)
	}
	to := rest[0]
	if err := parse(fs, rest[1:]); err != nil {
		return err
	}
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
	if err := c.call(ctx, "POST", fmt.Sprintf("/api/v1/equipment/%d/move", id), bot.EquipmentMoveRequest{As: *as, To: to, Note: *note, Reference: *ref}, &out); err != nil {
		return err
	}
	t := out.Task
	if !out.Changed {
		fmt.Fprintf(stdout, "equipment task %d %s: already %s\n", t.ID, t.AssetTag, t.Status)
		return nil
	}
	fmt.Fprintf(stdout, "equipment task %d %s (%s, team %s): %s\n", t.ID, t.AssetTag, t.Category, t.AssigneeTeam, t.Status)
	return nil
}
