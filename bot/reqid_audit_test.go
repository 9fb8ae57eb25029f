package bot_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/internal/reqid"
	"github.com/kineticsec/kinetic/internal/testkit"
	"github.com/kineticsec/kinetic/store"
)

// An operator follows a request by its id from the access log into the
// audit trail: the events a request writes end with "[request ID]", and
// the chain still verifies.
func TestRequestIDReachesTheAuditTrail(t *testing.T) {
	s := newServer(t, testkit.Options{}, false)
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+"/api/v1/cases", strings.NewReader(`{"employee_id":"E1","reason":"resigned"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(reqid.Header, "follow-me-42")
	res, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if got := res.Header.Get(reqid.Header); got != "follow-me-42" {
		t.Fatalf("echoed request id %q", got)
	}
	var evs []store.AuditEvent
	if err := s.k.Store.TestDB().Where("event = ?", "case.created").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || !strings.HasSuffix(evs[0].Detail, "[request follow-me-42]") {
		t.Fatalf("case.created events %+v: want one whose detail ends with the request id", evs)
	}
	rep, err := s.k.Store.VerifyAudit(context.Background())
	if err != nil || !rep.OK {
		t.Fatalf("audit chain: %+v %v", rep, err)
	}
}
