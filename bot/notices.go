package bot

import (
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/jsonbody"
	"github.com/kineticsec/kinetic/store"
)

// The acknowledgement page for notice emails: GET /notices/ack?t=TOKEN
// shows what the notice is and a form; POST /notices/ack (t and the
// acknowledger's address, form-encoded) records the acknowledgement. A GET
// changes nothing (mail scanners and link previews fetch links), and the
// POST is refused unless the address is one the notice went to. The token
// is single-use because an acknowledgement is recorded once.

// maxAckForm bounds the POST body.
const maxAckForm = 4 << 10

var ackPage = template.Must(template.New("ack").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>Kinetic: confirm notice</title></head><body>
{{if .Error}}<p>{{.Error}}</p>{{else if .Done}}<p>Thank you: the {{.Team}} team's receipt of notice {{.Ref}} is recorded ({{.By}}, {{.At}}).</p>
{{else}}<h1>Confirm the {{.Team}} team has this notice</h1>
<p>Case {{.Ref}}: {{.Employee}}. Sent {{.Sent}} to {{.Recipients}}.</p>
<form method="post" action="">
<input type="hidden" name="t" value="{{.Token}}">
<label>Your address on the notice: <input type="email" name="address" required></label>
<button type="submit">Confirm receipt</button>
</form>{{end}}
</body></html>
`))

type ackView struct {
	Error, Team, Ref, Employee, Sent, Recipients, Token, By, At string
	Done                                                        bool
}

// noticeAckRoutes mounts the acknowledgement page.
func noticeAckRoutes(mux *http.ServeMux, eng *engine.Engine, log *logrus.Entry) {
	show := func(w http.ResponseWriter, status int, v ackView) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.WriteHeader(status)
		_ = ackPage.Execute(w, v)
	}
	refused := func(w http.ResponseWriter, err error) {
		switch {
		case errors.Is(err, store.ErrNoticeAcknowledged):
			show(w, http.StatusConflict, ackView{Error: "This notice has already been acknowledged."})
		case errors.Is(err, engine.ErrNoticeRefused):
			show(w, http.StatusForbidden, ackView{Error: "This link cannot acknowledge the notice: it is not valid, it has expired, or the address is not one the notice went to."})
		default:
			log.WithError(err).Error("notice acknowledgement failed")
			show(w, http.StatusInternalServerError, ackView{Error: "Something went wrong; nothing was recorded. Please try again."})
		}
	}
	mux.HandleFunc("GET /notices/ack", func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("t")
		n, c, err := eng.NoticeForLink(r.Context(), tok)
		if err != nil {
			refused(w, err)
			return
		}
		if !n.Open() {
			refused(w, store.ErrNoticeAcknowledged)
			return
		}
		show(w, http.StatusOK, ackView{Team: n.Team, Ref: engine.CaseReference(c.ID), Employee: c.EmployeeName,
			Sent: n.SentAt.Format("2006-01-02 15:04 MST"), Recipients: strings.ReplaceAll(n.Recipients, ",", ", "), Token: tok})
	})
	mux.HandleFunc("POST /notices/ack", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxAckForm)
		if err := r.ParseForm(); err != nil {
			show(w, http.StatusBadRequest, ackView{Error: "The form could not be read."})
			return
		}
		n, err := eng.AcknowledgeNoticeLink(r.Context(), r.PostForm.Get("t"), r.PostForm.Get("address"))
		if err != nil {
			refused(w, err)
			return
		}
		show(w, http.StatusOK, ackView{Done: true, Team: n.Team, Ref: engine.CaseReference(n.CaseID), By: n.AcknowledgedBy,
			At: n.AcknowledgedAt.Format("2006-01-02 15:04 MST")})
	})
}

// NoticeAckRequest is the body of POST /api/v1/notices/{id}/ack: the
// payroll system's (or any API client's) callback that a notice reached
// the team, on behalf of As, an HR id on the team.
type NoticeAckRequest struct {
	As string `json:"as" maxlen:"320"`
}

// ackNotice is the callback acknowledgement (scope actions:operate).
func (a *api) ackNotice(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r, "notice")
	if !ok {
		return
	}
	var body NoticeAckRequest
	if !decode(w, r, &body) || !requireAs(w, body.As) {
		return
	}
	n, err := a.o.Engine.AcknowledgeNotice(r.Context(), id, body.As, store.AckCallback)
	if err != nil {
		if errors.Is(err, engine.ErrInvalidRequest) {
			writeError(w, http.StatusConflict, err.Error())
			return
		}
		a.fail(w, err)
		return
	}
	jsonbody.Write(w, http.StatusOK, noticeView(n))
}
