// Package jsonbody is the one strict decoder for JSON that comes from
// outside: the API's request bodies, HR webhooks and poll rows, and Slack's
// signed payloads. encoding/json alone lets through what a security control
// must not:
//
//   - a second key wins silently ({"userId":"E1","userId":"E2"} is E2), and
//     struct fields match keys case-insensitively, so "as" and "AS" are the
//     same field: both are refused here as duplicate keys;
//   - data after the document is never read (a valid document followed by
//     garbage, or by whitespace up to a size limit and then garbage, was
//     accepted): here exactly one document and whitespace are allowed;
//   - invalid UTF-8 is replaced with U+FFFD and "\u0000" becomes a NUL byte,
//     which PostgreSQL refuses in text (a 500 instead of a 400): both are
//     refused;
//   - string lengths are unchecked: a string field tagged maxlen:"N" (the
//     column size of where it is stored) longer than N bytes is refused.
//
// Every error wraps ErrTooLarge (answer 413) or ErrInvalid (answer 400), and
// never echoes more than a short, clipped piece of the input.
package jsonbody

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	// ErrTooLarge is wrapped when the document does not fit in the limit.
	ErrTooLarge = errors.New("body too large")
	// ErrInvalid is wrapped by every other refusal: malformed JSON, trailing
	// data, duplicate keys, NUL, invalid UTF-8, unknown fields, wrong types,
	// values over their maxlen.
	ErrInvalid = errors.New("invalid JSON body")
)

// MaxDepth is how deeply objects and arrays may nest.
const MaxDepth = 64

// EchoMax is the most bytes of an input value an error message repeats.
const EchoMax = 64

// Options relax the decoding for formats Kinetic does not own.
type Options struct {
	// AllowUnknownFields accepts object keys no struct field takes (a
	// vendor's webhook that grows fields); by default they are refused.
	AllowUnknownFields bool
	// UseNumber decodes numbers into interface values as json.Number.
	UseNumber bool
}

type bodyError struct {
	kind error
	msg  string
}

func (e *bodyError) Error() string        { return e.msg }
func (e *bodyError) Is(target error) bool { return target == e.kind }

func invalid(format string, args ...any) error {
	return &bodyError{kind: ErrInvalid, msg: "malformed JSON body: " + fmt.Sprintf(format, args...)}
}

// Read reads r's body, at most limit bytes (through http.MaxBytesReader, so
// the connection is closed after an oversized body), and decodes it into v
// with Unmarshal. A document that does not fit in limit bytes is
// ErrTooLarge; a document that fits but is followed by more data, within the
// limit or beyond it, is ErrInvalid (trailing data). w may be nil.
func Read(w http.ResponseWriter, r *http.Request, limit int64, v any, o Options) error {
	if r.Body == nil {
		return Unmarshal(nil, v, o)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		// body holds the first limit bytes: a whole value in them means
		// the rest is trailing data.
		var raw json.RawMessage
		if json.NewDecoder(bytes.NewReader(body)).Decode(&raw) == nil {
			return invalid("trailing data after the JSON document (the body is over %d bytes)", limit)
		}
		return &bodyError{kind: ErrTooLarge, msg: fmt.Sprintf("body over %d bytes", limit)}
	case err != nil:
		return &bodyError{kind: ErrInvalid, msg: "could not read the body"}
	}
	return Unmarshal(body, v, o)
}

// Unmarshal decodes data, which must be exactly one JSON document (and
// whitespace), into v: valid UTF-8, no NUL in any string, no key twice in an
// object (keys equal but for case count as the same), nesting at most
// MaxDepth, no unknown fields unless o allows them, and every string field
// tagged maxlen:"N" at most N bytes (checked through pointers, structs,
// slices and arrays; the error names the field's JSON path).
func Unmarshal(data []byte, v any, o Options) error {
	end, err := check(data)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data[:end]))
	if !o.AllowUnknownFields {
		dec.DisallowUnknownFields()
	}
	if o.UseNumber {
		dec.UseNumber()
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return checkLimits(reflect.ValueOf(v), "")
}

// Check validates data as Unmarshal does, without decoding it: for callers
// that hand the bytes to another library (Slack's event parser).
func Check(data []byte) error {
	_, err := check(data)
	return err
}

type frame struct {
	object bool
	keys   map[string]struct{}
	// wantKey: the next string in this object is a key.
	wantKey bool
}

// check scans data's tokens and returns the offset where its one document
// ends.
func check(data []byte) (int, error) {
	if !utf8.Valid(data) {
		return 0, invalid("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return 0, tokenError(err, len(stack) == 0)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				if len(stack) >= MaxDepth {
					return 0, invalid("nested deeper than %d levels", MaxDepth)
				}
				stack = append(stack, &frame{object: t == '{', wantKey: true})
				continue
			}
			stack = stack[:len(stack)-1]
		case string:
			if strings.IndexByte(t, 0) >= 0 {
				return 0, invalid("a string holds a NUL character")
			}
			if top != nil && top.object && top.wantKey {
				k := fold(t)
				if top.keys == nil {
					top.keys = map[string]struct{}{}
				}
				if _, dup := top.keys[k]; dup {
					return 0, invalid("duplicate key %s", strconv.Quote(Clip(t, EchoMax)))
				}
				top.keys[k] = struct{}{}
				top.wantKey = false
				continue
			}
		}
		// A value ended: the object it is in wants a key next.
		if len(stack) > 0 {
			if p := stack[len(stack)-1]; p.object {
				p.wantKey = true
			}
			continue
		}
		end := int(dec.InputOffset())
		if len(bytes.TrimLeft(data[end:], " \t\r\n")) > 0 {
			return 0, invalid("trailing data after the JSON document")
		}
		return end, nil
	}
}

// fold maps s to one representative of its simple case-folding class, as
// encoding/json's field matching and strings.EqualFold compare.
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < m {
				m = f
			}
		}
		b.WriteRune(m)
	}
	return b.String()
}

func tokenError(err error, atTop bool) error {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF) && atTop:
		return invalid("empty body")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("the document is cut short")
	case errors.As(err, &se):
		return invalid("%s (at byte %d)", Clip(strings.TrimPrefix(se.Error(), "json: "), 2*EchoMax), se.Offset)
	}
	return invalid("%s", Clip(strings.TrimPrefix(err.Error(), "json: "), 2*EchoMax))
}

func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "the document"
		}
		return invalid("%s: want %s, not %s", Clip(field, EchoMax), typeName(te.Type), te.Value)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if name, ok := strings.CutPrefix(msg, "unknown field "); ok {
		n, qerr := strconv.Unquote(name)
		if qerr != nil {
			n = name
		}
		return invalid("unknown field %s", strconv.Quote(Clip(n, EchoMax)))
	}
	return invalid("%s", Clip(msg, 2*EchoMax))
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// checkLimits refuses a string field longer than its maxlen tag.
func checkLimits(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return checkLimits(v.Elem(), path)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkLimits(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if path != "" {
				name = path + "." + name
			}
			fv := v.Field(i)
			if tag := f.Tag.Get("maxlen"); tag != "" && fv.Kind() == reflect.String {
				n, err := strconv.Atoi(tag)
				if err != nil {
					panic(fmt.Sprintf("jsonbody: %s.%s has maxlen %q, not a number", t, f.Name, tag))
				}
				if fv.Len() > n {
					return &bodyError{kind: ErrInvalid, msg: fmt.Sprintf("%s is longer than %d bytes", name, n)}
				}
				continue
			}
			if err := checkLimits(fv, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// Clip shortens s to at most n bytes on a rune boundary, marking the cut
// with "…", so that an error repeats a bounded piece of its input.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Write answers with v as indented JSON and the given status: the
// counterpart of Read for the API's and the HR webhooks' answers.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
