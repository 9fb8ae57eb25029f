// Command kinetic offboards employees: it validates a request against HR
// data, plans every revocation the policy calls for, runs them in parallel
// through connectors with read-back verification, and keeps a hash-chained
// audit trail.
//
// The command line is built on cobra: command groups with help at every
// level (kinetic --help, kinetic audit --help, kinetic help audit verify),
// kinetic version, and shell completion (kinetic completion bash|zsh|fish|
// powershell). Each command lives in a file of its own (cmd_*.go); this
// file wires them.
//
// Exit codes: 0 success (help included); 1 the command ran and found a
// failure (a demo expectation not met, an audit chain that does not verify,
// residual access, a runtime error); 2 bad usage (an unknown command or
// flag, a missing argument) or invalid configuration (the service file,
// the policy, the chat front ends' settings).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
	// usage marks a usage error, which run follows with where the
	// command's help is.
	usage bool
}

func (e *exitError) Error() string { return e.err.Error() }

// Unwrap lets callers test the cause with errors.Is and errors.As.
func (e *exitError) Unwrap() error { return e.err }

// usageErr is a usage error: exit 2.
func usageErr(format string, a ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, a...), usage: true}
}

// configErr is a configuration error: exit 2.
func configErr(err error) error {
	return &exitError{code: 2, err: err}
}

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintln(os.Stderr, "kinetic:", err)
	os.Exit(code)
}

// run runs the command line args (without the program name), writing to
// stdout and stderr; the error it returns carries the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newCommand(stdout, stderr)
	// cobra reads os.Args when given nil.
	root.SetArgs(append([]string{}, legacyFlags(root, args)...))
	ran := false
	root.PersistentPreRun = func(*cobra.Command, []string) { ran = true }
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return nil
	}
	path := root.Name()
	if cmd != nil {
		path = cmd.CommandPath()
	}
	hint := fmt.Sprintf("run '%s --help'", path)
	var ee *exitError
	switch {
	case !ran && !errors.As(err, &ee):
		// cobra refused the command line before any command ran: an
		// unknown command or flag, a flag without its value.
		return &exitError{code: 2, err: fmt.Errorf("%w\n%s for usage", err, hint), usage: true}
	case errors.As(err, &ee) && ee.usage && !strings.Contains(err.Error(), hint):
		return &exitError{code: 2, err: fmt.Errorf("%w\n%s for usage", err, hint), usage: true}
	}
	return err
}

// newCommand returns the kinetic command with every subcommand, writing
// to stdout and stderr.
func newCommand(stdout, stderr io.Writer) *cobra.Command {
	root := newRoot()
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		// Run Kinetic.
		newServeCmd(true), newServeCmd(false), newDemoCmd(), newPlanCmd(), newMigrateCmd(), newBenchCmd(),
		// Audit and configuration.
		newConfigCmd(), newAuditCmd(), newReconcileCmd(),
		// Through a running kinetic serve's API.
		newApprovalsCmd(), newDecideCmd("approve"), newDecideCmd("deny"), newExceptionsCmd(), newBatchesCmd(),
		newActionsCmd(), newCasesCmd(), newEquipmentCmd(),
		newVersionCmd(),
	)
	// cobra's completion command (which takes its output now), made here
	// so that it refuses an unknown shell like the groups refuse an
	// unknown command.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			refuseUnknown(c, c.Commands())
		}
	}
	return root
}
