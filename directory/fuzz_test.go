package directory

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Fuzz targets for the HR directory file, JSON and CSV. Seeds live in
// testdata/fuzz/<target>.

// checkDirectory holds a parsed directory to Parse's promises: every
// record has an id, email, type and status; ids, emails (ignoring case) and
// chat user ids are unique; All is sorted by id; and each employee is found
// by its id, email and chat user id. Re-encoding All as JSON parses to the
// same employees.
func checkDirectory(t *testing.T, f *File) {
	t.Helper()
	ctx := context.Background()
	all := f.All()
	if f.Len() != len(all) {
		t.Fatalf("Len %d, All %d", f.Len(), len(all))
	}
	emails, chats := map[string]bool{}, map[string]bool{}
	for i, e := range all {
		for name, v := range map[string]string{"id": e.ID, "email": e.Email, "type": e.Type, "status": e.Status} {
			if strings.TrimSpace(v) == "" {
				t.Fatalf("employee %d has no %s: %+v", i, name, e)
			}
		}
		if i > 0 && all[i-1].ID >= e.ID {
			t.Fatalf("All is not sorted by unique id: %q then %q", all[i-1].ID, e.ID)
		}
		if k := emailKey(e.Email); emails[k] {
			t.Fatalf("email %q twice", e.Email)
		} else {
			emails[k] = true
		}
		if e.ChatUserID != "" {
			if chats[e.ChatUserID] {
				t.Fatalf("chat user id %q twice", e.ChatUserID)
			}
			chats[e.ChatUserID] = true
		}
		for what, find := range map[string]func() (*Employee, error){
			"id":    func() (*Employee, error) { return f.ByID(ctx, e.ID) },
			"email": func() (*Employee, error) { return f.ByEmail(ctx, e.Email) },
		} {
			got, err := find()
			if err != nil || !reflect.DeepEqual(*got, e) {
				t.Fatalf("by %s %+v: %+v, %v", what, e, got, err)
			}
		}
		if e.ChatUserID != "" {
			if got, err := f.ByChatUserID(ctx, e.ChatUserID); err != nil || got.ID != e.ID {
				t.Fatalf("by chat user id %q: %+v, %v", e.ChatUserID, got, err)
			}
		}
	}
	if _, err := f.ByID(ctx, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ByID(\"\") = %v", err)
	}
	data, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("again.json", data)
	if err != nil {
		t.Fatalf("re-encoded directory does not parse: %v\n%s", err, data)
	}
	if got := again.All(); !reflect.DeepEqual(normalize(got), normalize(all)) {
		t.Fatalf("re-encoded directory differs:\n%+v\n%+v", got, all)
	}
}

// normalize drops empty lists and maps, which JSON leaves out.
func normalize(emps []Employee) []Employee {
	out := make([]Employee, len(emps))
	for i, e := range emps {
		if len(e.RoleProfiles) == 0 {
			e.RoleProfiles = nil
		}
		if len(e.Equipment) == 0 {
			e.Equipment = nil
		}
		if len(e.Attributes) == 0 {
			e.Attributes = nil
		}
		if len(e.Accounts) == 0 {
			e.Accounts = nil
		}
		out[i] = e
	}
	return out
}

// checkParseError holds a refusal to LoadFile's promise: every problem
// reported names the file.
func checkParseError(t *testing.T, name string, f *File, err error) {
	t.Helper()
	if f != nil {
		t.Fatal("a File returned with an error")
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		if !strings.HasPrefix(e.Error(), "directory "+name+": ") {
			t.Fatalf("problem %q does not name the file", e)
		}
	}
}

// FuzzParseJSON parses arbitrary JSON directory files: every problem of a
// refusal names the file; an accepted file keeps checkDirectory's
// promises.
func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(sampleJSON))
	f.Add([]byte(`[{"id":"E1","email":" Ann@Example.com ","type":"employee","status":"active"}]`))
	f.Add([]byte(`[{"id":"E1","email":"a@x","type":"employee","status":"active"},{"id":"E1","email":"A@X","type":"employee","status":"active","chat_user_id":"U1"}]`))
	f.Add([]byte(`[{"id":"E1","email":"a@x","type":"employee","status":"active","shoe_size":44}]`))
	f.Add([]byte(`[{"id":"E1"},]`))
	f.Add([]byte(`{"employees":[]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("people.json", data)
		if err != nil {
			checkParseError(t, "people.json", d, err)
			return
		}
		checkDirectory(t, d)
	})
}

// FuzzParseCSV parses arbitrary CSV directory files, as FuzzParseJSON; an
// accepted file's values are trimmed.
func FuzzParseCSV(f *testing.F) {
	f.Add([]byte(sampleCSV))
	f.Add([]byte("\ufeffid,email,type,status,hr_role,role_profiles\nE1, ann@example.com ,employee,active,true,a; b;;c\n"))
	f.Add([]byte("id,email,type,status\nE1,a@x,employee,active\nE1,A@X,employee,active\n"))
	f.Add([]byte("id,email,type,status,shoe_size\n"))
	f.Add([]byte("id,email,type,status,hr_role\nE1,a@x,employee,active,maybe\n"))
	f.Add([]byte("id,email,\"type\nE1,a@x\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("people.csv", data)
		if err != nil {
			checkParseError(t, "people.csv", d, err)
			return
		}
		for _, e := range d.All() {
			for _, v := range []string{e.ID, e.Email, e.Name, e.ChatUserID, e.Type, e.Status} {
				if v != strings.TrimSpace(v) {
					t.Fatalf("untrimmed value %q", v)
				}
			}
		}
		checkDirectory(t, d)
	})
}
