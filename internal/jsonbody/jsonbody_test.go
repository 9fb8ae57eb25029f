package jsonbody_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/internal/jsonbody"
)

type request struct {
	EmployeeID string  `json:"employee_id" maxlen:"8"`
	Reason     string  `json:"reason"`
	Days       int     `json:"days"`
	Items      []item  `json:"items"`
	Ptr        *item   `json:"ptr"`
	Skip       string  `json:"-"`
	unexported string  //nolint:unused // limits skip unexported fields
	Number     float64 `json:"number"`
}

type item struct {
	Name string `json:"name" maxlen:"4"`
}

func TestUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string // "" accepted; else a substring of the error
	}{
		{"a document", `{"employee_id":"E1","reason":"r"}`, ""},
		{"whitespace after the document", "{\"employee_id\":\"E1\"} \n\t\r\n", ""},
		{"nested limits within bounds", `{"items":[{"name":"abcd"}],"ptr":{"name":"ab"}}`, ""},
		{"an empty body", ``, "empty body"},
		{"only whitespace", "   \n", "empty body"},
		{"a cut document", `{"employee_id":`, "cut short"},
		{"a second document", `{"employee_id":"E1"} {"employee_id":"E2"}`, "trailing data"},
		{"garbage after the document", `{"employee_id":"E1"}x`, "trailing data"},
		{"whitespace then garbage", `{"employee_id":"E1"}` + strings.Repeat(" ", 70<<10) + "garbage", "trailing data"},
		{"a duplicate key", `{"employee_id":"E1","employee_id":"E2"}`, `duplicate key "employee_id"`},
		{"a duplicate key differing in case", `{"reason":"a","REASON":"b"}`, `duplicate key "REASON"`},
		{"a duplicate key by Unicode folding", `{"reason":"a","rea\u017fon":"b"}`, "duplicate key"},
		{"a duplicate key in a nested object", `{"items":[{"name":"a","name":"b"}]}`, `duplicate key "name"`},
		{"the same key in sibling objects is fine", `{"items":[{"name":"a"},{"name":"b"}]}`, ""},
		{"a value equal to a key is fine", `{"reason":"reason","employee_id":"reason"}`, ""},
		{"an escaped NUL in a value", `{"reason":"a\u0000b"}`, "NUL"},
		{"an escaped NUL in a key", `{"re\u0000":"a"}`, "NUL"},
		{"invalid UTF-8", "{\"reason\":\"\xff\"}", "UTF-8"},
		{"an unknown field", `{"employeeid":"E1"}`, `unknown field "employeeid"`},
		{"a wrong type", `{"days":"ten"}`, "days: want an integer"},
		{"an oversized field", `{"employee_id":"123456789"}`, "employee_id is longer than 8 bytes"},
		{"an oversized nested field", `{"items":[{"name":"a"},{"name":"abcde"}]}`, "items[1].name is longer than 4 bytes"},
		{"an oversized field behind a pointer", `{"ptr":{"name":"abcde"}}`, "ptr.name is longer than 4 bytes"},
		{"deep nesting", `{"items":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "nested deeper"},
		{"a huge number", `{"number":1e400}`, "number: want a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v request
			err := jsonbody.Unmarshal([]byte(tc.body), &v, jsonbody.Options{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error with %q", tc.want)
			}
			if !errors.Is(err, jsonbody.ErrInvalid) || errors.Is(err, jsonbody.ErrTooLarge) {
				t.Errorf("error %v is not ErrInvalid alone", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
}

func TestErrorsClipEchoedInput(t *testing.T) {
	long := strings.Repeat("k", 60000)
	for name, body := range map[string]string{
		"unknown field": `{"` + long + `":1}`,
		"duplicate key": `{"` + long + `":1,"` + long + `":2}`,
		"syntax":        `{"a":` + long + `}`,
	} {
		err := jsonbody.Unmarshal([]byte(body), &request{}, jsonbody.Options{})
		if err == nil || len(err.Error()) > 300 {
			t.Errorf("%s: error of %d bytes: %.200v", name, len(fmtErr(err)), err)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestOptions(t *testing.T) {
	var m map[string]any
	if err := jsonbody.Unmarshal([]byte(`{"n":12345678901234567890,"x":{"y":1}}`), &m, jsonbody.Options{UseNumber: true}); err != nil {
		t.Fatal(err)
	}
	if n, ok := m["n"].(json.Number); !ok || n.String() != "12345678901234567890" {
		t.Errorf("n = %#v, want a json.Number", m["n"])
	}
	var loose struct {
		A string `json:"a"`
	}
	if err := jsonbody.Unmarshal([]byte(`{"a":"x","extra":1}`), &loose, jsonbody.Options{AllowUnknownFields: true}); err != nil || loose.A != "x" {
		t.Errorf("unknown fields allowed: %v %+v", err, loose)
	}
	if err := jsonbody.Unmarshal([]byte(`{"a":"x","a":"y","extra":1}`), &loose, jsonbody.Options{AllowUnknownFields: true}); err == nil {
		t.Error("a duplicate key was accepted with unknown fields allowed")
	}
	if err := jsonbody.Check([]byte(`{"type":"a","type":"b"}`)); err == nil || !strings.Contains(err.Error(), "duplicate key") {
		t.Errorf("Check: %v", err)
	}
}

func TestRead(t *testing.T) {
	const limit = 1 << 10
	doc := `{"employee_id":"E1"}`
	for _, tc := range []struct {
		name, body string
		tooLarge   bool
		want       string
	}{
		{"a document within the limit", doc, false, ""},
		{"a document over the limit is too large", `{"reason":"` + strings.Repeat("a", 2*limit) + `"}`, true, "body over 1024 bytes"},
		{"a document then whitespace past the limit then garbage", doc + strings.Repeat(" ", limit) + strings.Repeat("garbage", 1000), false, "trailing data"},
		{"a document then garbage past the limit", doc + strings.Repeat("x", 4*limit), false, "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			var v request
			err := jsonbody.Read(rec, req, limit, &v, jsonbody.Options{})
			if tc.want == "" {
				if err != nil || v.EmployeeID != "E1" {
					t.Fatalf("err %v, v %+v", err, v)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if errors.Is(err, jsonbody.ErrTooLarge) != tc.tooLarge || errors.Is(err, jsonbody.ErrInvalid) == tc.tooLarge {
				t.Errorf("err %v: too large %v, want %v", err, errors.Is(err, jsonbody.ErrTooLarge), tc.tooLarge)
			}
		})
	}
}

// FuzzDecode: whatever is accepted is one valid JSON document with no key
// twice in an object, whatever follows it but whitespace is refused, and
// nothing but ErrInvalid is ever returned.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":1,"B":2}}`, `[1,2,{"x":"y"}]`, `{"a":"b"}  x`, `"\u0000"`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		err := jsonbody.Unmarshal(data, &v, jsonbody.Options{UseNumber: true})
		if err != nil {
			if !errors.Is(err, jsonbody.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			if len(err.Error()) > 400 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted what encoding/json calls invalid: %q", data)
		}
		// Every key the document holds survived into a map: none was
		// overwritten by a duplicate.
		if got, want := countKeys(v), keysInText(t, data); got != want {
			t.Fatalf("decoded %d keys, the document has %d: a duplicate was accepted in %q", got, want, data)
		}
		if jsonbody.Unmarshal(append(bytes.Clone(data), " \n"...), &v, jsonbody.Options{}) != nil {
			t.Fatalf("trailing whitespace refused after %q", data)
		}
		for _, tail := range []string{"x", " 1", ` {"a":1}`, "\x00"} {
			if jsonbody.Unmarshal(append(bytes.Clone(data), tail...), &v, jsonbody.Options{}) == nil {
				t.Fatalf("trailing %q accepted after %q", tail, data)
			}
		}
	})
}

func countKeys(v any) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		n += len(x)
		for _, e := range x {
			n += countKeys(e)
		}
	case []any:
		for _, e := range x {
			n += countKeys(e)
		}
	}
	return n
}

// keysInText counts object keys with encoding/json's tokenizer alone.
func keysInText(t *testing.T, data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type fr struct{ obj, key bool }
	var st []fr
	n := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return n
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				if len(st) > 0 && st[len(st)-1].obj {
					st[len(st)-1].key = false // the nested value is the key's
				}
				st = append(st, fr{obj: d == '{'})
			} else {
				st = st[:len(st)-1]
			}
			continue
		}
		if len(st) > 0 && st[len(st)-1].obj {
			top := &st[len(st)-1]
			if !top.key {
				n++
				top.key = true
				continue
			}
			top.key = false
			continue
		}
	}
}
