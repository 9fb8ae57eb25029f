package blocks

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"

	txt "github.com/kineticsec/kinetic/internal/text"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// message is how a message's golden file looks.
type message struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks"`
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatalf("encoding: %v", err)
	}
	return buf.Bytes()
}

// golden compares got with testdata/name.golden; go test -update rewrites
// it.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s differs at line %d (run go test -update and review the diff):\n got: %s\nwant: %s", path, i+1, g, w)
		}
	}
}

// surface says which limits apply.
type surface int

const (
	surfaceMessage surface = iota
	surfaceModal
	surfaceHome
)

// reporter is the part of testing.T the checks use, so a test can check
// the checks.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatal(args ...any)
}

// checkLimits walks the JSON Slack would receive and fails on anything
// Block Kit rejects, and on markup that data could have smuggled in.
func checkLimits(t reporter, s surface, raw []byte) {
	t.Helper()
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	blocks, _ := root["blocks"].([]any)
	maxBlocks := maxViewBlocks
	if s == surfaceMessage {
		maxBlocks = maxMessageBlocks
		txt, _ := root["text"].(string)
		if strings.TrimSpace(txt) == "" {
			t.Errorf("message has no fallback text")
		}
		checkMarkup(t, "text", txt)
	}
	if len(blocks) == 0 || len(blocks) > maxBlocks {
		t.Errorf("%d blocks, want 1..%d", len(blocks), maxBlocks)
	}
	if s == surfaceModal {
		for _, k := range []string{"title", "submit", "close"} {
			if obj, ok := root[k].(map[string]any); ok {
				lim(t, k, obj["text"], maxModalTitle)
			}
		}
		lim(t, "callback_id", root["callback_id"], 255)
		lim(t, "private_metadata", root["private_metadata"], 3000)
	}
	ids := map[string]bool{}
	total := 0
	for i, b := range blocks {
		bm := b.(map[string]any)
		path := fmt.Sprintf("blocks[%d](%v)", i, bm["type"])
		if id, ok := bm["block_id"].(string); ok {
			lim(t, path+".block_id", id, 255)
			if ids[id] {
				t.Errorf("%s: duplicate block_id %q", path, id)
			}
			ids[id] = true
		}
		switch bm["type"] {
		case "header":
			lim(t, path, textOf(bm["text"]), maxHeaderText)
		case "section":
			fields, _ := bm["fields"].([]any)
			if bm["text"] == nil && len(fields) == 0 {
				t.Errorf("%s: neither text nor fields", path)
			}
			if bm["text"] != nil {
				lim(t, path+".text", textOf(bm["text"]), maxSectionText)
			}
			if len(fields) > maxFields {
				t.Errorf("%s: %d fields", path, len(fields))
			}
			for _, f := range fields {
				lim(t, path+".field", textOf(f), maxFieldText)
			}
			if a, ok := bm["accessory"].(map[string]any); ok {
				checkElement(t, path+".accessory", a)
			}
		case "context":
			els, _ := bm["elements"].([]any)
			if len(els) == 0 || len(els) > maxContextElems {
				t.Errorf("%s: %d elements", path, len(els))
			}
			for _, e := range els {
				lim(t, path+".element", textOf(e), maxSectionText)
			}
		case "actions":
			els, _ := bm["elements"].([]any)
			if len(els) == 0 || len(els) > 25 {
				t.Errorf("%s: %d elements", path, len(els))
			}
			seen := map[string]bool{}
			for _, e := range els {
				em := e.(map[string]any)
				id, _ := em["action_id"].(string)
				if seen[id] {
					t.Errorf("%s: duplicate action_id %q", path, id)
				}
				seen[id] = true
				checkElement(t, path, em)
			}
		case "input":
			if s == surfaceMessage {
				t.Errorf("%s: input block in a message", path)
			}
			if id, _ := bm["block_id"].(string); id == "" {
				t.Errorf("%s: input without block_id", path)
			}
			lim(t, path+".label", textOf(bm["label"]), 2000)
			if bm["hint"] != nil {
				lim(t, path+".hint", textOf(bm["hint"]), 2000)
			}
			checkElement(t, path, bm["element"].(map[string]any))
		case "divider":
		default:
			t.Errorf("%s: unexpected block type", path)
		}
		walkText(bm, func(typ, s string) {
			total += utf8.RuneCountInString(s)
			if typ == "mrkdwn" {
				checkMarkup(t, path, s)
			}
		})
	}
	if s == surfaceMessage && total > maxMessageChars {
		t.Errorf("message carries %d characters of text, over the %d budget", total, maxMessageChars)
	}
}

var (
	// userMention matches user and user group mentions (routed notices
	// mention the owning team's user group, so Slack notifies it).
	userMention = regexp.MustCompile(`<@[UW][A-Z0-9]+>|<!subteam\^S[A-Z0-9]+>`)
	// slackDateTok is the date token builders emit (when, day): a Unix time,
	// a format and a fallback of their own, never outside data.
	slackDateTok = regexp.MustCompile(`<!date\^[0-9]+\^[^<>|]*\|[^<>|]*>`)
	// ticketLink is the one link builders emit: an open item's ITSM
	// ticket (view.LinkURL vets the URL, the key is escaped data).
	ticketLink = regexp.MustCompile(` · ticket <https?://[^\s<>|]+\|[^<>|]+>`)
)

// checkMarkup fails on Slack markup in text: builders emit no links but
// a ticket's, no channel or special mentions, and data must arrive
// escaped. User and user group mentions, date tokens and ticket links are
// theirs.
func checkMarkup(t reporter, path, s string) {
	t.Helper()
	if strings.Contains(ticketLink.ReplaceAllString(slackDateTok.ReplaceAllString(userMention.ReplaceAllString(s, ""), ""), ""), "<") {
		t.Errorf("%s: unescaped markup in %q", path, s)
	}
}

func checkElement(t reporter, path string, e map[string]any) {
	t.Helper()
	path += "." + fmt.Sprint(e["type"])
	lim(t, path+".action_id", e["action_id"], 255)
	if e["placeholder"] != nil {
		lim(t, path+".placeholder", textOf(e["placeholder"]), 150)
	}
	switch e["type"] {
	case "button":
		lim(t, path+".text", textOf(e["text"]), maxButtonText)
		v, _ := e["value"].(string)
		lim(t, path+".value", v, 255)
		if _, _, err := ParseValue(v); err != nil {
			t.Errorf("%s: value %q: %v", path, v, err)
		}
		if c, ok := e["confirm"].(map[string]any); ok {
			lim(t, path+".confirm.title", textOf(c["title"]), 100)
			lim(t, path+".confirm.text", textOf(c["text"]), 300)
			lim(t, path+".confirm.confirm", textOf(c["confirm"]), 30)
			lim(t, path+".confirm.deny", textOf(c["deny"]), 30)
		}
	case "static_select", "checkboxes":
		opts, _ := e["options"].([]any)
		if len(opts) == 0 || len(opts) > 100 {
			t.Errorf("%s: %d options", path, len(opts))
		}
		for _, o := range opts {
			om := o.(map[string]any)
			lim(t, path+".option.text", textOf(om["text"]), maxOptionText)
			lim(t, path+".option.value", om["value"], 150)
		}
	case "plain_text_input":
		if n, ok := e["max_length"].(float64); ok && n > 3000 {
			t.Errorf("%s: max_length %v", path, n)
		}
	case "users_select", "datepicker", "timepicker", "email_text_input", "number_input":
	default:
		t.Errorf("%s: unexpected element", path)
	}
}

func textOf(v any) any {
	m, _ := v.(map[string]any)
	if m == nil {
		return nil
	}
	if ty := m["type"]; ty != "plain_text" && ty != "mrkdwn" {
		return nil
	}
	return m["text"]
}

// lim checks that v is a non-empty string of at most n characters.
func lim(t reporter, path string, v any, n int) {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		if v != nil {
			t.Errorf("%s: %T, want a string", path, v)
		}
		return
	}
	if c := utf8.RuneCountInString(s); c == 0 || c > n {
		t.Errorf("%s: %d characters, want 1..%d: %q", path, c, n, txt.Fit(s, 80))
	}
}

// walkText calls f with every text object's type and text under v.
func walkText(v any, f func(typ, text string)) {
	switch v := v.(type) {
	case map[string]any:
		if ty, _ := v["type"].(string); ty == "plain_text" || ty == "mrkdwn" {
			if s, ok := v["text"].(string); ok {
				f(ty, s)
			}
		}
		for _, c := range v {
			walkText(c, f)
		}
	case []any:
		for _, c := range v {
			walkText(c, f)
		}
	}
}

type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}
func (r *recorder) Fatal(a ...any) { r.errs = append(r.errs, fmt.Sprint(a...)) }

// The checks themselves catch what Slack would reject.
func TestCheckLimitsCatches(t *testing.T) {
	long := strings.Repeat("x", 3001)
	for name, raw := range map[string]string{
		"no fallback":         `{"text":"","blocks":[{"type":"divider"}]}`,
		"markup in fallback":  `{"text":"hi <!channel>","blocks":[{"type":"divider"}]}`,
		"long section":        `{"text":"t","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"` + long + `"}}]}`,
		"empty text":          `{"text":"t","blocks":[{"type":"section","text":{"type":"mrkdwn","text":""}}]}`,
		"markup in section":   `{"text":"t","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"<https://x|y>"}}]}`,
		"long button":         `{"text":"t","blocks":[{"type":"actions","elements":[{"type":"button","action_id":"a","value":"case:1","text":{"type":"plain_text","text":"` + long[:76] + `"}}]}]}`,
		"bad value":           `{"text":"t","blocks":[{"type":"actions","elements":[{"type":"button","action_id":"a","value":"case:01","text":{"type":"plain_text","text":"ok"}}]}]}`,
		"duplicate action_id": `{"text":"t","blocks":[{"type":"actions","elements":[{"type":"button","action_id":"a","value":"case:1","text":{"type":"plain_text","text":"ok"}},{"type":"button","action_id":"a","value":"case:2","text":{"type":"plain_text","text":"ok"}}]}]}`,
		"too many blocks":     `{"text":"t","blocks":[` + strings.Repeat(`{"type":"divider"},`, 50) + `{"type":"divider"}]}`,
		"input in message":    `{"text":"t","blocks":[{"type":"input","block_id":"b","label":{"type":"plain_text","text":"l"},"element":{"type":"datepicker","action_id":"a"}}]}`,
		"empty context":       `{"text":"t","blocks":[{"type":"context","elements":[]}]}`,
	} {
		r := &recorder{}
		checkLimits(r, surfaceMessage, []byte(raw))
		if len(r.errs) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}
