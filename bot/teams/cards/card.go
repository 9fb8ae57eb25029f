// Package cards builds Kinetic's Microsoft Teams messages as Adaptive
// Cards, the Teams counterpart of bot/slackbot/blocks: the plan preview,
// approval cards, action replies, the closure summary, security alerts,
// help and the offboard form, with their buttons as Universal Actions
// (Action.Execute) whose data ParseInvoke reads.
//
// Cards declare schema version 1.5, where Universal Actions are defined
// and which Teams needs for Action.Execute and refresh to work ("Work with
// Universal Actions for Adaptive Cards", learn.microsoft.com/microsoftteams/
// platform/task-modules-and-cards/cards/universal-actions-for-adaptive-cards/
// work-with-universal-actions-for-adaptive-cards: a card below 1.5 with
// Action.Execute or refresh "stops working" in Teams).
package cards

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	txt "github.com/kineticsec/kinetic/internal/text"
)

// Version is the Adaptive Cards schema version every card declares.
const Version = "1.5"

// MaxCardBytes is the size Kinetic keeps a card under, counted as Teams
// counts a bot message: the payload encoded as UTF-16 ("Format your bot
// messages", learn.microsoft.com/microsoftteams/platform/bots/how-to/
// format-your-bot-messages: over the limit — 40 KB on older pages, 100 KB
// now — the bot gets 413 MessageSizeTooBig). 28 KB is the lower figure
// Microsoft gives for posting cards to Teams (the Teams connector's known
// limitations), and leaves room for the activity around the card.
const MaxCardBytes = 28 * 1024

// Card is an Adaptive Card, ready to marshal as an attachment's content
// (contentType "application/vnd.microsoft.card.adaptive").
type Card struct {
	Schema       string    `json:"$schema"`
	Type         string    `json:"type"`
	Version      string    `json:"version"`
	FallbackText string    `json:"fallbackText,omitempty"`
	Refresh      *Refresh  `json:"refresh,omitempty"`
	Body         []Element `json:"body"`
	Actions      []any     `json:"actions,omitempty"`
	MSTeams      *MSTeams  `json:"msteams,omitempty"`
}

// MSTeams holds Teams' own card options: full width for wide cards.
type MSTeams struct {
	Width string `json:"width,omitempty"`
}

// Refresh makes Teams ask the bot for a per-user view of the card (an
// adaptiveCard/action invoke with Action's verb) when one of UserIDs
// (Teams user MRIs; at most 60) opens it.
type Refresh struct {
	Action  *Execute `json:"action"`
	UserIDs []string `json:"userIds,omitempty"`
}

// Element is a body element: TextBlock, FactSet, Container, ActionSet or
// an input; it is marshalled as is.
type Element = map[string]any

// Execute is an Action.Execute: Teams sends its Verb and Data back in an
// adaptiveCard/action invoke.
type Execute struct {
	Type             string `json:"type"`
	Title            string `json:"title"`
	Verb             string `json:"verb"`
	Data             *Data  `json:"data,omitempty"`
	Style            string `json:"style,omitempty"`
	AssociatedInputs string `json:"associatedInputs,omitempty"`
}

func newCard(fb string) *Card {
	return &Card{Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: Version,
		FallbackText: fallback(fb), MSTeams: &MSTeams{Width: "Full"}}
}

func execute(verb, title string, d *Data, style string) *Execute {
	return &Execute{Type: "Action.Execute", Title: fit(title, 40), Verb: verb, Data: d, Style: style}
}

// oneLine is outside data fit for one line (text.DataLine).
func oneLine(s string) string { return txt.DataLine(s) }

func blank(s string) bool { return oneLine(s) == "" }

// md escapes the characters Adaptive Cards' markdown subset treats as
// markup, and the {{ that opens a DATE/TIME function, so data from outside
// shows as written.
func md(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "`", "\\`", "#", `\#`, "{{", "{ {", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

// fit clips outside data to one line of at most n runes, and breaks the
// {{ that would open a DATE or TIME function.
func fit(s string, n int) string { return noFunc(txt.Fit(oneLine(s), n)) }

func noFunc(s string) string {
	for strings.Contains(s, "{{") {
		s = strings.ReplaceAll(s, "{{", "{ {")
	}
	return s
}

// data is fit then md, for data inside markdown text.
func data(s string, n int) string { return md(fit(s, n)) }

// para keeps a free text's line breaks, clipped and escaped.
func para(s string, n int) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = oneLine(l)
	}
	return md(txt.Fit(strings.TrimSpace(strings.Join(lines, "\n\n")), n))
}

func fallback(s string) string { return fit(s, 1000) }

// when renders a time with the Adaptive Cards DATE and TIME functions, so
// each viewer sees it in their own zone and locale ("Text features",
// learn.microsoft.com/adaptive-cards/authoring-cards/text-features:
// upper case, no spaces inside the braces, strict RFC 3339; a function
// that breaks a rule is shown raw).
func when(t time.Time) string {
	s := t.UTC().Format("2006-01-02T15:04:05Z")
	return "{{DATE(" + s + ", SHORT)}} {{TIME(" + s + ")}}"
}

// day is when without the time of day.
func day(t time.Time) string {
	return "{{DATE(" + t.UTC().Format("2006-01-02T15:04:05Z") + ", SHORT)}}"
}

// text is a wrapping TextBlock with more properties as name, value pairs.
func text(s string, opts ...any) Element {
	e := Element{"type": "TextBlock", "text": s, "wrap": true}
	for i := 0; i+1 < len(opts); i += 2 {
		e[opts[i].(string)] = opts[i+1]
	}
	return e
}

func heading(s string) Element {
	return text(fit(s, 150), "size", "Large", "weight", "Bolder", "style", "heading")
}

func note(s string) Element { return text(s, "isSubtle", true, "size", "Small") }

// facts is a FactSet of label/value pairs, dropping empty values.
func facts(kv ...string) Element {
	var fs []map[string]string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			fs = append(fs, map[string]string{"title": kv[i], "value": kv[i+1]})
		}
	}
	if len(fs) == 0 {
		return nil
	}
	return Element{"type": "FactSet", "facts": fs}
}

func actionSet(as ...any) Element {
	return Element{"type": "ActionSet", "actions": as}
}

func add(es []Element, more ...Element) []Element {
	for _, e := range more {
		if e != nil {
			es = append(es, e)
		}
	}
	return es
}

// Size is the card's marshalled size in bytes of UTF-16, as Teams counts.
func (c *Card) Size() int {
	b, err := json.Marshal(c)
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range string(b) {
		n += 2 * utf16.RuneLen(r)
	}
	return n
}

// fitBody sets c.Body to head, as much of body as fits MaxCardBytes, and
// tail; when body is cut a note says so.
func (c *Card) fitBody(head, body, tail []Element) *Card {
	build := func(b []Element) []Element {
		out := append(append([]Element{}, head...), b...)
		return append(out, tail...)
	}
	c.Body = build(body)
	if c.Size() <= MaxCardBytes {
		return c
	}
	cut := note("_Not everything fits in one card; the rest is left out._")
	lo, hi := 0, len(body)
	for lo < hi { // the most body elements that fit, with the note
		mid := (lo + hi + 1) / 2
		c.Body = build(append(append([]Element{}, body[:mid]...), cut))
		if c.Size() <= MaxCardBytes {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	c.Body = build(append(append([]Element{}, body[:lo]...), cut))
	return c
}

func counted(n int, word string) string { return fmt.Sprintf("%d %s", n, txt.Plural(n, word)) }
