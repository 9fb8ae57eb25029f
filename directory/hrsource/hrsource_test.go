package hrsource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/directory/internal/hrtest"
)

const scimUser = `{
  "id": "2819c223",
  "userName": "bjensen",
  "displayName": "",
  "name": {"formatted": "Ms. Barbara J Jensen III"},
  "Emails": [
    {"value": "bjensen@home.example", "type": "home"},
    {"value": "bjensen@example.com", "type": "work", "primary": true}
  ],
  "active": false,
  "groups": [{"value": "g1", "display": "Engineering"}, {"value": "g2"}],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
    "employeeNumber": 701984,
    "manager": {"value": "26118915", "displayName": "John Smith"}
  },
  "Flat.Key": "literal"
}`

func record(t testing.TB, s string) Record {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var r Record
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPaths(t *testing.T) {
	r := record(t, scimUser)
	for path, want := range map[string]string{
		"userName":                      "bjensen",
		"USERNAME":                      "bjensen", // SCIM names are case-insensitive
		"displayName|name.formatted":    "Ms. Barbara J Jensen III",
		"emails[primary].value":         "bjensen@example.com",
		`emails[type eq "home"].value`:  "bjensen@home.example",
		`emails[type eq "other"].value`: "",
		"emails.value":                  "bjensen@home.example", // no selector: the first
		"active":                        "false",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":      "701984",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager":             "26118915", // an object gives its value
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName": "John Smith",
		"urn:example:absent:User:x": "",
		"Flat.Key":                  "literal", // a literal key wins
		"name.formatted.deeper":     "",
		"groups[primary].display":   "Engineering", // none primary: the first
	} {
		if got := r.String(path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
}

func TestBadPaths(t *testing.T) {
	for _, p := range []string{
		"a|", "a.", "emails[primary", "emails[type = work].value", "urn:x:User:", "a..b", "emails[]",
	} {
		m := Mapping{Fields: Fields{Email: p}}
		err := m.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "fields.email" {
			t.Errorf("path %q: Validate() = %v, want a FieldError at fields.email", p, err)
		}
	}
}

func TestMap(t *testing.T) {
	m := Mapping{
		Fields: Fields{
			ID: "num", Email: "mail", Name: "name", Manager: "boss", HRPartner: "hrbp", Type: "kind",
			Status: "state", RoleProfiles: "roles", HRRole: "is_hr", Country: "country",
		},
		ManagerKey: "sid",
		Attributes: map[string]string{"cost_center": "cc", "gone": "-"},
		Values: map[string]map[string]string{
			"type":          {"full-time": "employee", "CONTRACTOR": "contractor"},
			"status":        {"Active": "active"},
			"country":       {"Germany": "DE"},
			"role_profiles": {"Eng": "engineering"},
		},
	}.WithDefaults(Mapping{Attributes: map[string]string{"gone": "x", "kept": "k"}})
	mp, err := m.Compile()
	if err != nil {
		t.Fatal(err)
	}
	recs := []Record{
		record(t, `{"num": "1", "sid": "s-1", "mail": "a@x", "name": "A", "kind": "Full-Time", "state": "ACTIVE", "roles": "Eng; ops", "is_hr": "Yes", "cc": "41", "x": "no", "k": "yes", "country": "germany"}`),
		record(t, `{"num": 2, "sid": "s-2", "mail": "b@x", "boss": "s-1", "hrbp": "s-404", "kind": "Contractor", "state": "On Leave", "roles": ["a", "b"]}`),
		record(t, `{"num": "2", "mail": "dup@x"}`),
		record(t, `{"mail": "noid@x"}`),
		record(t, `{"num": "3", "mail": "c@x", "boss": "s-2"}`),
	}
	emps, rep := mp.Map(recs)
	want := []directory.Employee{
		{ID: "1", Email: "a@x", Name: "A", Type: "employee", Status: "active", Country: "DE",
			RoleProfiles: []string{"engineering", "ops"}, HRRole: true,
			Attributes: map[string]string{"cost_center": "41", "kept": "yes"}},
		{ID: "2", Email: "b@x", Manager: "1", Type: "contractor", Status: "On Leave", RoleProfiles: []string{"a", "b"}},
		{ID: "3", Email: "c@x", Manager: "2", Type: "employee"},
	}
	if !reflect.DeepEqual(emps, want) {
		t.Errorf("Map =\n%+v\nwant\n%+v", emps, want)
	}
	wantRep := Report{NoID: 1, DuplicateIDs: []string{"2"}, UnresolvedManagers: 1}
	if !reflect.DeepEqual(rep, wantRep) {
		t.Errorf("Report = %+v, want %+v", rep, wantRep)
	}
	if got := strings.Join(mp.SourceFields(), ","); got != "boss,cc,country,hrbp,is_hr,k,kind,mail,name,num,roles,sid,state" {
		t.Errorf("SourceFields = %s", got)
	}
}

func TestCompileNeedsIDEmailStatus(t *testing.T) {
	_, err := Mapping{Fields: Fields{ID: "id", Email: "-"}}.Compile()
	for _, want := range []string{"fields.email: the email field must be mapped", "fields.status: the status field must be mapped"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compile() = %v, want %q", err, want)
		}
	}
}

func TestWaiterContextEndsWaitNotFetch(t *testing.T) {
	release := make(chan struct{})
	var fetches atomic.Int32
	c := NewCache(func(ctx context.Context) ([]directory.Employee, error) {
		fetches.Add(1)
		<-release
		return []directory.Employee{{ID: "1", Email: "a@x", Status: "active", Type: "employee"}}, nil
	}, Options{Source: "test", Now: (&hrtest.Clock{}).Now})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.ByID(ctx, "1")
	if !errors.Is(err, context.Canceled) || !directory.IsRetryable(err) {
		t.Fatalf("a cancelled waiter gets a retryable context error: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := c.ByID(context.Background(), "1"); err != nil {
			t.Error(err)
		}
	}()
	close(release)
	hrtest.Wait(t, done, "the lookup")
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1 (the second lookup joined the first's fetch)", n)
	}
}

func TestFirstFetchFailureIsReturned(t *testing.T) {
	boom := &directory.SourceError{Source: "test", Op: "x", Status: 401, Err: errors.New("no")}
	clock := &hrtest.Clock{}
	var calls atomic.Int32
	c := NewCache(func(context.Context) ([]directory.Employee, error) {
		calls.Add(1)
		return nil, boom
	}, Options{Source: "test", TTL: 4 * time.Minute, Now: clock.Now})
	if _, err := c.ByEmail(context.Background(), "a@x"); !errors.Is(err, boom) || directory.IsRetryable(err) {
		t.Fatalf("ByEmail = %v, want the fetch error", err)
	}
	if _, err := c.ByEmail(context.Background(), "a@x"); !errors.Is(err, boom) || calls.Load() != 1 {
		t.Fatalf("within the back-off (TTL/4) the last error is returned without a fetch: %v, %d calls", err, calls.Load())
	}
	clock.Advance(time.Minute)
	_, _ = c.ByEmail(context.Background(), "a@x")
	if calls.Load() != 2 {
		t.Errorf("after the back-off a lookup fetches again: %d calls", calls.Load())
	}
}

func TestRedact(t *testing.T) {
	h := &HTTP{Secrets: []string{"tok-123456", "tok-123456:x", "ab"}}
	got := h.Redact("a tok-123456 b dG9rLTEyMzQ1Njp4 c tok-123456%3Ax ab")
	if strings.Contains(got, "123456") || strings.Contains(got, "dG9r") || !strings.HasSuffix(got, " ab") {
		t.Errorf("Redact = %q", got)
	}
}

// FuzzMap feeds arbitrary JSON records to a SCIM-like mapping: it must not
// panic, and every employee it returns has an id.
func FuzzMap(f *testing.F) {
	f.Add([]byte(scimUser))
	f.Add([]byte(`{"emails": [1, null, [true]], "urn:a:b": 3}`))
	f.Add([]byte(`{"id": {"value": {"value": "x"}}}`))
	e := "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
	mp, err := Mapping{
		Fields: Fields{
			ID: e + "employeeNumber|id", Email: "emails[primary].value|emails[type eq \"work\"].value",
			Name: "displayName|name.formatted", Manager: e + "manager.value", Status: "active", RoleProfiles: "groups.display",
		},
		ManagerKey: "id",
	}.Compile()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var r Record
		if dec.Decode(&r) != nil {
			return
		}
		emps, _ := mp.Map([]Record{r, r})
		for _, e := range emps {
			if e.ID == "" {
				t.Errorf("employee without an id: %+v", e)
			}
		}
	})
}
