package teams_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
)

// placeholders are the {{NAMES}} an administrator fills in (docs/teams.md),
// with sample values of the right shape.
var placeholders = map[string]string{
	"TEAMS_APP_ID":   "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
	"BOT_APP_ID":     "11111111-2222-4333-8444-555555555555",
	"KINETIC_HOST":   "kinetic.example.com",
	"PUBLISHER_NAME": "Example Corp IT",
	"PRIVACY_URL":    "https://example.com/privacy",
	"TERMS_URL":      "https://example.com/terms",
}

var placeholderRE = regexp.MustCompile(`\{\{([A-Z0-9_]+)\}\}`)

func readManifest(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fill replaces every placeholder with its sample value.
func fill(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	filled := placeholderRE.ReplaceAllFunc(raw, func(m []byte) []byte {
		v, ok := placeholders[string(m[2:len(m)-2])]
		if !ok {
			t.Errorf("unknown placeholder %s", m)
		}
		return []byte(v)
	})
	var doc map[string]any
	if err := json.Unmarshal(filled, &doc); err != nil {
		t.Fatalf("manifest.json is not JSON: %v", err)
	}
	return doc
}

// compileSchema compiles the vendored Teams manifest schema
// (testdata/README.md says where it comes from).
func compileSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	f, err := os.Open("testdata/MicrosoftTeams.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://developer.microsoft.com/json-schemas/teams/v1.22/MicrosoftTeams.schema.json"
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s, doc.(map[string]any)
}

// TestManifestPlaceholders: the manifest names exactly the placeholders
// docs/teams.md tells the administrator to fill.
func TestManifestPlaceholders(t *testing.T) {
	var got []string
	for _, m := range placeholderRE.FindAllSubmatch(readManifest(t), -1) {
		if !slices.Contains(got, string(m[1])) {
			got = append(got, string(m[1]))
		}
	}
	var want []string
	for k := range placeholders {
		want = append(want, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("placeholders %v, want %v", got, want)
	}
	docs, err := os.ReadFile("../../docs/teams.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range want {
		if !strings.Contains(string(docs), "{{"+p+"}}") {
			t.Errorf("docs/teams.md does not explain {{%s}}", p)
		}
	}
}

// TestManifestMatchesTheSchema validates the filled-in manifest against
// Microsoft's Teams app manifest schema, and shows the validator refuses
// what Teams would refuse.
func TestManifestMatchesTheSchema(t *testing.T) {
	s, schemaDoc := compileSchema(t)
	doc := fill(t, readManifest(t))
	if err := s.Validate(doc); err != nil {
		t.Fatalf("manifest.json does not match the Teams schema:\n%v", err)
	}
	// The schema is draft-04, where "const" is not a keyword: check the
	// version by hand.
	want := schemaDoc["properties"].(map[string]any)["manifestVersion"].(map[string]any)["const"]
	if doc["manifestVersion"] != want {
		t.Errorf("manifestVersion %v, schema's %v", doc["manifestVersion"], want)
	}
	if sch, _ := doc["$schema"].(string); !strings.Contains(sch, "/v"+want.(string)+"/") {
		t.Errorf("$schema %q does not name version %v", sch, want)
	}

	bad := map[string]func(m map[string]any){
		"botId not a GUID": func(m map[string]any) { bot(m)["botId"] = "{{BOT_APP_ID}}" },
		"unknown key":      func(m map[string]any) { m["slashCommands"] = true },
		"unknown scope":    func(m map[string]any) { bot(m)["scopes"] = []any{"channel"} },
		"long short name":  func(m map[string]any) { m["name"].(map[string]any)["short"] = strings.Repeat("K", 31) },
		"no developer url": func(m map[string]any) { delete(m["developer"].(map[string]any), "privacyUrl") },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			m := fill(t, readManifest(t))
			mutate(m)
			if err := s.Validate(m); err == nil {
				t.Error("the schema accepted it")
			}
		})
	}
}

func bot(m map[string]any) map[string]any {
	return m["bots"].([]any)[0].(map[string]any)
}

// TestManifestBot: the bot is conversational in every scope, takes no
// files, and its command list is exactly what the command parser knows.
func TestManifestBot(t *testing.T) {
	m := fill(t, readManifest(t))
	b := bot(m)
	if b["botId"] != placeholders["BOT_APP_ID"] {
		t.Errorf("botId %v", b["botId"])
	}
	if b["supportsFiles"] != false || b["isNotificationOnly"] != false {
		t.Errorf("supportsFiles %v, isNotificationOnly %v", b["supportsFiles"], b["isNotificationOnly"])
	}
	scopes := []string{"personal", "team", "groupChat"}
	if !sameStrings(b["scopes"], scopes) {
		t.Errorf("bot scopes %v, want %v", b["scopes"], scopes)
	}
	if v, _ := m["validDomains"].([]any); len(v) != 1 || v[0] != placeholders["KINETIC_HOST"] {
		t.Errorf("validDomains %v", m["validDomains"])
	}

	// An example of each command, as the Teams app hands it to the shared
	// parser: the text after the verb "offboard", or the whole text for
	// the other verbs (as after Slack's /offboard).
	examples := map[string]struct {
		text string
		kind blocks.CommandKind
	}{
		"offboard": {"<@U0123ABCD|dana> moving on --effective 2026-12-04 17:00", blocks.CommandOffboard},
		"status":   {"status <@U0123ABCD|dana>", blocks.CommandStatus},
		"cancel":   {"cancel <@U0123ABCD|dana> rehired", blocks.CommandCancel},
		"help":     {"help", blocks.CommandHelp},
	}
	lists, _ := b["commandLists"].([]any)
	if len(lists) != 1 {
		t.Fatalf("%d command lists, want one for every scope", len(lists))
	}
	list := lists[0].(map[string]any)
	if !sameStrings(list["scopes"], scopes) {
		t.Errorf("command list scopes %v, want %v", list["scopes"], scopes)
	}
	var titles []string
	for _, c := range list["commands"].([]any) {
		c := c.(map[string]any)
		title := c["title"].(string)
		titles = append(titles, title)
		ex, ok := examples[title]
		if !ok {
			t.Errorf("command %q is not one the parser knows", title)
			continue
		}
		if desc := c["description"].(string); !strings.HasPrefix(desc, title+" ") && !strings.HasPrefix(desc, title+":") {
			t.Errorf("command %q: description %q does not start with its syntax", title, desc)
		}
		cmd, err := blocks.ParseCommand(ex.text)
		if err != nil || cmd.Kind != ex.kind {
			t.Errorf("command %q: ParseCommand(%q) = %v, %v; want kind %v", title, ex.text, cmd.Kind, err, ex.kind)
		}
	}
	for name := range examples {
		if !slices.Contains(titles, name) {
			t.Errorf("the manifest lists no %q command", name)
		}
	}
}

func sameStrings(v any, want []string) bool {
	l, _ := v.([]any)
	var got []string
	for _, s := range l {
		got = append(got, s.(string))
	}
	sort.Strings(got)
	w := slices.Clone(want)
	sort.Strings(w)
	return slices.Equal(got, w)
}

// TestIcons: the icons the manifest names exist and are what Teams asks:
// color 192x192, outline 32x32 white on transparent.
func TestIcons(t *testing.T) {
	m := fill(t, readManifest(t))
	icons := m["icons"].(map[string]any)
	load := func(name string) image.Image {
		t.Helper()
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return img
	}
	color := load(icons["color"].(string))
	if b := color.Bounds(); b.Dx() != 192 || b.Dy() != 192 {
		t.Errorf("color icon is %dx%d, want 192x192", b.Dx(), b.Dy())
	}
	outline := load(icons["outline"].(string))
	if b := outline.Bounds(); b.Dx() != 32 || b.Dy() != 32 {
		t.Errorf("outline icon is %dx%d, want 32x32", b.Dx(), b.Dy())
	}
	var opaque, clear int
	b := outline.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := outline.At(x, y).RGBA()
			switch {
			case a == 0:
				clear++
			case r != a || g != a || bl != a: // premultiplied: white is r=g=b=a
				t.Fatalf("outline pixel (%d,%d) is not white: %d %d %d %d", x, y, r, g, bl, a)
			default:
				opaque++
			}
		}
	}
	if opaque == 0 || clear == 0 {
		t.Errorf("outline has %d white and %d transparent pixels; want both", opaque, clear)
	}
}
