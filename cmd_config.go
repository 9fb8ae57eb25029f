package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/internal/app"
	"github.com/kineticsec/kinetic/internal/compose"
	"github.com/kineticsec/kinetic/internal/outbound"
)

func newConfigCmd() *cobra.Command {
	validate := &cobra.Command{
		Use:   "validate [flags]",
		Short: "check the configuration, the policy and the chat settings, listing every error",
		Long: "Loads the service file and its policy, checks every reference, and the chat front ends' settings\n" +
			"(chat.slack with KINETIC_SLACK_*, chat.teams) against the outbound URL policy. Every error is listed\n" +
			"with its file, line and key; secrets are never printed. Exit 2 when anything is invalid.",
		Args: noArgs,
	}
	cfgPath := configFlag(validate)
	validate.RunE = func(cmd *cobra.Command, _ []string) error {
		return validateConfig(*cfgPath, cmd.OutOrStdout())
	}
	return group("config", "check the configuration and policy (config validate)", groupAudit, validate)
}

func validateConfig(path string, stdout io.Writer) error {
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	if err := checkChat(cfg); err != nil {
		return err
	}
	src := cfg.Service.File
	if src == "" {
		src = "the embedded default"
	}
	fmt.Fprintf(stdout, "%s is valid: %d connectors, %d catalog actions, %d rules, policy %s\n",
		src, len(cfg.Service.Connectors), len(cfg.Policy.File.Actions), len(cfg.Policy.File.Rules), cfg.Policy.Hash[:12])
	switch names := cfg.Service.SandboxConnectors(); {
	case len(names) > 0 && cfg.Service.Simulated:
		fmt.Fprintf(stdout, "simulated: connectors %s are sandbox simulations; nothing real is revoked on them\n", strings.Join(names, ", "))
	case len(names) > 0:
		fmt.Fprintf(stdout, "warning: kinetic serve and worker will refuse this file: %v\n", cfg.Service.CheckSimulated())
	}
	return nil
}

// loadConfig loads the service file at path, or the embedded default; an
// invalid one is a configuration error (exit 2).
func loadConfig(path string) (*configs.Config, error) {
	var cfg *configs.Config
	var err error
	if path == "" {
		cfg, err = compose.Default()
	} else {
		cfg, err = compose.Load(path)
	}
	if err != nil {
		return nil, configErr(fmt.Errorf("invalid configuration:\n%w", err))
	}
	return cfg, nil
}

// checkChat checks what configs cannot see before secrets resolve and URLs
// meet the outbound URL policy: the Slack front end's settings (chat.slack
// with its KINETIC_SLACK_* overrides: token prefixes, the API URL) and the
// Teams front end's (chat.teams: its metadata and token URLs), as kinetic
// serve and worker will build them. A fault is a configuration error
// (exit 2). Nothing is started and nothing is sent.
func checkChat(cfg *configs.Config) error {
	urlPolicy, err := outbound.NewURLPolicy(cfg.Service.Outbound.AllowCIDRs, cfg.Service.Outbound.AllowHosts)
	if err != nil {
		return configErr(fmt.Errorf("outbound: %w", err))
	}
	if _, err := app.SlackConfig(cfg.Service, urlPolicy, os.Getenv); err != nil {
		return configErr(err)
	}
	quiet := logrus.New()
	quiet.Out = io.Discard
	if _, err := app.Teams(cfg.Service, urlPolicy, logrus.NewEntry(quiet)); err != nil {
		return configErr(err)
	}
	return nil
}
