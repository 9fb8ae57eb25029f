package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/directory"
	"github.com/kineticsec/kinetic/internal/paydates"
	"github.com/kineticsec/kinetic/store"
)

// Notice duty: the dates and acknowledgement links a notify action
// carries, the notices a delivery records, and their acknowledgement.

// CaseReference is how notices and messages name a case ("KIN-17").
func CaseReference(caseID int64) string { return fmt.Sprintf("KIN-%d", caseID) }

// noticeParams adds to a notify action's params the case reference, the
// payroll dates the policy's payroll section computes for the case (when
// it has one) and, with an acknowledgement signer, one signed link per
// team the params name (teams: "payroll,benefits"). Dates are computed
// when the action runs, under the current policy, from the case's
// effective time (in the employee's time zone; the HR attribute
// last_working_day, YYYY-MM-DD, wins when set) and its urgency.
func (e *Engine) noticeParams(ctx context.Context, a *store.Action, emp *directory.Employee, params map[string]string) error {
	c, err := e.store.Case(ctx, a.CaseID)
	if err != nil {
		// The database, not the notice, failed: worth another attempt.
		return connectors.NewError(connectors.KindTransient, a.Connector, a.Operation, fmt.Errorf("loading the case for its notice: %w", err))
	}
	params["case_reference"] = CaseReference(c.ID)
	if rules := e.policy.Load().File.Payroll; rules != nil {
		d, err := rules.Compute(departure(c, emp))
		if err != nil {
			return connectors.NewError(connectors.KindInvalid, a.Connector, a.Operation, err)
		}
		for k, v := range d.Params() {
			params[k] = v
		}
	}
	if e.ackSign != nil {
		for _, team := range strings.Split(params["teams"], ",") {
			if team = strings.TrimSpace(team); team != "" {
				params["ack_url."+team] = e.ackSign.Link(a.ID, team, e.clock())
			}
		}
	}
	return nil
}

// departure is what the payroll rules need to know about a case.
func departure(c *store.Case, emp *directory.Employee) paydates.Departure {
	last := c.EffectiveAt
	if loc, err := time.LoadLocation(emp.TimeZone); err == nil && emp.TimeZone != "" {
		last = last.In(loc)
	}
	if d, err := time.Parse(paydates.DateLayout, strings.TrimSpace(emp.Attributes["last_working_day"])); err == nil {
		last = d
	}
	return paydates.Departure{LastDay: last, Country: emp.Country, State: emp.Attributes["state"], Involuntary: c.Involuntary}
}

// recordNotices records one notice per team a notify action's result
// reports delivered (Data message_id.TEAM, recipients.TEAM, channel), in
// the transaction that records the attempt, with a notice.sent audit
// event each. A team served again by a retry keeps its notice.
//
// It appends to evs one EventNotice per open notice, so the team's route
// gets the notice's card with its Acknowledge button (a front end that
// has posted it already only refreshes it).
func recordNotices(tx *gorm.DB, au *auditBuf, a *store.Action, data map[string]string, now time.Time, evs *[]Event) error {
	if a.Operation != string(connectors.OpNotify) || data["channel"] == "" {
		return nil
	}
	var teams []string
	for k := range data {
		if team, ok := strings.CutPrefix(k, "message_id."); ok {
			teams = append(teams, team)
		}
	}
	slices.Sort(teams)
	for _, team := range teams {
		n, err := store.RecordNoticeSent(tx, store.Notice{CaseID: a.CaseID, ActionID: a.ID, Team: team, Channel: data["channel"],
			MessageID: data["message_id."+team], Recipients: data["recipients."+team], SentAt: now})
		if err != nil {
			return err
		}
		au.st.NoticeSent(n)
		au.add(store.Entry{Time: now, CaseID: a.CaseID, ActionID: a.ID, Actor: "worker", System: a.Connector, Event: "notice.sent",
			Result: "ok", Detail: fmt.Sprintf("notice %d to %s by %s (%s), awaiting acknowledgement", n.ID, team, n.Channel, n.MessageID)})
		if n.Open() {
			*evs = append(*evs, Event{Kind: EventNotice, CaseID: a.CaseID, ActionID: a.ID, NoticeID: n.ID, Name: team, Status: NoticeUnacknowledged,
				Detail: fmt.Sprintf("notice to %s sent by %s", team, n.Channel), Targets: []string{"channel:" + team}, At: now})
		}
	}
	return nil
}

// The statuses an EventNotice reports.
const (
	NoticeUnacknowledged = "unacknowledged"
	NoticeAcknowledged   = "acknowledged"
)

// ErrNoticeRefused is returned when an acknowledgement is refused: a link
// that is not valid or has expired, or someone not on the receiving team.
// Nothing is recorded.
var ErrNoticeRefused = errors.New("acknowledgement refused")

// NoticeForLink returns the notice an acknowledgement link names, for the
// confirmation page, or ErrNoticeRefused.
func (e *Engine) NoticeForLink(ctx context.Context, token string) (*store.Notice, *store.Case, error) {
	if e.ackSign == nil {
		return nil, nil, fmt.Errorf("%w: acknowledgement links are not configured", ErrNoticeRefused)
	}
	cl, err := e.ackSign.Check(token, e.clock())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNoticeRefused, err)
	}
	n, err := store.NoticeFor(e.store.Conn(ctx), cl.ActionID, cl.Team)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: no such notice", ErrNoticeRefused)
	}
	c, err := e.store.Case(ctx, n.CaseID)
	if err != nil {
		return nil, nil, err
	}
	return n, c, nil
}

// AcknowledgeNoticeLink records the acknowledgement of the notice a link
// names by address, which must be one the notice went to (the receiving
// team's). A refused acknowledgement (ErrNoticeRefused) and one already
// recorded (store.ErrNoticeAcknowledged) change nothing.
func (e *Engine) AcknowledgeNoticeLink(ctx context.Context, token, address string) (*store.Notice, error) {
	n, _, err := e.NoticeForLink(ctx, token)
	if err != nil {
		return nil, err
	}
	address = strings.ToLower(strings.TrimSpace(address))
	onTeam := false
	for _, r := range strings.Split(n.Recipients, ",") {
		if address != "" && strings.EqualFold(strings.TrimSpace(r), address) {
			onTeam = true
		}
	}
	if !onTeam {
		e.log.WithContext(ctx).WithFields(map[string]any{"case": n.CaseID, "notice": n.ID, "team": n.Team}).Warn("notice acknowledgement refused: the address is not one the notice went to")
		return nil, fmt.Errorf("%w: %s is not an address of the %s team's notice", ErrNoticeRefused, address, n.Team)
	}
	return e.acknowledge(ctx, n, "email:"+address, store.AckLink)
}

// OpAcknowledge is acknowledging a notice, for refusals.
const OpAcknowledge Op = "acknowledge a notice"

// AcknowledgeNotice records the acknowledgement of notice id by actor (an
// HR id) through how (store.AckButton from chat, store.AckCallback from
// the API): actor must be on the notice's receiving team — a member of the
// approver group of the team's name (approver_groups.TEAM) — and the
// caller's principal must be allowed to act for them; the departing
// employee never acknowledges a notice about themselves. A refusal
// (ErrNotAllowed), an unknown notice (ErrNotFound) and an acknowledgement
// already recorded (store.ErrNoticeAcknowledged, wrapped in
// ErrInvalidRequest) change nothing.
func (e *Engine) AcknowledgeNotice(ctx context.Context, id int64, actor, how string) (*store.Notice, error) {
	n, err := e.store.Notice(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: notice %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	db := e.store.Conn(ctx)
	c, err := store.CaseByID(db, n.CaseID)
	if err != nil {
		return nil, err
	}
	if err := e.mayActOnCase(ctx, db, OpAcknowledge, actor, c); err != nil {
		return nil, err
	}
	if !slices.Contains(e.members(n.Team), actor) {
		return nil, fmt.Errorf("%w: %s is not on the %s team (approver_groups.%s), so may not acknowledge its notice", ErrNotAllowed, actor, n.Team, n.Team)
	}
	out, err := e.acknowledge(ctx, n, actor, how)
	if errors.Is(err, store.ErrNoticeAcknowledged) {
		return nil, fmt.Errorf("%w: notice %d to %s is already acknowledged", ErrInvalidRequest, n.ID, n.Team)
	}
	return out, err
}

// acknowledge records an acknowledgement the caller has authorized.
func (e *Engine) acknowledge(ctx context.Context, n *store.Notice, by, how string) (*store.Notice, error) {
	now := e.clock()
	var evs []Event
	var ds []dispatch
	err := e.tx(ctx, func(tx *gorm.DB, au *auditBuf) error {
		evs, ds = nil, nil
		c, err := store.LockCase(tx, n.CaseID)
		if err != nil {
			return err
		}
		if err := store.AcknowledgeNotice(tx, n.ID, by, how, now); err != nil {
			return err
		}
		au.st.NoticeAcknowledged(n.CaseID, n.ID, by, how)
		detail := fmt.Sprintf("notice %d to %s acknowledged by %s (%s)", n.ID, n.Team, by, how)
		au.add(store.Entry{Time: now, CaseID: n.CaseID, ActionID: n.ActionID, Actor: by, Event: "notice.acknowledged", Result: "ok", Detail: detail})
		evs = append(evs, Event{Kind: EventNotice, CaseID: n.CaseID, ActionID: n.ActionID, NoticeID: n.ID, Name: n.Team, Status: NoticeAcknowledged,
			Detail: detail, Targets: []string{"channel:" + n.Team}, Actor: by, At: now})
		if c.Status == store.CaseRunning { // the last open item may have gone: the completion gate decides
			ds, evs, err = e.advance(tx, au, c, now, evs)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	e.emit(evs...)
	e.dispatchAll(ctx, ds)
	return e.store.Notice(ctx, n.ID)
}

// NoticeDates returns the dates notice n carries, as the notify action's
// params name them (last_working_day, final_pay_date, …), computed again
// from the case under the current policy's payroll section, for a front
// end's card; nil when the policy has no payroll section.
func (e *Engine) NoticeDates(ctx context.Context, n *store.Notice) (map[string]string, error) {
	rules := e.policy.Load().File.Payroll
	if rules == nil {
		return nil, nil
	}
	db := e.store.Conn(ctx)
	c, err := store.CaseByID(db, n.CaseID)
	if err != nil {
		return nil, err
	}
	emp, err := e.snapshot(db, n.CaseID)
	if err != nil {
		return nil, err
	}
	d, err := rules.Compute(departure(c, emp))
	if err != nil {
		return nil, err
	}
	return d.Params(), nil
}
