package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

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

// serverFlag adds the --server flag (default KINETIC_SERVER).
func serverFlag(cmd *cobra.Command) *string {
	def := os.Getenv("KINETIC_SERVER")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	return cmd.Flags().String("server", def, "kinetic serve's base `URL` (env KINETIC_SERVER); the token is read from KINETIC_API_TOKEN")
}

// apiCmd returns a command of the API group, with its --server flag.
func apiCmd(use, short string) (*cobra.Command, *string) {
	cmd := &cobra.Command{Use: use, Short: short}
	return cmd, serverFlag(cmd)
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
