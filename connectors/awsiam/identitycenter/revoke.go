package identitycenter

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/kineticsec/kinetic/connectors"
)

// revoke_sessions ends the role sessions a person already holds through
// permission sets, which deleting assignments does not (they last until
// the permission set's session duration ends). AWS's documented way is a
// service control policy, prepared in advance and attached to the
// accounts, that denies every action when identitystore:userId is one of
// a list; revoking a person adds their identity store user id to the list
// (organizations:DescribePolicy, UpdatePolicy) and reads it back. Other
// users of the same permission sets are not affected.
// https://docs.aws.amazon.com/singlesignon/latest/userguide/prereqs-revoking-user-permissions.html
// https://docs.aws.amazon.com/singlesignon/latest/userguide/revoke-user-permissions.html
//
// Organizations has no conditional update: two writers can race. Updates
// from this process are serialised, the id is read back after each write
// (and written again, up to three times, if another writer dropped it),
// and Verify reads the policy again.

// userIDKey is the condition key the deny statement matches.
const userIDKey = "identitystore:userId"

// placeholder is the value AWS's example policy carries before any user is
// added; it is dropped when the first id goes in.
const placeholder = "Add user ID here"

// scpIDRe is an Organizations policy id.
var scpIDRe = regexp.MustCompile(`^p-[0-9a-zA-Z_]{8,128}$`)

// denyList is the parsed SCP and the list of user ids its deny statement
// names.
type denyList struct {
	doc  map[string]any
	cond map[string]any // the StringEquals block holding userIDKey
	ids  []string
}

// parseDenyPolicy finds, in an SCP's content, the Deny statement on every
// action conditioned on StringEquals identitystore:userId.
func parseDenyPolicy(content string) (*denyList, error) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(content), &doc); err != nil {
		return nil, fmt.Errorf("the policy is not JSON: %v", err)
	}
	var stmts []any
	switch st := doc["Statement"].(type) {
	case []any:
		stmts = st
	case map[string]any:
		stmts = []any{st}
		doc["Statement"] = stmts
	}
	for _, raw := range stmts {
		st, ok := raw.(map[string]any)
		if !ok || st["Effect"] != "Deny" || !hasStar(st["Action"]) {
			continue
		}
		cond, _ := st["Condition"].(map[string]any)
		eq, _ := cond["StringEquals"].(map[string]any)
		if eq == nil {
			continue
		}
		v, ok := eq[userIDKey]
		if !ok {
			continue
		}
		var ids []string
		switch x := v.(type) {
		case string:
			ids = []string{x}
		case []any:
			for _, e := range x {
				if s, ok := e.(string); ok {
					ids = append(ids, s)
				}
			}
		}
		return &denyList{doc: doc, cond: eq, ids: ids}, nil
	}
	return nil, fmt.Errorf("no Deny statement on every action with a StringEquals condition on %s", userIDKey)
}

func hasStar(v any) bool {
	switch x := v.(type) {
	case string:
		return x == "*"
	case []any:
		return slices.Contains(x, any("*"))
	}
	return false
}

// add puts id in the list (dropping AWS's placeholder) and returns the
// new content, compact to stay within the SCP size limit.
func (d *denyList) add(id string) string {
	ids := slices.DeleteFunc(slices.Clone(d.ids), func(s string) bool { return s == placeholder })
	ids = append(ids, id)
	d.cond[userIDKey] = ids
	b, _ := json.Marshal(d.doc)
	return string(b)
}

// readDenyList reads the configured SCP and its deny list.
func (c *Connector) readDenyList(ctx context.Context, op string) (*denyList, error) {
	out, err := c.org.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String(c.cfg.DenyPolicyID)})
	if err != nil {
		return nil, c.classify(op, "reading service control policy "+c.cfg.DenyPolicyID, err)
	}
	if out.Policy == nil {
		return nil, connectors.NewError(connectors.KindTransient, c.name, op, fmt.Errorf("Identity Center: DescribePolicy %s answered no policy", c.cfg.DenyPolicyID))
	}
	if s := out.Policy.PolicySummary; s != nil && s.Type != "" && s.Type != orgtypes.PolicyTypeServiceControlPolicy {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("Identity Center: policy %s is a %s, not a service control policy", c.cfg.DenyPolicyID, s.Type))
	}
	d, err := parseDenyPolicy(aws.ToString(out.Policy.Content))
	if err != nil {
		return nil, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("Identity Center: service control policy %s: %w", c.cfg.DenyPolicyID, err))
	}
	return d, nil
}

// revokeSessions adds the user's id to the deny policy, reading it back.
func (c *Connector) revokeSessions(ctx context.Context, op string, u user) (outcome, bool) {
	var o outcome
	c.scpMu.Lock()
	defer c.scpMu.Unlock()
	for attempt := 0; attempt < 3; attempt++ {
		d, err := c.readDenyList(ctx, op)
		if err != nil {
			o.errs = append(o.errs, err)
			return o, false
		}
		if slices.Contains(d.ids, u.id) {
			if attempt == 0 {
				o.parts = append(o.parts, "role sessions already denied by service control policy "+c.cfg.DenyPolicyID)
			} else {
				o.changed = true
				o.parts = append(o.parts, "role sessions denied by service control policy "+c.cfg.DenyPolicyID)
				o.set("deny_policy", []string{c.cfg.DenyPolicyID})
			}
			return o, false
		}
		if attempt > 0 {
			c.log.WithField("policy", c.cfg.DenyPolicyID).Warn("user id missing from the deny policy after writing it (a concurrent update); writing again")
		}
		_, err = c.org.UpdatePolicy(ctx, &organizations.UpdatePolicyInput{PolicyId: aws.String(c.cfg.DenyPolicyID), Content: aws.String(d.add(u.id))})
		if err != nil {
			o.errs = append(o.errs, c.classify(op, "updating service control policy "+c.cfg.DenyPolicyID, err))
			return o, false
		}
	}
	o.errs = append(o.errs, connectors.NewError(connectors.KindTransient, c.name, op,
		fmt.Errorf("Identity Center: user %s does not read back in service control policy %s after 3 writes (concurrent updates)", u.name, c.cfg.DenyPolicyID)))
	return o, false
}
