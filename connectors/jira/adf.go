package jira

import "strings"

// Atlassian Document Format, the rich-text JSON every v3 text field takes
// (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/):
// a doc of paragraphs of text nodes. Kinetic's plain text becomes one
// paragraph per block separated by a blank line, and a hardBreak per
// single line break; a text node may not be empty.

type adfNode struct {
	Type    string    `json:"type"`
	Version int       `json:"version,omitempty"`
	Text    string    `json:"text,omitempty"`
	Content []adfNode `json:"content,omitempty"`
}

// toADF renders plain text as an ADF document.
func toADF(s string) adfNode {
	s = valid(s)
	doc := adfNode{Type: "doc", Version: 1, Content: []adfNode{}}
	for _, block := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n\n") {
		block = strings.Trim(block, "\n")
		if strings.TrimSpace(block) == "" {
			continue
		}
		p := adfNode{Type: "paragraph"}
		for i, line := range strings.Split(block, "\n") {
			if i > 0 {
				p.Content = append(p.Content, adfNode{Type: "hardBreak"})
			}
			if line != "" {
				p.Content = append(p.Content, adfNode{Type: "text", Text: line})
			}
		}
		doc.Content = append(doc.Content, p)
	}
	return doc
}

// adfText returns the text of an ADF document with white space folded, to
// compare a comment with a note.
func adfText(n adfNode) string {
	var b strings.Builder
	var walk func(adfNode)
	walk = func(n adfNode) {
		switch n.Type {
		case "text":
			b.WriteString(n.Text)
		case "hardBreak":
			b.WriteString(" ")
		}
		for _, c := range n.Content {
			walk(c)
		}
		if n.Type == "paragraph" {
			b.WriteString(" ")
		}
	}
	walk(n)
	return fold(b.String())
}

func fold(s string) string { return strings.Join(strings.Fields(valid(s)), " ") }

// valid replaces invalid UTF-8 with U+FFFD, as JSON encoding (and so Jira)
// does, so a note compares equal to the comment it became.
func valid(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
