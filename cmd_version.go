package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// versionInfo is what the Go toolchain recorded in the binary
// (runtime/debug.ReadBuildInfo): the module and its version, the version
// control revision it was built from and whether the tree had changes,
// and the Go version. A binary built by `go build` in a git checkout has
// the vcs fields; `go install module@version` gives the version instead.
type versionInfo struct {
	Module    string `json:"module"`
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func buildVersion() versionInfo {
	v := versionInfo{Module: "github.com/kineticsec/kinetic", Version: "(unknown)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Path != "" {
		v.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// short is the one-line form kinetic --version prints.
func (v versionInfo) short() string {
	s := v.Version
	if rev := v.Revision[:min(12, len(v.Revision))]; rev != "" && !strings.Contains(s, rev) {
		s += " " + rev // a pseudo-version carries the revision already
	}
	if v.Revision != "" && v.Modified {
		s += " (modified)"
	}
	return s + ", " + v.GoVersion + " " + v.Platform
}

func newVersionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "version [--json]",
		Short:   "the build: module version, source revision, Go version",
		GroupID: groupOther,
		Args:    noArgs,
	}
	asJSON := cmd.Flags().Bool("json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		v := buildVersion()
		out := cmd.OutOrStdout()
		if *asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "kinetic\t%s\n", v.Version)
		fmt.Fprintf(tw, "module\t%s\n", v.Module)
		rev := orNone(v.Revision)
		if v.Modified {
			rev += " (with uncommitted changes)"
		}
		fmt.Fprintf(tw, "revision\t%s\n", rev)
		fmt.Fprintf(tw, "commit time\t%s\n", orNone(v.Time))
		fmt.Fprintf(tw, "go\t%s\n", v.GoVersion)
		fmt.Fprintf(tw, "platform\t%s\n", v.Platform)
		return tw.Flush()
	}
	return cmd
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(not recorded)"
	}
	return s
}
