package secret

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type holder struct {
	Token Secret `yaml:"token"`
}

func TestSecretFormsAndRedaction(t *testing.T) {
	t.Setenv("KINETIC_TEST_SECRET", "hunter2")
	file := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(file, []byte("  s3cr3t-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"token: {env: KINETIC_TEST_SECRET}", "hunter2"},
		{"token: {file: " + file + "}", "s3cr3t-from-file"},
	} {
		var h holder
		if err := yaml.Unmarshal([]byte(tc.yaml), &h); err != nil {
			t.Fatal(err)
		}
		if err := h.Token.Resolve(); err != nil {
			t.Fatal(err)
		}
		if h.Token.Value() != tc.want {
			t.Fatalf("value %q", h.Token.Value())
		}
		y, _ := yaml.Marshal(h)
		j, _ := json.Marshal(h)
		for _, out := range []string{fmt.Sprint(h), fmt.Sprintf("%v %+v %#v %s", h, h, h, h.Token), string(y), string(j)} {
			if strings.Contains(out, tc.want) {
				t.Fatalf("secret printed: %s", out)
			}
		}
	}
}

func TestInlineAndMalformedSecretsAreRefused(t *testing.T) {
	for _, src := range []string{
		"token: hunter2",
		"token: {value: hunter2}",
		"token: {env: A, file: B}",
		"token: {}",
		"token: [a]",
	} {
		var h holder
		err := yaml.Unmarshal([]byte(src), &h)
		if err == nil {
			t.Errorf("%q accepted", src)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: error repeats the value: %v", src, err)
		}
	}
}

func TestMissingSourcesSayWhichNotWhat(t *testing.T) {
	s := Secret{Env: "KINETIC_TEST_UNSET_VAR"}
	if err := s.Resolve(); err == nil || !strings.Contains(err.Error(), "KINETIC_TEST_UNSET_VAR") {
		t.Fatalf("err %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	s = Secret{File: empty}
	if err := s.Resolve(); err == nil {
		t.Fatal("an empty secret file was accepted")
	}
}

// TestOpenSecretFilesAreRefused: as ssh does with private keys, a secret
// file that group or others may access is refused, naming the file and
// its mode but never the value; KINETIC_ALLOW_OPEN_SECRET_FILES=1 lets it
// through. A symbolic link is judged by its target.
func TestOpenSecretFilesAreRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("file modes mean nothing on Windows")
	}
	t.Setenv(EnvAllowOpenFiles, "")
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("tok-SECRET-value\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		// Chmod: WriteFile's mode is masked by the umask.
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o644, false}, {0o640, false}, {0o604, false}, {0o620, false}, {0o660, false}, {0o666, false},
	} {
		p := write(fmt.Sprintf("tok-%04o", tc.mode), tc.mode)
		s := Secret{File: p}
		err := s.Resolve()
		if tc.ok {
			if err != nil || s.Value() != "tok-SECRET-value" {
				t.Errorf("mode %04o: %v (value read: %v), want accepted", tc.mode, err, s.Value() != "")
			}
			continue
		}
		if !errors.Is(err, ErrOpenFile) {
			t.Errorf("mode %04o: err = %v, want ErrOpenFile", tc.mode, err)
			continue
		}
		if want := fmt.Sprintf("%s has mode %04o", p, tc.mode); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), EnvAllowOpenFiles) {
			t.Errorf("mode %04o: %q does not say %q and name %s", tc.mode, err, want, EnvAllowOpenFiles)
		}
		if strings.Contains(err.Error(), "SECRET-value") || s.Value() != "" {
			t.Errorf("mode %04o: the value leaked or was kept: %v", tc.mode, err)
		}
	}

	open := write("open", 0o644)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(open, link); err != nil {
		t.Fatal(err)
	}
	if err := (&Secret{File: link}).Resolve(); !errors.Is(err, ErrOpenFile) {
		t.Errorf("a link to an open file: %v, want ErrOpenFile", err)
	}

	t.Setenv(EnvAllowOpenFiles, "1")
	for _, p := range []string{open, link} {
		s := Secret{File: p}
		if err := s.Resolve(); err != nil || s.Value() != "tok-SECRET-value" {
			t.Errorf("%s with %s=1: %v", p, EnvAllowOpenFiles, err)
		}
	}
}
