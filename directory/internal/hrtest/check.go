package hrtest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/directory"
)

// CheckEmployees holds employees mapped from an HR system's answer to the
// mapping's promises: ids present, trimmed and unique, a type, trimmed role
// profiles, each found by id in a directory built from them; with
// managerKey, manager and HR partner references resolve to returned ids.
func CheckEmployees(t testing.TB, emps []directory.Employee, managerKey bool) {
	t.Helper()
	ids := map[string]bool{}
	for _, e := range emps {
		if e.ID == "" || e.ID != strings.TrimSpace(e.ID) || ids[e.ID] {
			t.Fatalf("id %q (empty, untrimmed or repeated)", e.ID)
		}
		ids[e.ID] = true
		if e.Type == "" {
			t.Fatalf("employee %q has no type", e.ID)
		}
		for _, r := range e.RoleProfiles {
			if r == "" || r != strings.TrimSpace(r) {
				t.Fatalf("employee %q: role profile %q", e.ID, r)
			}
		}
	}
	d := directory.NewMemory(emps)
	for _, e := range emps {
		if managerKey {
			for _, ref := range []string{e.Manager, e.HRPartner} {
				if ref != "" && !ids[ref] {
					t.Fatalf("employee %q: reference %q is nobody's id", e.ID, ref)
				}
			}
		}
		if got, err := d.ByID(context.Background(), e.ID); err != nil || !reflect.DeepEqual(*got, e) {
			t.Fatalf("ByID(%q) = %+v, %v", e.ID, got, err)
		}
	}
}

// CheckRefusal holds a source's refusal of an answer to its promise: a
// permanent *directory.SourceError of that source that does not repeat the
// secret.
func CheckRefusal(t testing.TB, err error, source, secret string) {
	t.Helper()
	var se *directory.SourceError
	if !errors.As(err, &se) || se.Source != source || se.Retryable || strings.Contains(err.Error(), secret) {
		t.Fatalf("refusal %#v (%v)", err, err)
	}
}
