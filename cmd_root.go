package main

import (
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The root command's groups, in the order its help lists them.
const (
	groupRun   = "run"
	groupAudit = "audit"
	groupAPI   = "api"
	groupOther = "other"
)

// rootFooter ends the root command's help.
const rootFooter = `Commands that read the configuration take --config FILE (or KINETIC_CONFIG);
without one they use the embedded default: SQLite file kinetic.db, in-process
Redis, simulated systems. The operations through a running kinetic serve take
--server URL (or KINETIC_SERVER) and read the API token from KINETIC_API_TOKEN.

Exit codes: 0 success, 1 failure found or runtime error, 2 usage or configuration error.`

// usageTemplate is cobra's default usage template with one usage line per
// command ("kinetic audit <command> [flags]" for a group, whose RunE only
// refuses what is not one of its commands), and rootFooter under the
// root's.
const usageTemplate = `Usage:
  {{if .HasAvailableSubCommands}}{{.CommandPath}} <command> [flags]{{else}}{{.UseLine}}{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}{{$cmds := .Commands}}{{if eq (len .Groups) 0}}

Commands:{{range $cmds}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{else}}{{range $group := .Groups}}

{{.Title}}{{range $cmds}}{{if (and (eq .GroupID $group.ID) (or .IsAvailableCommand (eq .Name "help")))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Run "{{.CommandPath}} <command> --help" for a command's flags.{{end}}{{if not .HasParent}}

` + rootFooter + `{{end}}
`

// newRoot returns the kinetic command without its subcommands.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "kinetic <command>",
		Short: "employee offboarding from chat, HR events and the API",
		Long:  "kinetic — employee offboarding from chat, HR events and the API",
		// Only without a command: cobra refuses an unknown one.
		RunE: func(cmd *cobra.Command, _ []string) error {
			_ = cmd.Help()
			return usageErr("a command is required")
		},
		Version:       buildVersion().short(),
		SilenceErrors: true, // main prints them, with the exit code they carry
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("kinetic {{.Version}}\n")
	root.SetUsageTemplate(usageTemplate)
	root.AddGroup(
		&cobra.Group{ID: groupRun, Title: "Commands:"},
		&cobra.Group{ID: groupAudit, Title: "Audit and configuration:"},
		&cobra.Group{ID: groupAPI, Title: "Operations through a running kinetic serve (--server, KINETIC_API_TOKEN):"},
		&cobra.Group{ID: groupOther, Title: "Other commands:"},
	)
	root.SetHelpCommand(newHelpCmd())
	root.SetCompletionCommandGroupID(groupOther)
	return root
}

// newHelpCmd returns kinetic help [COMMAND…]: cobra's, except that an
// unknown topic is a usage error (exit 2) rather than the root's usage.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "help [command]",
		Short:   "help about any command",
		GroupID: groupOther,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usageErr("unknown help topic %q", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

// group returns a command group: its commands are subs, and a command
// line naming none of them is a usage error listing them, in this order.
func group(use, short, groupID string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, GroupID: groupID}
	cmd.AddCommand(subs...)
	refuseUnknown(cmd, subs)
	return cmd
}

// refuseUnknown makes a command line that names none of group's commands
// (subs, listed in this order) a usage error (exit 2); cobra would print
// the group's help and exit 0.
func refuseUnknown(group *cobra.Command, subs []*cobra.Command) {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.Name()
	}
	group.Args = cobra.ArbitraryArgs
	group.RunE = func(cmd *cobra.Command, args []string) error {
		path := cmd.CommandPath()
		usage := "usage: " + path + " " + strings.Join(names, "|") + " [flags]; run '" + path + " --help'"
		if len(args) == 0 {
			return usageErr("%s", usage)
		}
		return usageErr("unknown %s command %q\n%s", group.Name(), args[0], usage)
	}
}

// noArgs refuses positional arguments.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("unexpected arguments: %s", strings.Join(args, " "))
	}
	return nil
}

// configFlag adds the --config flag (default KINETIC_CONFIG).
func configFlag(cmd *cobra.Command) *string {
	return cmd.Flags().String("config", os.Getenv("KINETIC_CONFIG"), "the service config `FILE` (default: the embedded default; env KINETIC_CONFIG)")
}

// enumFlag completes a flag with a fixed set of values.
func enumFlag(cmd *cobra.Command, name string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// parseID reads a positive integer id.
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageErr("%q is not an id", s)
	}
	return id, nil
}

// idArgs takes one positive integer id and then exactly more further
// positional arguments, which need says are missing ("" for none).
func idArgs(args []string, more int, need string) (int64, []string, error) {
	if len(args) == 0 {
		return 0, nil, usageErr("an id is required")
	}
	id, err := parseID(args[0])
	if err != nil {
		return 0, nil, err
	}
	rest := args[1:]
	if len(rest) < more {
		return 0, nil, usageErr("%s", need)
	}
	if len(rest) > more {
		return 0, nil, usageErr("unexpected arguments: %s", strings.Join(rest[more:], " "))
	}
	return id, rest, nil
}

// legacyFlags rewrites the single-dash long flags the command took before
// it moved to cobra (-config FILE, as Go's flag package reads them) to
// their double-dash form, so scripts written for it keep working. Only
// flags the command defines are rewritten, never a flag's value or what
// follows "--".
func legacyFlags(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil {
		return args
	}
	fs := pflag.NewFlagSet("", pflag.ContinueOnError)
	fs.AddFlagSet(cmd.Flags())
	fs.AddFlagSet(cmd.InheritedFlags())
	out := slices.Clone(args)
	for i := 0; i < len(out); i++ {
		a := out[i]
		if a == "--" {
			break
		}
		if len(a) < 3 || a[0] != '-' {
			continue
		}
		single := a[1] != '-'
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if single && name == "help" {
			out[i] = "--help"
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if single {
			out[i] = "-" + a
		}
		if !hasValue && f.NoOptDefVal == "" {
			i++ // its value
		}
	}
	return out
}
