package identitycenter

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/kineticsec/kinetic/connectors"
)

// awsExampleSCP is the deny policy as AWS's guide prepares it, with its
// placeholder, beside another statement that must survive.
const awsExampleSCP = `{"Version":"2012-10-17","Statement":[{"Sid":"KeepMe","Effect":"Deny","Action":"ec2:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":["eu-west-1"]}}},{"Effect":"Deny","Action":["*"],"Resource":"*","Condition":{"StringEquals":{"identitystore:userId":"Add user ID here"}}}]}`

func scpIDs(t *testing.T, content string) []string {
	t.Helper()
	d, err := parseDenyPolicy(content)
	if err != nil {
		t.Fatal(err)
	}
	return d.ids
}

// TestRevokeSessions: DescribePolicy, UpdatePolicy with the user's id in
// the deny list (the placeholder gone, the other statement kept),
// DescribePolicy to read it back; a second run is already done; another
// user's id is added beside the first.
func TestRevokeSessions(t *testing.T) {
	f := newFakeSSO(t)
	f.seedDana()
	f.scp = awsExampleSCP
	cfg := f.config()
	cfg.DenyPolicyID = scpID
	cfg.OrganizationsEndpoint = f.srv.URL
	c := newConn(t, cfg)
	req := connectors.Request{Operation: connectors.OpRevokeSessions, Subject: dana}
	res, err := c.Do(ctxT(t), req)
	if err != nil || res.Outcome != connectors.OutcomeDone || res.Data["deny_policy"] != scpID {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	calls := f.callLog()[4:]
	wantCalls(t, calls, []step{
		{"DescribePolicy", map[string]any{"PolicyId": scpID}},
		{"UpdatePolicy", map[string]any{"PolicyId": scpID}},
		{"DescribePolicy", map[string]any{"PolicyId": scpID}},
	})
	if ids := scpIDs(t, calls[1].Body["Content"].(string)); !slices.Equal(ids, []string{danaID}) {
		t.Errorf("ids written %v", ids)
	}
	var doc struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(f.scp), &doc); err != nil || len(doc.Statement) != 2 || doc.Statement[0]["Sid"] != "KeepMe" {
		t.Errorf("the other statement was not kept: %s", f.scp)
	}
	if v, err := c.Verify(ctxT(t), req); err != nil || !v.OK {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	n := len(f.callLog())
	res, err = c.Do(ctxT(t), req)
	if err != nil || res.Outcome != connectors.OutcomeAlreadyDone {
		t.Fatalf("second Do = %s, %v", res.Outcome, err)
	}
	if slices.Contains(f.targets()[n:], "UpdatePolicy") {
		t.Error("second Do wrote")
	}
	mulder := connectors.Subject{Username: "mulder", Email: "mulder@example.com"}
	if _, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpRevokeSessions, Subject: mulder}); err != nil {
		t.Fatal(err)
	}
	if ids := scpIDs(t, f.scp); !slices.Equal(ids, []string{danaID, "c4d8e4a8-0001-7026-18f3-be45837cd0e4"}) {
		t.Errorf("ids %v", ids)
	}
}

// TestRevokeSessionsLostUpdate: a concurrent writer drops the id; it is
// written again and read back.
func TestRevokeSessionsLostUpdate(t *testing.T) {
	f := newFakeSSO(t)
	f.seedDana()
	f.scp = awsExampleSCP
	f.scpDropNext = 1
	cfg := f.config()
	cfg.DenyPolicyID = scpID
	cfg.OrganizationsEndpoint = f.srv.URL
	c := newConn(t, cfg)
	res, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpRevokeSessions, Subject: dana})
	if err != nil || res.Outcome != connectors.OutcomeDone {
		t.Fatalf("Do = %+v, %v", res, err)
	}
	if got := strings.Join(f.targets()[4:], ","); got != "DescribePolicy,UpdatePolicy,DescribePolicy,UpdatePolicy,DescribePolicy" {
		t.Errorf("requests %s", got)
	}
	f.scpDropNext = 5
	f.scp = awsExampleSCP
	_, err = c.Do(ctxT(t), connectors.Request{Operation: connectors.OpRevokeSessions, Subject: dana})
	wantKind(t, err, connectors.KindTransient)
}

// TestRevokeSessionsBadPolicy: a policy without the deny statement, one
// that is not an SCP, a missing policy and a full one are clear errors.
func TestRevokeSessionsBadPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, scp, typ string
		kind           connectors.Kind
		want           string
	}{
		{"no deny statement", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, "", connectors.KindInvalid, "no Deny statement on every action"},
		{"not an SCP", awsExampleSCP, "TAG_POLICY", connectors.KindInvalid, "is a TAG_POLICY, not a service control policy"},
		{"missing policy", "", "", connectors.KindInvalid, "PolicyNotFoundException"},
		{"full", strings.Replace(awsExampleSCP, "KeepMe", strings.Repeat("x", 5100), 1), "", connectors.KindInvalid, "ConstraintViolationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSSO(t)
			f.seedDana()
			f.scp, f.scpType = tc.scp, tc.typ
			cfg := f.config()
			cfg.DenyPolicyID = scpID
			cfg.OrganizationsEndpoint = f.srv.URL
			c := newConn(t, cfg)
			_, err := c.Do(ctxT(t), connectors.Request{Operation: connectors.OpRevokeSessions, Subject: dana})
			wantKind(t, err, tc.kind)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

func TestParseDenyPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		ids       []string
		ok        bool
	}{
		{"AWS's example", awsExampleSCP, []string{"Add user ID here"}, true},
		{"a list", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"identitystore:userId":["a","b"]}}}]}`, []string{"a", "b"}, true},
		{"a single statement object", `{"Statement":{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"identitystore:userId":"a"}}}}`, []string{"a"}, true},
		{"not every action", `{"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"identitystore:userId":"a"}}}]}`, nil, false},
		{"another key", `{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:userid":"a"}}}]}`, nil, false},
		{"garbage", `{"Statement":`, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseDenyPolicy(tc.doc)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %t", err, tc.ok)
			}
			if err == nil && !slices.Equal(d.ids, tc.ids) {
				t.Errorf("ids %v, want %v", d.ids, tc.ids)
			}
		})
	}
}
