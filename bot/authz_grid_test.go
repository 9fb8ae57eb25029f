package bot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot"
	"github.com/kineticsec/kinetic/configs"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// gridPolicy is the approvals policy with a manual, skippable step
// (return_keys) and a mass-termination guard that holds the third case;
// group:hr is H1, H2 and M1, so the HR people and the manager may decide
// a batch.
var gridPolicy = strings.NewReplacer(
	"  create_recovery_task: {connector: assets, operation: create_recovery_task, phase: notifications}\n",
	"  create_recovery_task: {connector: assets, operation: create_recovery_task, phase: notifications}\n"+
		"  return_keys: {connector: assets, operation: create_recovery_task, phase: notifications, manual: true, skippable: true}\n",
	"add: [disable_ad, revoke_okta_sessions, deactivate_badge, convert_mailbox, delete_mailbox, create_recovery_task]",
	"add: [disable_ad, revoke_okta_sessions, deactivate_badge, convert_mailbox, delete_mailbox, create_recovery_task, return_keys]",
).Replace(testkit.ApprovalPolicy) + "mass_termination: {max_cases: 2, window: 1h, approvers: [\"group:hr\", \"user:A1\"]}\n"

// The grid's channels: the front ends an operation can come through. Slack
// is exercised with the principal the Slack app sets after mapping the
// clicking user to HR (slack:U…, acting for that person only); the API and
// the CLI through the HTTP handler (the CLI is the API's "cli" client,
// which may act for anyone); HR with an HR source's principal.
const (
	chSlack = "slack"
	chAPI   = "api"
	chCLI   = "cli"
	chHR    = "hr"
)

var gridChannels = []string{chSlack, chAPI, chCLI, chHR}

// The grid's operations, in column order.
var gridOps = []string{"confirm", "cancel", "retry", "skip", "done", "escalate", "approve", "deny", "release", "exception", "batch"}

// opChannels says where each operation exists.
var opChannels = map[string][]string{
	"confirm":   {chSlack, chAPI, chCLI},
	"cancel":    {chSlack, chHR},
	"retry":     {chSlack, chAPI, chCLI},
	"skip":      {chSlack, chAPI, chCLI},
	"done":      {chSlack, chAPI, chCLI},
	"escalate":  {chSlack, chAPI, chCLI},
	"approve":   {chSlack, chAPI, chCLI},
	"deny":      {chSlack, chAPI, chCLI},
	"release":   {chAPI, chCLI},
	"exception": {chAPI, chCLI},
	"batch":     {chAPI, chCLI},
}

// The grid's kinds of actor, in row order, with the person each is in the
// fixture: E1's case, requested (with its exceptions) by H2 (HR); its
// manager M1; HR H1; the admin A1; a colleague X1. The departing employee
// row uses a second fixture where H2, who has an HR role and is in
// group:hr, is the one leaving (requested by H1, held in the batch).
type actorKind struct {
	name   string
	person string
}

var gridActors = []actorKind{
	{"departing employee", "H2"},
	{"requester", "H2"},
	{"manager", "M1"},
	{"HR", "H1"},
	{"admin", "A1"},
	{"non-approver", "X1"},
	{"same principal twice", ""},
	{"outside its act_as", ""},
	{"system as itself", "hr:workday"},
}

// legit is the person who may do each operation in the E1 fixture: the
// one a client outside its act_as tries to act for.
var legit = map[string]string{
	"confirm": "H2", "cancel": "M1", "retry": "H1", "skip": "H1", "done": "H1", "escalate": "H1",
	"approve": "M1", "deny": "M1", "release": "M1", "exception": "M1", "batch": "A1",
}

// allowed lists the (actor kind, operation) pairs the rules allow; every
// other exercised pair must be refused.
var allowed = map[string][]string{
	"requester":        {"confirm", "cancel", "retry", "skip", "done", "escalate", "release", "exception", "batch"},
	"manager":          {"cancel", "approve", "deny", "release", "exception", "batch"},
	"HR":               {"cancel", "retry", "skip", "done", "escalate", "release", "exception", "batch"},
	"admin":            {"confirm", "cancel", "retry", "skip", "done", "escalate", "release", "exception", "batch"},
	"system as itself": {"cancel"},
}

// gridFix is one built fixture.
type gridFix struct {
	k     *testkit.Kit
	h     http.Handler
	cs    int64            // the case under test
	acts  map[string]int64 // its actions by name
	fwd   int64            // a pending email_forwarding approval on it, requested by its requester (step 1: the manager)
	hold  int64            // an approved legal hold on it
	batch int64            // the held batch
}

const gridCLIToken = "grid-cli-token"

// gridClients: a client per person (acting for that person only), the
// CLI's client (every scope, anyone), and ticketing, which may act for the
// manager and HR.
func gridClients() map[string]bot.APIClient {
	cs := personClients()
	cli := bot.LegacyClient(gridCLIToken)
	cli.Via = "cli"
	cs["cli"] = cli
	cs["ticketing"] = bot.APIClient{Token: "grid-ticketing-token", Scopes: slices.Clone(configs.APIScopes), ActAs: []string{"M1", "H1"}}
	return cs
}

// newGridFix builds a Kinetic where departing ("E1" or "H2") has an open
// case with actions in every state the operations need, a pending
// exception, an approved legal hold, and a held batch (E1's fixture: the
// batch holds E4's case; H2's: H2's own).
func newGridFix(t *testing.T, departing string) *gridFix {
	t.Helper()
	k := testkit.New(t, testkit.Options{RedisDB: redisDB, Policy: gridPolicy, StateChangedBehindEngine: true}) // a failed action is made by hand below
	l := logrus.New()
	l.Out = io.Discard
	f := &gridFix{k: k, h: bot.NewHandler(bot.ServerOptions{Engine: k.Engine, Log: logrus.NewEntry(l), APIClients: gridClients()})}
	ctx := context.Background()
	open := func(emp, by string, await bool) int64 {
		t.Helper()
		o, err := k.Engine.Open(ctx, engine.Request{EmployeeID: emp, Requester: by, Trigger: store.TriggerSlack, Reason: "grid", AwaitConfirmation: await})
		if err != nil {
			t.Fatalf("opening %s's case: %v", emp, err)
		}
		return o.Case.ID
	}
	requester := "H2"
	if departing == "E1" {
		f.cs = open("E1", requester, true) // first: not held, awaiting confirmation
		open("E2", "M1", false)
		open("E4", "M1", false) // the third: held
	} else {
		requester = "H1"
		open("E2", "M1", false)
		open("E4", "M1", false)
		f.cs = open("H2", requester, true) // held with E4's
	}
	bs, err := k.Engine.Batches(ctx, store.BatchPending)
	if err != nil || len(bs) != 1 {
		t.Fatalf("batches %+v %v", bs, err)
	}
	f.batch = bs[0].ID
	hold, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: f.cs, Kind: "legal_hold", Requester: requester, Reason: "litigation"})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"L1", "L2"} {
		if _, err := k.Engine.Decide(ctx, engine.Decision{ApprovalID: hold.ID, Approver: l, Approve: true, Reason: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	f.hold = hold.ID
	fwd, err := k.Engine.RequestException(ctx, engine.ExceptionRequest{CaseID: f.cs, Kind: "email_forwarding", Requester: requester,
		ForwardTo: "manager@example.test", Days: 10, Reason: "handover"})
	if err != nil {
		t.Fatal(err)
	}
	f.fwd = fwd.ID
	c, err := k.Store.CaseWithActions(ctx, f.cs)
	if err != nil {
		t.Fatal(err)
	}
	f.acts = map[string]int64{}
	for _, a := range c.Actions {
		f.acts[a.Name] = a.ID
	}
	// A failed revocation to retry.
	if err := k.Store.TestDB().Model(&store.Action{}).Where("id = ?", f.acts["disable_ad"]).
		Updates(map[string]any{"status": store.ActionFailed, "last_error": "grid"}).Error; err != nil {
		t.Fatal(err)
	}
	return f
}

// state renders everything an operation could change: cases, actions,
// approvals, steps, decisions, batches and the audit head.
func (f *gridFix) state(t *testing.T) string {
	t.Helper()
	db := f.k.Store.TestDB()
	var b strings.Builder
	var cs []store.Case
	var as []store.Action
	var aps []store.Approval
	var steps []store.ApprovalStep
	var ds []store.ApprovalDecision
	var bs []store.Batch
	var head store.AuditHead
	for _, q := range []any{&cs, &as, &aps, &steps, &ds, &bs} {
		if err := db.Order("id").Find(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := db.First(&head, 1).Error; err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		fmt.Fprintf(&b, "case %d %s %s\n", c.ID, c.Status, c.Summary)
	}
	for _, a := range as {
		fmt.Fprintf(&b, "action %d %s %s %d %v\n", a.ID, a.Status, a.BlockedReason, a.Generation, a.NotBefore)
	}
	for _, a := range aps {
		fmt.Fprintf(&b, "approval %d %s %s\n", a.ID, a.Status, a.Outcome)
	}
	for _, s := range steps {
		fmt.Fprintf(&b, "step %d %s\n", s.ID, s.Status)
	}
	for _, d := range ds {
		fmt.Fprintf(&b, "decision %d %s %s\n", d.ID, d.Approver, d.Decision)
	}
	for _, x := range bs {
		fmt.Fprintf(&b, "batch %d %s %s\n", x.ID, x.Status, x.DecidedBy)
	}
	fmt.Fprintf(&b, "audit head %d %s\n", head.Seq, head.Hash)
	return b.String()
}

// principalFor is the principal a channel acts with for person (Slack:
// that person's own; HR: the HR source).
func principalFor(channel, person string) engine.Principal {
	if channel == chHR {
		return engine.Principal{ID: "hr:workday"}
	}
	return engine.Principal{ID: "slack:U-" + person, ActAs: []string{person}}
}

// do runs op as actor through channel, as principal pers acting: it
// reports whether it was refused (ErrNotAllowed, HTTP 403) and what was
// answered.
func (f *gridFix) do(t *testing.T, channel, op, actor, bearerTok string, p engine.Principal) (refused bool, answer string) {
	t.Helper()
	if channel == chAPI || channel == chCLI {
		var method, path, body string
		method = "POST"
		switch op {
		case "confirm":
			path, body = fmt.Sprintf("/api/v1/cases/%d/confirm", f.cs), fmt.Sprintf(`{"as":%q}`, actor)
		case "retry", "skip", "done", "escalate":
			id := map[string]int64{"retry": f.acts["disable_ad"], "skip": f.acts["return_keys"], "done": f.acts["return_keys"], "escalate": f.acts["deactivate_badge"]}[op]
			path, body = fmt.Sprintf("/api/v1/actions/%d/%s", id, op), fmt.Sprintf(`{"as":%q,"reason":"grid"}`, actor)
		case "approve", "deny":
			path, body = fmt.Sprintf("/api/v1/approvals/%d/%s", f.fwd, op), fmt.Sprintf(`{"as":%q,"reason":"grid"}`, actor)
		case "release":
			path, body = fmt.Sprintf("/api/v1/approvals/%d/release", f.hold), fmt.Sprintf(`{"as":%q,"reason":"grid"}`, actor)
		case "exception":
			path, body = fmt.Sprintf("/api/v1/cases/%d/exceptions", f.cs), fmt.Sprintf(`{"kind":"late_laptop","as":%q,"days":3,"reason":"grid"}`, actor)
		case "batch":
			path, body = fmt.Sprintf("/api/v1/batches/%d/approve", f.batch), fmt.Sprintf(`{"as":%q,"reason":"grid"}`, actor)
		default:
			t.Fatalf("no API route for %s", op)
		}
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+bearerTok)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code == http.StatusUnauthorized {
			t.Fatalf("%s %s: 401 (the grid's tokens are valid)", method, path)
		}
		return w.Code == http.StatusForbidden, fmt.Sprintf("%d %s", w.Code, strings.TrimSpace(w.Body.String()))
	}
	ctx := engine.WithPrincipal(context.Background(), p)
	e := f.k.Engine
	var err error
	switch op {
	case "confirm":
		_, err = e.Confirm(ctx, f.cs, actor)
	case "cancel":
		err = e.Cancel(ctx, f.cs, actor, "grid")
	case "retry":
		err = e.RetryAction(ctx, f.acts["disable_ad"], actor)
	case "skip":
		err = e.SkipAction(ctx, f.acts["return_keys"], actor, "grid")
	case "done":
		err = e.MarkDone(ctx, f.acts["return_keys"], actor, "grid")
	case "escalate":
		err = e.EscalateNow(ctx, f.acts["deactivate_badge"], actor)
	case "approve", "deny":
		_, err = e.Decide(ctx, engine.Decision{ApprovalID: f.fwd, Approver: actor, Approve: op == "approve", Reason: "grid", Via: channel})
	case "release":
		_, err = e.RequestRelease(ctx, f.hold, actor, "grid")
	case "exception":
		_, err = e.RequestException(ctx, engine.ExceptionRequest{CaseID: f.cs, Kind: "late_laptop", Requester: actor, Days: 3, Reason: "grid", Via: channel})
	case "batch":
		_, err = e.DecideBatch(ctx, f.batch, actor, true, nil, "grid")
	}
	if err == nil {
		return false, "ok"
	}
	return errors.Is(err, engine.ErrNotAllowed), err.Error()
}

// TestNobodyActsOnTheirOwnOffboardingGrid is the authorization table:
// every operation × channel × kind of actor, allowed or refused; a refusal
// changes no case, action, approval, decision, batch or audit event. The
// grid is printed.
func TestNobodyActsOnTheirOwnOffboardingGrid(t *testing.T) {
	shared := map[string]*gridFix{}
	// A fresh fixture belongs to its subtest (st), so its Kinetic — a
	// PostgreSQL database and a connection pool under CI — is closed when
	// the subtest ends rather than kept until the whole grid has run.
	fixture := func(st *testing.T, departing string, fresh bool) *gridFix {
		if fresh {
			return newGridFix(st, departing)
		}
		if shared[departing] == nil {
			shared[departing] = newGridFix(t, departing)
		}
		return shared[departing]
	}
	// grid[actor][op][channel] is ✓ (allowed), ✗ (refused) or · (not
	// exercised: the channel has no such operation, or the kind of actor
	// does not apply).
	grid := map[string]map[string]map[string]string{}
	mark := func(actor, op, channel, m string) {
		if grid[actor] == nil {
			grid[actor] = map[string]map[string]string{}
		}
		if grid[actor][op] == nil {
			grid[actor][op] = map[string]string{}
		}
		grid[actor][op][channel] = m
	}
	tokenOf := func(channel, person string) string {
		if channel == chCLI {
			return gridCLIToken
		}
		return "test-token-as-" + person
	}
	for _, ak := range gridActors {
		for _, op := range gridOps {
			for _, ch := range opChannels[op] {
				name := fmt.Sprintf("%s/%s/%s", ak.name, op, ch)
				applies := true
				switch ak.name {
				case "same principal twice":
					applies = op == "approve" || op == "deny"
				case "outside its act_as":
					applies = ch != chCLI // the CLI's client may act for anyone
				case "system as itself":
					applies = ch == chHR
				default:
					applies = ch != chHR || ak.name == "departing employee"
				}
				if !applies {
					mark(ak.name, op, ch, "·")
					continue
				}
				wantAllowed := slices.Contains(allowed[ak.name], op)
				t.Run(name, func(t *testing.T) {
					departing := "E1"
					if ak.name == "departing employee" {
						departing = "H2"
					}
					f := fixture(t, departing, wantAllowed || ak.name == "same principal twice")
					actor, tok, p := ak.person, tokenOf(ch, ak.person), principalFor(ch, ak.person)
					switch ak.name {
					case "same principal twice":
						// One principal approves step 1 as the manager, then
						// decides step 2 as HR.
						tok = "grid-ticketing-token"
						if ch == chCLI {
							tok = gridCLIToken
						}
						p = engine.Principal{ID: "slack:U-M1", ActAs: []string{"M1"}}
						if refused, ans := f.do(t, ch, "approve", "M1", tok, p); refused {
							t.Fatalf("the first decision was refused: %s", ans)
						}
						actor = "H1"
					case "outside its act_as":
						actor, tok, p = legit[op], "test-token-as-X1", engine.Principal{ID: "slack:U-X1", ActAs: []string{"X1"}}
						if ch == chHR {
							p = principalFor(chHR, "")
						}
					}
					before := f.state(t)
					refused, ans := f.do(t, ch, op, actor, tok, p)
					after := f.state(t)
					switch {
					case wantAllowed && refused:
						t.Errorf("%s (%s) %s via %s was refused: %s", ak.name, actor, op, ch, ans)
					case !wantAllowed && !refused:
						t.Errorf("%s (%s) %s via %s was not refused: %s", ak.name, actor, op, ch, ans)
					case !wantAllowed && after != before:
						t.Errorf("a refused %s changed the database:\nbefore:\n%s\nafter:\n%s", name, before, after)
					}
					m := "✗"
					if !refused {
						m = "✓"
					}
					mark(ak.name, op, ch, m)
				})
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nauthorization grid: each cell is slack/api/cli/hr; ✓ allowed, ✗ refused (nothing changed), · not exercised\n")
	fmt.Fprintf(&b, "%-22s", "")
	for _, op := range gridOps {
		fmt.Fprintf(&b, " %-9s", op)
	}
	b.WriteString("\n")
	for _, ak := range gridActors {
		fmt.Fprintf(&b, "%-22s", ak.name)
		for _, op := range gridOps {
			var cell strings.Builder
			for _, ch := range gridChannels {
				m := grid[ak.name][op][ch]
				if m == "" {
					m = "·"
				}
				cell.WriteString(m)
			}
			fmt.Fprintf(&b, " %-9s", cell.String())
		}
		b.WriteString("\n")
	}
	t.Log(b.String())
}
