package evidence

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"codeberg.org/go-pdf/fpdf"
)

// PDF renders ev as an A4 landscape PDF (fpdf, core fonts: no browser and
// no font files at run time). The evidence is embedded twice: base64
// between the markers in the XMP metadata stream, which Extract reads, and
// as the attachment evidence.json for a person with a PDF reader. Creation
// and modification dates are the evidence's GeneratedAt, so the same
// evidence renders to the same bytes.
func PDF(ev *Evidence) ([]byte, error) {
	emb, raw, err := embedded(ev)
	if err != nil {
		return nil, err
	}
	p := fpdf.New("L", "mm", "A4", "")
	p.SetCatalogSort(true)
	p.SetCreationDate(ev.GeneratedAt)
	p.SetModificationDate(ev.GeneratedAt)
	p.SetAuthor("Kinetic", true)
	p.SetCreator("kinetic audit report", true)
	p.SetXmpMetadata([]byte(`<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:kinetic="https://kinetic.invalid/ns/evidence/1/"><kinetic:evidence>` + emb + `</kinetic:evidence></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="r"?>`))
	p.SetAttachments([]fpdf.Attachment{{Content: raw, Filename: "evidence.json", Description: "Kinetic machine-readable evidence (" + Version + ")"}})
	tr := p.UnicodeTranslatorFromDescriptor("")
	p.SetMargins(10, 10, 10)
	p.SetAutoPageBreak(true, 12)
	p.SetFooterFunc(func() {
		p.SetY(-10)
		p.SetFont("Helvetica", "", 7)
		p.CellFormat(0, 4, tr(fmt.Sprintf("Kinetic evidence %s — generated %s — page %d — verify with: kinetic audit verify-report FILE", title(ev), tf(&ev.GeneratedAt), p.PageNo())), "", 0, "C", false, 0, "")
	})
	p.AddPage()
	w := &pdfw{p: p, tr: tr}
	if ev.Simulated {
		p.SetTextColor(170, 0, 0)
		w.para("Helvetica", "B", 10, "SIMULATED: this report covers sandbox connectors; nothing it lists was done to a real system.")
		p.SetTextColor(0, 0, 0)
	}
	w.para("Helvetica", "B", 16, "Offboarding evidence — "+title(ev))
	if c := ev.Case; c != nil {
		person := c.Person.String()
		if c.Person.Email != "" {
			person += " <" + c.Person.Email + ">"
		}
		req := c.Requester.String()
		if c.OpenedBy != "" {
			req += " (opened by " + c.OpenedBy + ")"
		}
		trig := c.Trigger
		if c.Involuntary {
			trig += ", involuntary"
		}
		prof := deadlineText(c)
		if c.ComplianceProfile != "" {
			prof = c.ComplianceProfile + ": " + prof
		}
		kv := [][2]string{
			{"Person", person}, {"Requester", req}, {"Trigger", trig}, {"Reason", c.Reason}, {"Status", c.Status},
			{"Effective", tf(&c.EffectiveAt)}, {"Policy version", c.PolicyHash}, {"Rules matched", strings.Join(c.RulesMatched, ", ")},
			{"Fully revoked", tf(c.RevokedAt) + " — time to revocation " + df(c.TimeToRevocation) + ": " + slaText(c)},
			{"Compliance deadline", prof}, {"Closed", tf(c.ClosedAt)},
		}
		for _, r := range kv {
			w.row([]float64{45, 232}, []string{r[0], r[1]}, 8, []bool{true, false})
		}
		w.heading("Actions")
		aw := []float64{10, 28, 32, 40, 27, 27, 30, 48, 35}
		w.row(aw, []string{"#", "System", "Operation", "Target", "Started", "Finished", "Result", "Read-back", "Actors"}, 7, bold(9))
		for _, a := range c.Actions {
			sys := a.System
			if a.Simulated {
				sys += " (simulated)"
			}
			res := a.Status
			if a.Outcome != "" {
				res += " / " + a.Outcome
			}
			rb := "not verified"
			if a.Verified {
				rb = "verified"
			}
			if a.Verification != "" {
				rb += ": " + a.Verification
			}
			w.row(aw, []string{strconv.FormatInt(a.ID, 10), sys, a.Operation, a.Target, tf(a.StartedAt), tf(a.FinishedAt), res, rb, actorList(a.Actors)}, 7, nil)
		}
		w.heading("Approvals")
		if len(c.Approvals) == 0 {
			w.para("Helvetica", "", 8, "None.")
		}
		for _, ap := range c.Approvals {
			line := ap.Kind + " (" + ap.Effect + ") requested by " + ap.Requester.String()
			if ap.Reason != "" {
				line += ": " + ap.Reason
			}
			line += " — " + ap.Status
			if ap.Outcome != "" {
				line += "; " + ap.Outcome
			}
			w.para("Helvetica", "B", 8, line)
			dw := []float64{60, 25, 35, 107, 50}
			w.row(dw, []string{"Approver", "Decision", "When", "Why", "Channel"}, 7, bold(5))
			for _, d := range ap.Decisions {
				ch := d.Via
				if d.Principal != "" {
					ch += " (" + d.Principal + ")"
				}
				w.row(dw, []string{d.Approver.String(), d.Decision, tf(&d.At), d.Reason, ch}, 7, nil)
			}
		}
		w.heading("Exceptions")
		if len(c.Exceptions) == 0 {
			w.para("Helvetica", "", 8, "None.")
		}
		for _, x := range c.Exceptions {
			w.para("Helvetica", "", 8, "• "+x)
		}
	}
	if pr := ev.Period; pr != nil {
		w.para("Helvetica", "", 9, fmt.Sprintf("%d offboardings, %d breaches, %d residual access found after close.", len(pr.Cases), pr.Breaches, pr.Residuals))
		pw := []float64{15, 60, 22, 35, 35, 35, 20, 30, 25}
		w.row(pw, []string{"Case", "Person", "Trigger", "Effective", "Status", "Time to revocation", "Breach", "Exceptions", "Residual"}, 7, bold(9))
		for _, r := range pr.Cases {
			ttr := "not revoked"
			if r.Revoked {
				ttr = df(r.TimeToRevocation)
			}
			br := "no"
			if r.Breached {
				br = "BREACH"
			}
			name := r.Person.String()
			if r.Simulated {
				name += " (simulated)"
			}
			w.row(pw, []string{strconv.FormatInt(r.ID, 10), name, r.Trigger, tf(&r.EffectiveAt), r.Status, ttr, br, strconv.Itoa(r.Exceptions), strconv.Itoa(r.Residuals)}, 7, nil)
		}
	}
	w.heading("Verification")
	if ch := ev.Chain; ch != nil {
		w.para("Helvetica", "", 8, "The case's audit events as chained (SHA-256 over the kinetic.audit.v1 netstring encoding; other cases' events appear by their hashes only).")
		w.row([]float64{70, 207}, []string{"Hash before the case's first event", ch.Before}, 7, []bool{true, false})
		w.row([]float64{70, 207}, []string{"Head when read", fmt.Sprintf("%d %s", ch.HeadSeq, ch.HeadHash)}, 7, []bool{true, false})
		cw := []float64{10, 28, 25, 28, 16, 85, 85}
		w.row(cw, []string{"Seq", "Time", "Actor", "Event", "Result", "Prev hash", "Hash"}, 6, bold(7))
		for _, e := range ch.Events {
			w.row(cw, []string{strconv.FormatInt(e.Seq, 10), tf(&e.Time), e.Actor, e.Event, e.Result, e.PrevHash, e.Hash}, 6, nil)
		}
		if len(ch.Links) > 0 {
			var b strings.Builder
			for _, l := range ch.Links {
				fmt.Fprintf(&b, "%d %s; ", l.Seq, l.Hash)
			}
			w.para("Helvetica", "", 7, "Other cases' events in between: "+b.String())
		}
	}
	an := "none configured"
	if a := ev.Anchor; a != nil {
		an = fmt.Sprintf("%d %s published %s to %s", a.Seq, a.Hash, tf(&a.Time), a.Sink)
	}
	w.row([]float64{70, 207}, []string{"External anchor", an}, 7, []bool{true, false})
	w.para("Helvetica", "", 8, "Check with `kinetic audit verify-report FILE`: it verifies the detached signature FILE.sig over every byte of this file, then re-verifies the chain excerpt embedded in it (XMP metadata; also attached as evidence.json).")
	var out bytes.Buffer
	if err := p.Output(&out); err != nil {
		return nil, fmt.Errorf("evidence: pdf: %w", err)
	}
	return out.Bytes(), nil
}

func title(ev *Evidence) string {
	if ev.Case != nil {
		return "case " + strconv.FormatInt(ev.Case.ID, 10)
	}
	if ev.Period != nil {
		return tf(&ev.Period.From) + " to " + tf(&ev.Period.To)
	}
	return ""
}

func bold(n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = true
	}
	return b
}

// pdfw writes paragraphs and table rows whose cells wrap.
type pdfw struct {
	p  *fpdf.Fpdf
	tr func(string) string
}

func (w *pdfw) para(family, style string, size float64, s string) {
	w.p.SetFont(family, style, size)
	w.p.MultiCell(0, size*0.45, w.tr(s), "", "L", false)
	w.p.Ln(1)
}

func (w *pdfw) heading(s string) {
	w.p.Ln(2)
	w.para("Helvetica", "B", 12, s)
}

// row draws one table row: cells wrap within their widths, the row is as
// tall as its tallest cell, and moves to a new page first if it would not
// fit.
func (w *pdfw) row(widths []float64, cells []string, size float64, boldCells []bool) {
	p := w.p
	lh := size * 0.42
	lines := make([][]string, len(cells))
	maxLines := 1
	for i, c := range cells {
		style := ""
		if boldCells != nil && boldCells[i] {
			style = "B"
		}
		p.SetFont("Helvetica", style, size)
		// Hashes and other long unbroken strings wrap anywhere.
		ls := p.SplitText(c, widths[i]-2)
		if len(ls) == 0 {
			ls = []string{""}
		}
		lines[i] = ls
		maxLines = max(maxLines, len(ls))
	}
	h := float64(maxLines)*lh + 1.5
	_, pageH := p.GetPageSize()
	_, _, _, bottom := p.GetMargins()
	if p.GetY()+h > pageH-bottom-3 {
		p.AddPage()
	}
	x, y := p.GetX(), p.GetY()
	for i := range cells {
		style := ""
		if boldCells != nil && boldCells[i] {
			style = "B"
		}
		p.SetFont("Helvetica", style, size)
		p.Rect(x, y, widths[i], h, "D")
		for k, l := range lines[i] {
			p.SetXY(x+1, y+0.75+float64(k)*lh)
			p.CellFormat(widths[i]-2, lh, w.tr(l), "", 0, "L", false, 0, "")
		}
		x += widths[i]
	}
	p.SetXY(10, y+h)
}
