// Package secret holds the Secret type used wherever configuration refers to
// a credential. A secret is never written inline in YAML: it names an
// environment variable or a file, is resolved at load time, and always prints
// as "<secret>".
package secret

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"gopkg.in/yaml.v3"
)

// Redacted is how every Secret prints.
const Redacted = "<secret>"

// Secret is a credential referenced from configuration as
// {env: NAME} or {file: PATH}. The zero value is an unset secret.
type Secret struct {
	// Env names the environment variable holding the value.
	Env string `yaml:"env,omitempty"`
	// File names a file holding the value; surrounding whitespace is trimmed.
	File string `yaml:"file,omitempty"`

	value string
}

// ErrInline is returned when YAML gives a secret's value directly.
var ErrInline = errors.New("inline secrets are not allowed: use {env: NAME} or {file: PATH}")

// UnmarshalYAML accepts only the {env: …} or {file: …} forms.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %w", n.Line, ErrInline)
	}
	type plain struct {
		Env  string `yaml:"env"`
		File string `yaml:"file"`
	}
	var p plain
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		if k != "env" && k != "file" {
			return fmt.Errorf("line %d: secret key %q: only env or file are allowed", n.Content[i].Line, k)
		}
	}
	if err := n.Decode(&p); err != nil {
		return err
	}
	if (p.Env == "") == (p.File == "") {
		return fmt.Errorf("line %d: a secret needs exactly one of env or file", n.Line)
	}
	s.Env, s.File = p.Env, p.File
	return nil
}

// Resolve reads the secret's value from its source. An unset Secret resolves
// to "" without error; a named source that is missing or empty is an error
// that names the source but never a value. A file that group or others may
// access is refused (wrapping ErrOpenFile) unless KINETIC_ALLOW_OPEN_SECRET_FILES=1.
func (s *Secret) Resolve() error {
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return fmt.Errorf("environment variable %s is not set", s.Env)
		}
		s.value = v
	case s.File != "":
		if err := checkFileMode(s.File); err != nil {
			return err
		}
		b, err := os.ReadFile(s.File)
		if err != nil {
			return fmt.Errorf("secret file: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return fmt.Errorf("secret file %s is empty", s.File)
		}
		s.value = v
	}
	return nil
}

// EnvAllowOpenFiles, set to 1, lets Resolve read a secret file that group
// or others may access. Meant for platforms whose file modes say nothing
// (a Kubernetes secret volume with fsGroup gives every file 0440 or more)
// and whose file system is private to the process anyway.
const EnvAllowOpenFiles = "KINETIC_ALLOW_OPEN_SECRET_FILES"

// ErrOpenFile is wrapped by Resolve's refusal of a secret file that group
// or others may read or write.
var ErrOpenFile = errors.New("secret file is open to group or others")

// checkFileMode refuses, as ssh does for private keys, a secret file with
// any permission bit for group or others (mode & 0o077): another local
// user could read the credential, or replace it. The file's target is
// judged when it is a symbolic link. EnvAllowOpenFiles=1 turns the check
// off; it is not made on Windows, whose mode bits mean nothing.
func checkFileMode(path string) error {
	if runtime.GOOS == "windows" || os.Getenv(EnvAllowOpenFiles) == "1" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %04o; make it private to the service's user (chmod 600 %s), or set %s=1 where file modes cannot be trusted",
			ErrOpenFile, path, perm, path, EnvAllowOpenFiles)
	}
	return nil
}

// FromValue returns a resolved Secret holding v; for tests and for values
// that arrive by environment without config.
func FromValue(v string) Secret { return Secret{value: v} }

// Value returns the resolved value ("" before Resolve or when unset).
func (s Secret) Value() string { return s.value }

// IsSet reports whether the secret names a source or holds a value.
func (s Secret) IsSet() bool { return s.Env != "" || s.File != "" || s.value != "" }

// String always returns "<secret>" (or "" for an unset secret).
func (s Secret) String() string {
	if !s.IsSet() {
		return ""
	}
	return Redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// MarshalYAML prints the reference, never the value.
func (s Secret) MarshalYAML() (any, error) {
	switch {
	case s.Env != "":
		return map[string]string{"env": s.Env}, nil
	case s.File != "":
		return map[string]string{"file": s.File}, nil
	}
	return s.String(), nil
}

// MarshalJSON prints "<secret>".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }
