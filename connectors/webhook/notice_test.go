package webhook_test

import (
	"testing"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/connectors/webhook"
)

// payrollConfig is the production example's payroll intake: notify posts
// the dates, and the lookup's status reads back "notified".
func payrollConfig(base string) webhook.Config {
	return webhook.Config{
		BaseURL: base + "/api",
		Auth:    &webhook.Auth{Bearer: bearer(token)},
		Lookup:  webhook.LookupSpec{Path: "/employees/{{.EmployeeID}}", IDField: "id", StatusField: "offboarding", ActiveValues: []string{"none"}},
		Operations: map[connectors.Operation]webhook.OperationSpec{
			connectors.OpNotify: {
				Method: "POST", Path: "/employees/{{.Account}}/final-pay",
				Body:         `{"case": {{json .Params.case_reference}}, "final_pay_date": {{json .Params.final_pay_date}}, "request": {{json .IdempotencyKey}}}`,
				VerifyStatus: []string{"notified", "done"},
			},
		},
	}
}

func notifyReq(teams string) connectors.Request {
	p := map[string]string{"case_reference": "KIN-7", "final_pay_date": "2026-12-11"}
	if teams != "" {
		p["teams"] = teams
	}
	return connectors.Request{Operation: connectors.OpNotify, Subject: dana, Params: p, IdempotencyKey: "action-77"}
}

// A notify to the payroll system whose action names its receiving teams
// reports one delivered notice per team (channel webhook, message id the
// request's idempotency key), so the engine records a store.Notice that
// only a callback acknowledges; an already-notified person reports it
// too; without teams nothing is reported (fire and forget, as before); a
// failed call reports none.
func TestNotifyReportsNoticesForItsTeams(t *testing.T) {
	lookup := func(status string) call {
		return call{method: "GET", path: "/api/employees/" + dana.EmployeeID,
			header: map[string]string{"Authorization": "Bearer " + token}, status: 200, answer: `{"id": "P-1", "offboarding": "` + status + `"}`}
	}
	post := func(status int) call {
		return call{method: "POST", path: "/api/employees/P-1/final-pay", header: map[string]string{"Authorization": "Bearer " + token, "Idempotency-Key": "action-77"},
			body: `{"case": "KIN-7", "final_pay_date": "2026-12-11", "request": "action-77"}`, status: status, answer: `{}`}
	}
	t.Run("delivered to payroll and benefits", func(t *testing.T) {
		srv := script(t, lookup("none"), post(202))
		c := newConnector(t, payrollConfig(srv.URL), loopback(t))
		res, err := c.Do(ctxT(t), notifyReq("payroll, benefits,payroll"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != connectors.OutcomeDone || res.Data["channel"] != "webhook" || res.Data["message_id.payroll"] != "action-77" || res.Data["message_id.benefits"] != "action-77" {
			t.Fatalf("result = %+v", res)
		}
		if _, ok := res.Data["recipients.payroll"]; ok {
			t.Errorf("a webhook notice has no addresses to acknowledge by link: %v", res.Data)
		}
	})
	t.Run("already notified still reports its notice", func(t *testing.T) {
		srv := script(t, lookup("notified"))
		c := newConnector(t, payrollConfig(srv.URL), loopback(t))
		res, err := c.Do(ctxT(t), notifyReq("payroll"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != connectors.OutcomeAlreadyDone || res.Data["message_id.payroll"] != "action-77" || res.Data["channel"] != "webhook" {
			t.Fatalf("result = %+v", res)
		}
	})
	t.Run("without teams nothing is reported", func(t *testing.T) {
		srv := script(t, lookup("none"), post(200))
		c := newConnector(t, payrollConfig(srv.URL), loopback(t))
		res, err := c.Do(ctxT(t), notifyReq(""))
		if err != nil {
			t.Fatal(err)
		}
		if res.Data["channel"] != "" {
			t.Fatalf("data = %v", res.Data)
		}
	})
	t.Run("a failed call reports no notice", func(t *testing.T) {
		srv := script(t, lookup("none"), post(503))
		c := newConnector(t, payrollConfig(srv.URL), loopback(t))
		res, err := c.Do(ctxT(t), notifyReq("payroll"))
		wantKind(t, err, connectors.KindTransient)
		if res.Data["channel"] != "" {
			t.Fatalf("data = %v", res.Data)
		}
	})
}
