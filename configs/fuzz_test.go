package configs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The seed corpora under testdata/fuzz/ hold the example and embedded
// files, the HR directory and approvals test files; the invalid test files
// are added here as further seeds.

func addInvalidSeeds(f *testing.F, prefix string) {
	files, _ := filepath.Glob("testdata/invalid/" + prefix + "*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkErrors holds a refusal to the loader's promise: it is *Errors,
// sorted by file, line and key without repeats; every problem is in one of
// files (name → content), at a line of that file (0 when unknown), and
// prints as "FILE:LINE: KEY: MSG".
func checkErrors(t *testing.T, err error, files map[string][]byte) {
	t.Helper()
	var errs *Errors
	if !errors.As(err, &errs) || err != error(errs) || len(errs.List) == 0 {
		t.Fatalf("error of type %T: %v", err, err)
	}
	for i, e := range errs.List {
		data, ok := files[e.File]
		if !ok {
			t.Fatalf("problem %d is in file %q, not one of the files read", i, e.File)
		}
		if lines := yamlLines(data); e.Line < 0 || e.Line > lines+1 {
			t.Fatalf("problem %d at line %d of a %d-line file: %v", i, e.Line, lines, e)
		}
		if strings.TrimSpace(e.Msg) == "" {
			t.Fatalf("problem %d says nothing: %+v", i, e)
		}
		want := e.File + ":"
		if e.Line > 0 {
			want += strconv.Itoa(e.Line) + ":"
		}
		want += " "
		if e.Key != "" {
			want += e.Key + ": "
		}
		if !strings.HasPrefix(e.Error(), want) {
			t.Fatalf("problem %d prints as %q, want prefix %q", i, e.Error(), want)
		}
		if i > 0 {
			p := errs.List[i-1]
			if p == e || p.File > e.File || p.File == e.File && (p.Line > e.Line || p.Line == e.Line && p.Key > e.Key) {
				t.Fatalf("problems %d and %d out of order or repeated: %v; %v", i-1, i, p, e)
			}
		}
	}
}

// unknownKey is a key no configuration type knows.
const unknownKey = "zz_fuzz_unknown_key"

// withUnknownKey re-encodes an accepted YAML mapping with unknownKey added
// at its end, and returns the new file and the key's line in it; ok is
// false when data cannot be re-encoded that way.
func withUnknownKey(data []byte) (out []byte, line int, ok bool) {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil, 0, false
	}
	switch {
	case root.Kind == 0:
		root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	case len(root.Content) != 1:
		return nil, 0, false
	case root.Content[0].Kind == yaml.ScalarNode && root.Content[0].ShortTag() == "!!null":
		root.Content[0] = &yaml.Node{Kind: yaml.MappingNode}
	case root.Content[0].Kind != yaml.MappingNode:
		return nil, 0, false
	}
	m := root.Content[0]
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: unknownKey}, &yaml.Node{Kind: yaml.ScalarNode, Value: "1"})
	out, err := yaml.Marshal(&root)
	if err != nil {
		return nil, 0, false
	}
	var again yaml.Node
	if yaml.Unmarshal(out, &again) != nil || len(again.Content) != 1 || again.Content[0].Kind != yaml.MappingNode {
		return nil, 0, false
	}
	c := again.Content[0].Content
	if len(c) < 2 || c[len(c)-2].Value != unknownKey {
		return nil, 0, false
	}
	return out, c[len(c)-2].Line, true
}

// checkUnknownKey checks, for an accepted file, that the same file with an
// unknown key is refused with a problem naming name, the key's line and the
// key.
func checkUnknownKey(t *testing.T, name string, data []byte, parse func([]byte) error) {
	t.Helper()
	out, line, ok := withUnknownKey(data)
	if !ok {
		return
	}
	err := parse(out)
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("an unknown key was accepted (%v):\n%s", err, out)
	}
	checkErrors(t, err, map[string][]byte{name: out})
	for _, e := range errs.List {
		if e.File == name && e.Line == line && e.Key == unknownKey {
			return
		}
	}
	t.Fatalf("no problem at %s:%d: %s:\n%v\n%s", name, line, unknownKey, err, out)
}

// FuzzParseService checks that no service file makes the parser panic; that
// a refusal keeps checkErrors' promises and returns no Service; and that an
// accepted file with an unknown key added is refused at that key's
// file:line:key.
func FuzzParseService(f *testing.F) {
	addInvalidSeeds(f, "service-")
	f.Fuzz(func(t *testing.T, data []byte) {
		svc, err := parseServiceT("fuzz.yaml", data)
		if err != nil {
			if svc != nil {
				t.Fatal("a Service returned with an error")
			}
			checkErrors(t, err, map[string][]byte{"fuzz.yaml": data})
			return
		}
		if svc == nil {
			t.Fatal("no Service and no error")
		}
		checkUnknownKey(t, "fuzz.yaml", data, func(b []byte) error { _, err := parseServiceT("fuzz.yaml", b); return err })
	})
}

// FuzzParsePolicy checks that no policy file makes the parser or Select
// panic; that a refusal keeps checkErrors' promises; that an accepted
// policy's selection names only actions it defines, once each, sorted by
// phase and name; and that an accepted
// file with an unknown key added is refused at that key's file:line:key.
func FuzzParsePolicy(f *testing.F) {
	addInvalidSeeds(f, "policy-")
	data, err := EmbeddedFile(embeddedServiceName)
	if err != nil {
		f.Fatal(err)
	}
	svc, err := parseServiceT(embeddedServiceName, data)
	if err != nil {
		f.Fatal(err)
	}
	emp := sampleEmployee()
	f.Fuzz(func(t *testing.T, data []byte) {
		pol, err := ParsePolicy("fuzz.yaml", data, svc)
		if err != nil {
			checkErrors(t, err, map[string][]byte{"fuzz.yaml": data})
			return
		}
		sel, err := pol.Select(&emp, Facts{Involuntary: true, Trigger: "slack"})
		if err == nil {
			for i, a := range sel.Actions {
				if !slices.Contains(pol.Actions(), a.Name) || a.Def == nil {
					t.Fatalf("selected action %q is not defined", a.Name)
				}
				if i > 0 && (sel.Actions[i-1].Phase > a.Phase || sel.Actions[i-1].Phase == a.Phase && sel.Actions[i-1].Name >= a.Name) {
					t.Fatalf("selection not sorted by phase and name: %q, %q", sel.Actions[i-1].Name, a.Name)
				}
			}
		}
		checkUnknownKey(t, "fuzz.yaml", data, func(b []byte) error { _, err := ParsePolicy("fuzz.yaml", b, svc); return err })
	})
}

// FuzzLoad writes a service file and the policy file it names to a
// directory and loads them with Load, as kinetic serve does. A refusal
// keeps checkErrors' promises for the two files (by the paths Load was
// given); an accepted configuration has its policy.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"testdata/approvals/service.yaml", "testdata/hrsources/valid-file.yaml"} {
		svc, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		pol, err := os.ReadFile("testdata/min/policy.yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(svc, pol)
	}
	f.Add([]byte("policy: policy.yaml\nredis: {embedded: true}\n"), []byte("version: 1\nactions: {}\nrules: []\n"))
	f.Add([]byte("policy: policy.yaml\n"), []byte("version: 2\nrules:\n  - name: x\n    when: \"true\"\n    add: [nope]\n"))
	f.Add([]byte("policy: [policy.yaml]\n"), []byte{})
	dir := f.TempDir() // the two files are rewritten for each input
	sp, pp := filepath.Join(dir, "kinetic.yaml"), filepath.Join(dir, "policy.yaml")
	f.Fuzz(func(t *testing.T, service, policy []byte) {
		if os.WriteFile(sp, service, 0o600) != nil || os.WriteFile(pp, policy, 0o600) != nil {
			t.Fatal("writing the files")
		}
		cfg, err := loadT(sp)
		if err != nil {
			if cfg != nil {
				t.Fatal("a Config returned with an error")
			}
			files := map[string][]byte{sp: service, pp: policy}
			var errs *Errors
			if errors.As(err, &errs) {
				// A service file may name another policy file, or one
				// elsewhere: its problems are about that file.
				for _, e := range errs.List {
					if _, ok := files[e.File]; !ok && e.File != "" {
						if b, rerr := os.ReadFile(e.File); rerr == nil {
							files[e.File] = b
						}
					}
				}
			}
			checkErrors(t, err, files)
			return
		}
		if cfg.Service == nil || cfg.Service.Policy != "" && cfg.Policy == nil {
			t.Fatalf("accepted without its policy: %+v", cfg)
		}
	})
}

// yamlLines counts lines as YAML does: "\r\n", "\r" and "\n" each end one
// (a file with classic Mac line endings has as many lines as an editor
// shows, and the loader reports lines so).
func yamlLines(data []byte) int {
	n := 1
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			n++
		case '\r':
			n++
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
		}
	}
	return n
}
