// Package emailroute is the email channel of the routing model: the
// engine's routed notifications (escalations, manual steps, security
// officer notices, breaches, HR alerts) addressed to channel:NAME reach
// the addresses of routing.NAME.email by email, with the same texts as
// the chat cards (the Slack card's text and the event's detail), so that
// people the routing names who have no chat account (an HR partner on
// email only) hear what the team's channel hears. Mail goes through
// internal/mailer (SMTP with mandatory TLS, outbound URL policy). A
// message that cannot be sent is a delivery failure: logged, and raised
// by email to the security channel's email route when it has one (as the
// Slack front end raises it in the alerts channel).
//
// It also sends the instructions for returning a device to the departing
// person's private address (engine.EventReturnInstructions): a transient
// failure (no connection, a 4xx reply) is tried again after each of
// Options.Retry, and the outcome — sent, or not, then the engine tells
// the manager in chat instead — is reported to the Recorder (Bind). Logs
// show that address masked.
package emailroute

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	gomail "github.com/wneessen/go-mail"

	"github.com/kineticsec/kinetic/bot/slackbot/blocks"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/mailer"
	"github.com/kineticsec/kinetic/internal/routing"
	"github.com/kineticsec/kinetic/internal/text"
)

// Options configure a Notifier.
type Options struct {
	Mailer *mailer.Mailer
	// From is the sender address.
	From string
	// Routes are the routing table's email routes (routing.Route.Email).
	Routes *routing.Table
	// AlertsRoute is the security channel's routing name; its email route,
	// if any, is told of delivery failures.
	AlertsRoute string
	// SendTimeout bounds each message; default 1 minute.
	SendTimeout time.Duration
	// Retry are the waits before each further attempt at a return
	// instructions email that failed transiently; default 5s, 30s.
	Retry []time.Duration
	Log   *logrus.Entry
}

// Recorder is told what became of a return instructions email:
// engine.Engine.ReturnInstructionsSent.
type Recorder interface {
	ReturnInstructionsSent(ctx context.Context, ev engine.Event, sendErr error) error
}

// Notifier is an engine.Observer. Observe never blocks the engine: each
// event is delivered on its own goroutine; Close waits for them.
type Notifier struct {
	o   Options
	wg  sync.WaitGroup
	rec Recorder
}

// Bind gives the notifier the Recorder of return instructions emails.
// Call it before events flow.
func (n *Notifier) Bind(r Recorder) { n.rec = r }

// New returns a notifier.
func New(o Options) *Notifier {
	if o.SendTimeout <= 0 {
		o.SendTimeout = time.Minute
	}
	if o.Retry == nil {
		o.Retry = []time.Duration{5 * time.Second, 30 * time.Second}
	}
	if o.Log == nil {
		l := logrus.New()
		l.Out = discard{}
		o.Log = logrus.NewEntry(l)
	}
	return &Notifier{o: o}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// routedKind lists the events delivered to their targets (as the Slack
// front end's route.go does).
func routedKind(k engine.EventKind) bool {
	switch k {
	case engine.EventEscalation, engine.EventSecurityOfficerNotice, engine.EventBreach, engine.EventHRUnknownEmployee, engine.EventHRLateChange,
		engine.EventManualStep:
		return true
	}
	return false
}

// Observe delivers a routed event to the email routes its targets name.
func (n *Notifier) Observe(ev engine.Event) {
	if ev.Kind == engine.EventReturnInstructions {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.instructions(context.Background(), ev)
		}()
		return
	}
	if !routedKind(ev.Kind) {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.deliver(context.Background(), ev)
	}()
}

// Close waits for deliveries in flight.
func (n *Notifier) Close() { n.wg.Wait() }

// Text is the message for an event: the chat card's text, then its
// detail. Subject is its first line.
func Text(ev engine.Event, reached []string) (subject, body string) {
	_, text := blocks.Notice(ev, reached, nil, "", nil)
	subject = strings.Join(strings.Fields(text), " ")
	var b strings.Builder
	b.WriteString(subject + "\n")
	if d := strings.TrimSpace(ev.Detail); d != "" {
		b.WriteString("\n" + d + "\n")
	}
	if !ev.At.IsZero() {
		b.WriteString("\n" + ev.At.UTC().Format("2006-01-02 15:04 MST") + "\n")
	}
	return subject, b.String()
}

func (n *Notifier) deliver(ctx context.Context, ev engine.Event) {
	var problems []string
	for _, t := range ev.Targets {
		d := n.o.Routes.Resolve(t)
		if d.Kind != routing.KindChannel || len(d.Emails) == 0 {
			continue // not an email route: the chat front ends deliver it
		}
		subject, body := Text(ev, []string{"#" + d.Name + " (email)"})
		body += fmt.Sprintf("\nYou receive this because the routing of %q names your address for email.\n", d.Name)
		if err := n.send(ctx, d.Emails, subject, body); err != nil {
			problems = append(problems, fmt.Sprintf("#%s by email (%s): %v", d.Name, strings.Join(d.Emails, ", "), err))
		}
	}
	if len(problems) > 0 {
		n.deliveryFailure(ctx, ev, problems)
	}
}

func (n *Notifier) send(ctx context.Context, to []string, subject, body string) error {
	ctx, cancel := context.WithTimeout(ctx, n.o.SendTimeout)
	defer cancel()
	m := gomail.NewMsg()
	if err := m.From(n.o.From); err != nil {
		return err
	}
	if err := m.To(to...); err != nil {
		return err
	}
	m.Subject(subject)
	m.SetMessageID()
	m.SetDate()
	m.SetBodyString(gomail.TypeTextPlain, body)
	return n.o.Mailer.Send(ctx, m)
}

// deliveryFailure logs what did not reach its targets and tells the
// security channel's email route, unless that route is what failed.
func (n *Notifier) deliveryFailure(ctx context.Context, ev engine.Event, problems []string) {
	log := n.o.Log.WithFields(logrus.Fields{"event": ev.Kind, "case": ev.CaseID, "not_reached": problems})
	log.Error("a notification did not reach everyone it names by email")
	d := n.o.Routes.Resolve("channel:" + n.o.AlertsRoute)
	if n.o.AlertsRoute == "" || len(d.Emails) == 0 {
		return
	}
	for _, p := range problems {
		if strings.HasPrefix(p, "#"+n.o.AlertsRoute+" ") {
			return // the alerts route itself failed
		}
	}
	subject, body := Text(ev, nil)
	subject = "Delivery failure: " + subject
	body = "This notification did not reach everyone it names:\n- " + strings.Join(problems, "\n- ") + "\n\n" + body
	if err := n.send(ctx, d.Emails, subject, body); err != nil {
		log.WithError(err).Error("raising a delivery failure by email failed too")
	}
}

// instructions sends return instructions ev to the person's private
// address, trying a transient failure again, and reports the outcome.
func (n *Notifier) instructions(ctx context.Context, ev engine.Event) {
	log := n.o.Log.WithFields(logrus.Fields{"event": ev.Kind, "case": ev.CaseID, "equipment": ev.EquipmentID, "to": text.MaskEmail(ev.Email)})
	body := ev.Detail + "\nYou receive this at your private address because your employer's HR record names it for the return of company devices.\n"
	var err error
	for attempt := 0; ; attempt++ {
		if err = n.send(ctx, []string{ev.Email}, ev.Name, body); err == nil || attempt >= len(n.o.Retry) || !transient(err) {
			break
		}
		log.WithError(masked(err, ev.Email)).Warn("sending return instructions failed; trying again")
		select {
		case <-ctx.Done():
		case <-time.After(n.o.Retry[attempt]):
		}
	}
	if err != nil {
		err = masked(err, ev.Email)
		log.WithError(err).Error("return instructions could not be sent by email")
	}
	if n.rec == nil {
		return
	}
	if rerr := n.rec.ReturnInstructionsSent(ctx, ev, err); rerr != nil {
		log.WithError(rerr).Error("recording the outcome of a return instructions email failed")
	}
}

// transient reports whether a send may succeed later: no reply from the
// server (a connection failure) or a 4xx reply.
func transient(err error) bool {
	code, _ := mailer.Reply(err)
	return code == 0 || code >= 400 && code < 500
}

// masked is err with addr masked in its text.
func masked(err error, addr string) error {
	if err == nil || addr == "" || !strings.Contains(err.Error(), addr) {
		return err
	}
	return maskedError{msg: strings.ReplaceAll(err.Error(), addr, text.MaskEmail(addr)), err: err}
}

type maskedError struct {
	msg string
	err error
}

func (e maskedError) Error() string { return e.msg }
func (e maskedError) Unwrap() error { return e.err }
