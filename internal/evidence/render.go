package evidence

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"
)

// Markers around the base64 evidence inside a report. In HTML they open
// and close a <script type="application/json"> block's content; in PDF
// they sit in the document's XMP metadata stream (written uncompressed),
// and the same JSON is also a document attachment, evidence.json, for
// people opening the PDF in a reader.
const (
	markOpen  = "KINETIC-EVIDENCE-BEGIN:"
	markClose = ":KINETIC-EVIDENCE-END"
)

// Marshal encodes ev as it is embedded.
func Marshal(ev *Evidence) ([]byte, error) { return json.MarshalIndent(ev, "", "  ") }

// Extract finds the evidence embedded in a rendered report (HTML or PDF).
func Extract(report []byte) (*Evidence, error) {
	i := bytes.Index(report, []byte(markOpen))
	if i < 0 {
		return nil, fmt.Errorf("evidence: the report embeds no evidence")
	}
	rest := report[i+len(markOpen):]
	j := bytes.Index(rest, []byte(markClose))
	if j < 0 {
		return nil, fmt.Errorf("evidence: the embedded evidence is cut short")
	}
	if bytes.Contains(rest[j+len(markClose):], []byte(markOpen)) {
		return nil, fmt.Errorf("evidence: the report embeds evidence twice")
	}
	raw, err := base64.StdEncoding.DecodeString(string(rest[:j]))
	if err != nil {
		return nil, fmt.Errorf("evidence: embedded evidence: %w", err)
	}
	var ev Evidence
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return nil, fmt.Errorf("evidence: embedded evidence: %w", err)
	}
	if ev.Version != Version {
		return nil, fmt.Errorf("evidence: embedded evidence version %q, want %q", ev.Version, Version)
	}
	return &ev, nil
}

func embedded(ev *Evidence) (string, []byte, error) {
	raw, err := Marshal(ev)
	if err != nil {
		return "", nil, err
	}
	return markOpen + base64.StdEncoding.EncodeToString(raw) + markClose, raw, nil
}

// tf formats a time for people: UTC, to the second.
func tf(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func df(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return d.Round(time.Second).String()
}

func actorList(ps []Person) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

func slaText(c *CaseReport) string {
	switch {
	case c.RevokedAt == nil:
		return "access not yet fully revoked"
	case c.SLAMet == nil:
		return "no revocation SLA configured"
	case *c.SLAMet:
		return "met (SLA " + df(c.RevocationSLA) + ")"
	}
	return "BREACHED (SLA " + df(c.RevocationSLA) + ")"
}

func deadlineText(c *CaseReport) string {
	switch {
	case c.ComplianceDeadline == nil:
		return "none"
	case c.BreachedAt != nil:
		return tf(c.ComplianceDeadline) + " — BREACH raised " + tf(c.BreachedAt)
	case c.RevokedAt != nil && !c.RevokedAt.After(*c.ComplianceDeadline):
		return tf(c.ComplianceDeadline) + " — met"
	case c.RevokedAt != nil:
		return tf(c.ComplianceDeadline) + " — MISSED"
	}
	return tf(c.ComplianceDeadline) + " — open"
}

var funcs = template.FuncMap{
	"tf": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return tf(&v)
		case *time.Time:
			return tf(v)
		}
		return ""
	},
	"df": df, "actors": actorList, "sla": slaText, "deadline": deadlineText,
	"join": strings.Join,
}

var htmlTmpl = template.Must(template.New("r").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{if .E.Case}}Offboarding evidence — case {{.E.Case.ID}}{{else}}Offboarding evidence — period{{end}}</title>
<style>body{font-family:sans-serif;font-size:13px;margin:2em}table{border-collapse:collapse;width:100%;margin-bottom:1em}td,th{border:1px solid #999;padding:3px 5px;text-align:left;vertical-align:top}th{background:#eee}code{font-size:11px;word-break:break-all}.warn{color:#a00;font-weight:bold}</style>
</head><body>
{{with .E}}
{{if .Simulated}}<p class="warn">SIMULATED: this report covers sandbox connectors; nothing it lists was done to a real system.</p>{{end}}
{{with .Case}}
<h1>Offboarding evidence — case {{.ID}}</h1>
<table>
<tr><th>Person</th><td>{{.Person}}{{if .Person.Email}} &lt;{{.Person.Email}}&gt;{{end}}</td></tr>
<tr><th>Requester</th><td>{{.Requester}}{{if .OpenedBy}} (opened by {{.OpenedBy}}){{end}}</td></tr>
<tr><th>Trigger</th><td>{{.Trigger}}{{if .Involuntary}}, involuntary{{end}}</td></tr>
<tr><th>Reason</th><td>{{.Reason}}</td></tr>
<tr><th>Status</th><td>{{.Status}}</td></tr>
<tr><th>Effective</th><td>{{tf .EffectiveAt}}</td></tr>
<tr><th>Policy version</th><td><code>{{.PolicyHash}}</code></td></tr>
<tr><th>Rules matched</th><td>{{join .RulesMatched ", "}}</td></tr>
<tr><th>Fully revoked</th><td>{{tf .RevokedAt}} — time to revocation {{df .TimeToRevocation}}: {{sla .}}</td></tr>
<tr><th>Compliance deadline</th><td>{{if .ComplianceProfile}}{{.ComplianceProfile}}: {{end}}{{deadline .}}</td></tr>
<tr><th>Closed</th><td>{{tf .ClosedAt}}</td></tr>
</table>
<h2>Actions</h2>
<table><tr><th>#</th><th>System</th><th>Operation</th><th>Target</th><th>Started</th><th>Finished</th><th>Result</th><th>Read-back</th><th>Actors</th></tr>
{{range .Actions}}<tr><td>{{.ID}}</td><td>{{.System}}{{if .Simulated}} (simulated){{end}}</td><td>{{.Operation}}</td><td>{{.Target}}</td><td>{{tf .StartedAt}}</td><td>{{tf .FinishedAt}}</td><td>{{.Status}}{{if .Outcome}} / {{.Outcome}}{{end}}</td><td>{{if .Verified}}verified{{else}}not verified{{end}}{{if .Verification}}: {{.Verification}}{{end}}</td><td>{{actors .Actors}}</td></tr>
{{end}}</table>
<h2>Approvals</h2>
{{if not .Approvals}}<p>None.</p>{{end}}
{{range .Approvals}}<p><b>{{.Kind}}</b> ({{.Effect}}) requested by {{.Requester}}{{if .Reason}}: {{.Reason}}{{end}} — {{.Status}}{{if .Outcome}}; {{.Outcome}}{{end}}</p>
<table><tr><th>Approver</th><th>Decision</th><th>When</th><th>Why</th><th>Channel</th></tr>
{{range .Decisions}}<tr><td>{{.Approver}}</td><td>{{.Decision}}</td><td>{{tf .At}}</td><td>{{.Reason}}</td><td>{{.Via}}{{if .Principal}} ({{.Principal}}){{end}}</td></tr>{{end}}</table>
{{end}}
<h2>Exceptions</h2>
{{if not .Exceptions}}<p>None.</p>{{end}}<ul>{{range .Exceptions}}<li>{{.}}</li>{{end}}</ul>
{{end}}
{{with .Period}}
<h1>Offboarding evidence — {{tf .From}} to {{tf .To}}</h1>
<p>{{len .Cases}} offboardings, {{.Breaches}} breaches, {{.Residuals}} residual access found after close.</p>
<table><tr><th>Case</th><th>Person</th><th>Trigger</th><th>Effective</th><th>Status</th><th>Time to revocation</th><th>Breach</th><th>Exceptions</th><th>Residual</th></tr>
{{range .Cases}}<tr><td>{{.ID}}</td><td>{{.Person}}{{if .Simulated}} (simulated){{end}}</td><td>{{.Trigger}}</td><td>{{tf .EffectiveAt}}</td><td>{{.Status}}</td><td>{{if .Revoked}}{{df .TimeToRevocation}}{{else}}not revoked{{end}}</td><td>{{if .Breached}}BREACH{{else}}no{{end}}</td><td>{{.Exceptions}}</td><td>{{.Residuals}}</td></tr>
{{end}}</table>
{{end}}
<h2>Verification</h2>
{{with .Chain}}<p>The case's audit events as chained (SHA-256, <code>kinetic.audit.v1</code> netstring encoding; other cases' events appear by their hashes only). Hash before the case's first event: <code>{{.Before}}</code>. Head when read: {{.HeadSeq}} <code>{{.HeadHash}}</code>.</p>
<table><tr><th>Seq</th><th>Time</th><th>Actor</th><th>Event</th><th>Result</th><th>Prev hash</th><th>Hash</th></tr>
{{range .Events}}<tr><td>{{.Seq}}</td><td>{{tf .Time}}</td><td>{{.Actor}}</td><td>{{.Event}}</td><td>{{.Result}}</td><td><code>{{.PrevHash}}</code></td><td><code>{{.Hash}}</code></td></tr>
{{end}}</table>
{{if .Links}}<p>Other cases' events in between: {{range .Links}}{{.Seq}} <code>{{.Hash}}</code>; {{end}}</p>{{end}}{{end}}
<p>External anchor: {{with .Anchor}}{{.Seq}} <code>{{.Hash}}</code> published {{tf .Time}} to {{.Sink}}{{else}}none configured{{end}}.</p>
<p>Generated {{tf .GeneratedAt}}. Check with <code>kinetic audit verify-report FILE</code>: it verifies the detached signature FILE.sig over every byte of this file, then re-verifies the embedded chain excerpt.</p>
{{end}}
<script type="application/json" id="kinetic-evidence">{{.Embed}}</script>
</body></html>
`))

// HTML renders ev as a self-contained HTML page embedding the evidence.
func HTML(ev *Evidence) ([]byte, error) {
	emb, _, err := embedded(ev)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	// The marker text is base64 and fixed ASCII: html/template leaves it
	// as is inside the script element.
	if err := htmlTmpl.Execute(&b, struct {
		E     *Evidence
		Embed template.JS
	}{ev, template.JS(emb)}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
