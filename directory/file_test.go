package directory

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const sampleJSON = `[
  {
    "id": "E2", "email": "Bob@Example.com", "name": "Bob", "chat_user_id": "U2",
    "type": "contractor", "status": "active", "role_profiles": ["dev"],
    "accounts": {"okta": "bob@example.com"}, "equipment": ["LT-2"]
  },
  {
    "id": "E1", "email": "alice@example.com", "name": "Alice", "chat_user_id": "U1",
    "type": "employee", "status": "active", "attributes": {"cost_center": "4100"}
  }
]`

const sampleCSV = "id,email,name,chat_user_id,type,status,role_profiles,hr_role,equipment,attr.cost_center,account.okta,account.ad\n" +
	"E2,Bob@Example.com,Bob,U2,contractor,active,dev,,LT-2,,bob@example.com,\n" +
	"E1,alice@example.com,Alice,U1,employee,active,,false,,4100,,\n"

func TestParseJSONAndCSVAgree(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, data string }{
		{"people.json", sampleJSON},
		{"people.csv", sampleCSV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.name, []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			all := f.All()
			if len(all) != 2 || all[0].ID != "E1" || all[1].ID != "E2" {
				t.Fatalf("All() = %+v, want E1, E2 sorted by id", all)
			}
			bob, err := f.ByEmail(ctx, "bob@EXAMPLE.com")
			if err != nil {
				t.Fatalf("ByEmail is case-insensitive: %v", err)
			}
			want := Employee{
				ID: "E2", Email: "Bob@Example.com", Name: "Bob", ChatUserID: "U2",
				Type: "contractor", Status: "active", RoleProfiles: []string{"dev"},
				Accounts: map[string]string{"okta": "bob@example.com"}, Equipment: []string{"LT-2"},
			}
			if !reflect.DeepEqual(*bob, want) {
				t.Errorf("ByEmail = %+v\nwant %+v", *bob, want)
			}
			alice, err := f.ByChatUserID(ctx, "U1")
			if err != nil {
				t.Fatal(err)
			}
			if alice.Attributes["cost_center"] != "4100" || alice.Accounts != nil {
				t.Errorf("alice = %+v", alice)
			}
			if _, err := f.ByID(ctx, "E1"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestMissingIsErrNotFound(t *testing.T) {
	f := NewMemory([]Employee{{ID: "E1", Email: "a@x", Type: "employee", Status: "active"}})
	ctx := context.Background()
	for name, lookup := range map[string]func() (*Employee, error){
		"id":    func() (*Employee, error) { return f.ByID(ctx, "E9") },
		"email": func() (*Employee, error) { return f.ByEmail(ctx, "nobody@x") },
		"chat":  func() (*Employee, error) { return f.ByChatUserID(ctx, "") },
	} {
		if _, err := lookup(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
	_, err := f.ByID(ctx, "E9")
	if !strings.Contains(err.Error(), `"E9"`) {
		t.Errorf("error %q does not name the key", err)
	}
}

func TestLookupsReturnCopies(t *testing.T) {
	f := NewMemory([]Employee{{ID: "E1", Email: "a@x", Type: "employee", Status: "active", RoleProfiles: []string{"a"}, Attributes: map[string]string{"k": "v"}}})
	ctx := context.Background()
	e, _ := f.ByID(ctx, "E1")
	e.RoleProfiles[0] = "changed"
	e.Attributes["k"] = "changed"
	all := f.All()
	all[0].Name = "changed"
	again, _ := f.ByID(ctx, "E1")
	if again.RoleProfiles[0] != "a" || again.Attributes["k"] != "v" || again.Name != "" {
		t.Errorf("directory data was modified through a lookup: %+v", again)
	}
}

func TestInvalidFiles(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"dup.json", `[{"id":"E1","email":"a@x","type":"employee","status":"active"},
{"id":"E1","email":"b@x","type":"employee","status":"active"},
{"id":"E3","email":"A@X","type":"employee","status":"active"}]`,
			[]string{`dup.json: record 2 (line 2): duplicate id "E1" (first at record 1 (line 1))`, `record 3 (line 3): duplicate email "A@X"`}},
		{"missing.json", `[{"id":"E1","email":"a@x"}, {"name":"nobody"}]`,
			[]string{`missing.json: record 1 (line 1): employee "E1" is missing type, status`, `record 2 (line 1): employee is missing id, email, type, status`}},
		{"unknown.json", `[{"id":"E1","email":"a@x","type":"employee","status":"active","dept":"x"}]`,
			[]string{`unknown.json: record 1 (line 1): json: unknown field "dept"`}},
		{"syntax.json", "[\n{\"id\": }\n]", []string{"syntax.json", "line 2"}},
		{"object.json", `{"id":"E1"}`, []string{"want a JSON array"}},
		{"dup.csv", "id,email,type,status\nE1,a@x,employee,active\nE1,b@x,employee,active\n",
			[]string{`dup.csv: line 3: duplicate id "E1" (first at line 2)`}},
		{"missing.csv", "id,email,type,status\nE1,,employee,active\n",
			[]string{`missing.csv: line 2: employee "E1" is missing email`}},
		{"columns.csv", "id,email,type,status,dept,attr.\nE1,a@x,employee,active,x,y\n",
			[]string{`columns.csv: line 1: unknown column "dept"`, `unknown column "attr."`}},
		{"short.csv", "id,email,type,status\nE1,a@x,employee\n", []string{"short.csv", "line 2", "wrong number of fields"}},
		{"bool.csv", "id,email,type,status,hr_role\nE1,a@x,employee,active,maybe\n", []string{`bool.csv: line 2: hr_role "maybe"`}},
		{"people.xml", "<x/>", []string{"unknown format"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.name, []byte(tc.data))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "people.csv")
	if err := os.WriteFile(path, []byte(sampleCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 2 {
		t.Errorf("Len = %d", f.Len())
	}
	if _, err := LoadFile(filepath.Join(dir, "absent.json")); err == nil || !strings.Contains(err.Error(), "absent.json") {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestNewMemoryFirstWins(t *testing.T) {
	f := NewMemory([]Employee{
		{ID: "E1", Email: "a@x", Name: "first"},
		{ID: "E1", Email: "b@x", Name: "second"},
	})
	e, err := f.ByID(context.Background(), "E1")
	if err != nil || e.Name != "first" {
		t.Errorf("ByID = %+v, %v; want the first record", e, err)
	}
}
