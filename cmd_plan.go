package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/demo"
)

func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "demo [flags]",
		Short:   "offboard sample employees on the embedded default",
		Long:    "Offboards several sample employees on the embedded default and checks the outcome.\nEach run adds to the SQLite file (--db); case numbers go on from the last run.",
		GroupID: groupRun,
		Args:    noArgs,
	}
	db := cmd.Flags().String("db", "kinetic.db", "SQLite file to write (kept afterwards for kinetic audit verify/export)")
	plain := cmd.Flags().Bool("plain", false, "print plain progress lines even on a terminal")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		stdout := cmd.OutOrStdout()
		tty, width := false, 0
		if f, ok := stdout.(*os.File); ok && !*plain && term.IsTerminal(int(f.Fd())) {
			tty = true
			width, _, _ = term.GetSize(int(f.Fd()))
		}
		ok, err := demo.Run(cmd.Context(), demo.Options{DBPath: *db, Out: stdout, TTY: tty, Width: width})
		if err != nil {
			return err
		}
		if !ok {
			return &exitError{code: 1, err: errors.New("demo: some expectations were not met (see above)")}
		}
		return nil
	}
	return cmd
}

func newPlanCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "plan (--employee ID | --email ADDR) [flags]",
		Short:   "dry run: the actions an employee would get (changes nothing)",
		GroupID: groupRun,
		Args:    noArgs,
	}
	cfgPath := configFlag(cmd)
	f := cmd.Flags()
	id := f.String("employee", "", "HR employee `ID`")
	email := f.String("email", "", "employee email `ADDR` (instead of --employee)")
	invol := f.Bool("involuntary", false, "plan as an involuntary (immediate) termination")
	reason := f.String("reason", "", "the reason `TEXT`, as rules may test request.reason")
	offline := f.Bool("offline", false, "skip connector lookups")
	asJSON := f.Bool("json", false, `print JSON (SLAs as durations, "10m", and in sla_seconds)`)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *id == "" && *email == "" {
			return usageErr("plan needs --employee or --email")
		}
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		cfg.Service.Log.Level = "error"
		if cfg.Service.Database.Driver == "sqlite" {
			// A plan never reads the database; opening the configured file
			// would leave an empty, unmigrated kinetic.db behind, on which a
			// later `audit verify` fails with "no such table".
			cfg.Service.Database.Path = ":memory:"
		}
		ctx := cmd.Context()
		a, err := app.Build(ctx, cfg, app.Options{Log: newLogger(cfg, cmd.ErrOrStderr()), NoRedis: true, SkipMigrate: true})
		if err != nil {
			return err
		}
		defer a.Close()
		p, err := a.Engine.Plan(ctx, engine.Request{EmployeeID: *id, Email: *email, Involuntary: *invol, Reason: *reason, Trigger: "cli"}, *offline)
		if err != nil {
			if errors.Is(err, engine.ErrUnknownEmployee) {
				return &exitError{code: 1, err: err}
			}
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(planOutput(p))
		}
		fmt.Fprint(cmd.OutOrStdout(), engine.FormatPlan(p))
		return nil
	}
	return cmd
}

// planJSON is kinetic plan --json's output: the engine's plan with each
// action's SLA as a duration ("10m", "1h30m") and in whole seconds, where
// the engine's own JSON has nanoseconds.
type planJSON struct {
	*engine.Plan
	Actions []planActionJSON `json:"actions"`
}

type planActionJSON struct {
	engine.PlannedAction
	SLA        string `json:"sla"`
	SLASeconds int64  `json:"sla_seconds"`
}

func planOutput(p *engine.Plan) planJSON {
	out := planJSON{Plan: p, Actions: make([]planActionJSON, len(p.Actions))}
	for i, a := range p.Actions {
		out.Actions[i] = planActionJSON{PlannedAction: a, SLA: engine.ShortDuration(a.SLA), SLASeconds: int64(a.SLA / time.Second)}
	}
	return out
}
