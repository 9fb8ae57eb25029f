package secret

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
