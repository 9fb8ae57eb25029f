package graph

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/mail"
	"strings"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/text"
)

// ---------------------------------------------------------------------------
// set_auto_reply

// autoReply is Graph's automaticRepliesSetting:
// https://learn.microsoft.com/en-us/graph/api/resources/automaticrepliessetting
type autoReply struct {
	Status               string `json:"status"`
	ExternalAudience     string `json:"externalAudience"`
	InternalReplyMessage string `json:"internalReplyMessage"`
	ExternalReplyMessage string `json:"externalReplyMessage"`
}

// setAutoReply turns on automatic replies for good:
// PATCH /users/{id}/mailboxSettings {"automaticRepliesSetting": {...}}
// (https://learn.microsoft.com/en-us/graph/api/user-update-mailboxsettings)
// with status alwaysEnabled, Params["auto_reply"] as the internal message,
// Params["auto_reply_external"] (default: the same) as the external one and
// Params["external_audience"] (none, contactsOnly or all; default all). The
// current setting is read first
// (GET /users/{id}/mailboxSettings/automaticRepliesSetting), so a repeat
// changes nothing. Exchange stores the messages as HTML, so they are
// compared as text. A user without an Exchange Online mailbox is none found.
type setAutoReply struct{}

type autoReplyWant struct {
	internal, external, audience string
}

func (c *Connector) autoReplyParams(op string, req connectors.Request, required bool) (autoReplyWant, error) {
	w := autoReplyWant{
		internal: strings.TrimSpace(req.Params["auto_reply"]),
		external: strings.TrimSpace(req.Params["auto_reply_external"]),
		audience: "all",
	}
	if w.internal == "" && required {
		return w, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf(`%s needs the message in params.auto_reply`, op))
	}
	if w.external == "" {
		w.external = w.internal
	}
	if a := strings.TrimSpace(req.Params["external_audience"]); a != "" {
		switch strings.ToLower(a) {
		case "none":
			w.audience = "none"
		case "contactsonly":
			w.audience = "contactsOnly"
		case "all":
			w.audience = "all"
		default:
			return w, connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("params.external_audience %q must be none, contactsOnly or all", a))
		}
	}
	return w, nil
}

// matches reports whether cur already is what w asks for; an empty internal
// message (a Verify without parameters) checks only the status.
func (w autoReplyWant) matches(cur autoReply) bool {
	if !strings.EqualFold(cur.Status, "alwaysEnabled") {
		return false
	}
	if w.internal == "" {
		return true
	}
	if !strings.EqualFold(cur.ExternalAudience, w.audience) || !sameText(cur.InternalReplyMessage, w.internal) {
		return false
	}
	return w.audience == "none" || sameText(cur.ExternalReplyMessage, w.external)
}

func (c *Connector) readAutoReply(ctx context.Context, op, uid string) (*autoReply, error) {
	var cur autoReply
	_, err := c.call(ctx, op, apiRequest{method: http.MethodGet, path: "/users/" + seg(uid) + "/mailboxSettings/automaticRepliesSetting"}, &cur)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &cur, nil
}

func (setAutoReply) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	want, err := c.autoReplyParams(op, req, true)
	if err != nil {
		return connectors.Result{}, err
	}
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noneFound(), err
	}
	cur, err := c.readAutoReply(ctx, op, uid)
	if err != nil {
		return connectors.Result{}, err
	}
	if cur == nil {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Account: uid, Detail: "no Entra ID user or no Exchange Online mailbox"}, nil
	}
	if want.matches(*cur) {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: uid, Detail: "already done: automatic replies are on with this message"}, nil
	}
	setting := map[string]string{
		"status":               "alwaysEnabled",
		"externalAudience":     want.audience,
		"internalReplyMessage": want.internal,
		"externalReplyMessage": want.external,
	}
	_, err = c.call(ctx, op, apiRequest{method: http.MethodPatch, path: "/users/" + seg(uid) + "/mailboxSettings",
		body: map[string]any{"automaticRepliesSetting": setting}}, nil)
	if isNotFound(err) {
		return noneFound(), nil
	}
	if err != nil {
		return connectors.Result{}, err
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: uid,
		Detail: fmt.Sprintf("automatic replies on (was %s; external audience %s)", orDefault(cur.Status, "unset"), want.audience)}, nil
}

func (setAutoReply) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	want, err := c.autoReplyParams(op, req, false)
	if err != nil {
		return connectors.Verification{}, err
	}
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noAccount(), err
	}
	cur, err := c.readAutoReply(ctx, op, uid)
	if err != nil || cur == nil {
		return noAccount(), err
	}
	ok := want.matches(*cur)
	detail := fmt.Sprintf("automatic replies status=%s audience=%s", orDefault(cur.Status, "unset"), orDefault(cur.ExternalAudience, "unset"))
	if want.internal != "" {
		detail += fmt.Sprintf(" message matches=%t", ok)
	}
	return connectors.Verification{OK: ok, Detail: detail}, nil
}

// sameText compares two messages as text: Exchange wraps a plain message in
// HTML (<html><body>…), so tags are dropped, entities decoded and white space
// collapsed on both sides.
func sameText(a, b string) bool { return plainText(a) == plainText(b) }

func plainText(s string) string {
	var b strings.Builder
	inTag := false
	for _, r := range s {
		switch {
		case r == '<':
			inTag = true
			b.WriteByte(' ')
		case r == '>' && inTag:
			inTag = false
		case !inTag:
			b.WriteRune(r)
		}
	}
	return strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ---------------------------------------------------------------------------
// set_forwarding, remove_forwarding

// ForwardingRuleName is the display name of the inbox rule set_forwarding
// creates and remove_forwarding deletes.
const ForwardingRuleName = "Kinetic offboarding forward"

// mailboxSettings has no forwarding setting (forwardingSmtpAddress is an
// Exchange mailbox property Graph does not expose), so forwarding is an
// inbox rule with a forwardTo action, applied to every message (no
// conditions): POST /users/{id}/mailFolders/inbox/messageRules
// (https://learn.microsoft.com/en-us/graph/api/mailfolder-post-messagerules).
// Forwarding to an external address is also subject to the tenant's outbound
// spam policy, which blocks automatic external forwarding by default.

type messageRule struct {
	ID          string      `json:"id"`
	DisplayName string      `json:"displayName"`
	IsEnabled   bool        `json:"isEnabled"`
	Actions     ruleActions `json:"actions"`
}

type ruleActions struct {
	ForwardTo             []recipient `json:"forwardTo"`
	ForwardAsAttachmentTo []recipient `json:"forwardAsAttachmentTo"`
	RedirectTo            []recipient `json:"redirectTo"`
}

type recipient struct {
	EmailAddress struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddress"`
}

// forwardsTo lists every address the rule sends mail on to.
func (r messageRule) forwardsTo() []string {
	var out []string
	for _, l := range [][]recipient{r.Actions.ForwardTo, r.Actions.ForwardAsAttachmentTo, r.Actions.RedirectTo} {
		for _, x := range l {
			out = append(out, x.EmailAddress.Address)
		}
	}
	return out
}

func (c *Connector) inboxRules(ctx context.Context, op, uid string) ([]messageRule, error) {
	return list[messageRule](ctx, c, op, apiRequest{method: http.MethodGet, path: "/users/" + seg(uid) + "/mailFolders/inbox/messageRules"})
}

func rulesPath(uid string) string { return "/users/" + seg(uid) + "/mailFolders/inbox/messageRules" }

// otherForwards describes inbox rules, other than ours, that send mail on: a
// departing user's own forwarding rule is worth a look by the security team.
func otherForwards(rules []messageRule) string {
	var s []string
	for _, r := range rules {
		if r.DisplayName == ForwardingRuleName {
			continue
		}
		if to := r.forwardsTo(); len(to) > 0 {
			s = append(s, fmt.Sprintf("%q -> %s", r.DisplayName, strings.Join(to, ", ")))
		}
	}
	if len(s) == 0 {
		return ""
	}
	return fmt.Sprintf("note: %d other inbox %s forward mail: %s", len(s), text.Plural(len(s), "rule"), strings.Join(s, "; "))
}

// setForwarding forwards the user's incoming mail to Params["forward_to"]
// with the inbox rule ForwardingRuleName: created when missing, corrected
// (PATCH) when it is disabled or forwards elsewhere, left alone when it
// already forwards there.
type setForwarding struct{}

func (c *Connector) forwardTo(op string, req connectors.Request, required bool) (string, error) {
	raw := strings.TrimSpace(req.Params["forward_to"])
	if raw == "" {
		if required {
			return "", connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("%s needs the address in params.forward_to", op))
		}
		return "", nil
	}
	a, err := mail.ParseAddress(raw)
	if err != nil {
		return "", connectors.NewError(connectors.KindInvalid, c.name, op, fmt.Errorf("params.forward_to %q is not an email address", raw))
	}
	return a.Address, nil
}

func ourRule(rules []messageRule) *messageRule {
	for i := range rules {
		if rules[i].DisplayName == ForwardingRuleName {
			return &rules[i]
		}
	}
	return nil
}

func forwardsOnlyTo(r *messageRule, addr string) bool {
	to := r.forwardsTo()
	return r.IsEnabled && len(to) == 1 && strings.EqualFold(to[0], addr)
}

func (setForwarding) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	addr, err := c.forwardTo(op, req, true)
	if err != nil {
		return connectors.Result{}, err
	}
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noneFound(), err
	}
	rules, err := c.inboxRules(ctx, op, uid)
	if isNotFound(err) {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Account: uid, Detail: "no Entra ID user or no Exchange Online mailbox"}, nil
	}
	if err != nil {
		return connectors.Result{}, err
	}
	data := map[string]string{"forward_to": addr}
	actions := map[string]any{"forwardTo": []any{map[string]any{"emailAddress": map[string]string{"address": addr}}}}
	existing := ourRule(rules)
	switch {
	case existing != nil && forwardsOnlyTo(existing, addr):
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: uid,
			Detail: joinDetail("already done: mail is forwarded to "+addr, otherForwards(rules))}, nil
	case existing != nil:
		_, err = c.call(ctx, op, apiRequest{method: http.MethodPatch, path: rulesPath(uid) + "/" + seg(existing.ID),
			body: map[string]any{"isEnabled": true, "actions": actions}}, nil)
		data["rule_id"] = existing.ID
	default:
		var created messageRule
		_, err = c.call(ctx, op, apiRequest{method: http.MethodPost, path: rulesPath(uid), body: map[string]any{
			"displayName": ForwardingRuleName,
			"sequence":    1,
			"isEnabled":   true,
			"actions":     actions,
		}}, &created)
		if created.ID != "" {
			data["rule_id"] = created.ID
		}
	}
	if isNotFound(err) {
		return noneFound(), nil
	}
	if err != nil {
		return connectors.Result{}, err
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: uid,
		Detail: joinDetail(fmt.Sprintf("mail forwarded to %s (inbox rule %q)", addr, ForwardingRuleName), otherForwards(rules)),
		Data:   data}, nil
}

func (setForwarding) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	addr, err := c.forwardTo(op, req, false)
	if err != nil {
		return connectors.Verification{}, err
	}
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noAccount(), err
	}
	rules, err := c.inboxRules(ctx, op, uid)
	if isNotFound(err) {
		return noAccount(), nil
	}
	if err != nil {
		return connectors.Verification{}, err
	}
	r := ourRule(rules)
	switch {
	case r == nil:
		return connectors.Verification{Detail: fmt.Sprintf("no inbox rule %q", ForwardingRuleName)}, nil
	case addr == "":
		return connectors.Verification{OK: r.IsEnabled && len(r.forwardsTo()) > 0,
			Detail: fmt.Sprintf("inbox rule %q enabled=%t forwards to %s", ForwardingRuleName, r.IsEnabled, strings.Join(r.forwardsTo(), ", "))}, nil
	}
	return connectors.Verification{OK: forwardsOnlyTo(r, addr),
		Detail: fmt.Sprintf("inbox rule %q enabled=%t forwards to %s", ForwardingRuleName, r.IsEnabled, strings.Join(r.forwardsTo(), ", "))}, nil
}

// removeForwarding deletes the inbox rule ForwardingRuleName
// (DELETE /users/{id}/mailFolders/inbox/messageRules/{ruleId}), for example
// when an approved forwarding period ends. Rules the user made are left
// alone but reported when they forward mail.
type removeForwarding struct{}

func (removeForwarding) do(ctx context.Context, c *Connector, req connectors.Request) (connectors.Result, error) {
	op := string(req.Operation)
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noneFound(), err
	}
	rules, err := c.inboxRules(ctx, op, uid)
	if isNotFound(err) {
		return connectors.Result{Outcome: connectors.OutcomeNoneFound, Account: uid, Detail: "no Entra ID user or no Exchange Online mailbox"}, nil
	}
	if err != nil {
		return connectors.Result{}, err
	}
	var removed []string
	for _, r := range rules {
		if r.DisplayName != ForwardingRuleName {
			continue
		}
		_, err := c.call(ctx, op, apiRequest{method: http.MethodDelete, path: rulesPath(uid) + "/" + seg(r.ID)}, nil)
		if err != nil && !isNotFound(err) {
			return connectors.Result{}, err
		}
		removed = append(removed, r.ID)
	}
	if len(removed) == 0 {
		return connectors.Result{Outcome: connectors.OutcomeAlreadyDone, Account: uid,
			Detail: joinDetail(fmt.Sprintf("already done: no inbox rule %q", ForwardingRuleName), otherForwards(rules))}, nil
	}
	return connectors.Result{Outcome: connectors.OutcomeDone, Account: uid,
		Detail: joinDetail(fmt.Sprintf("forwarding removed (inbox rule %q deleted)", ForwardingRuleName), otherForwards(rules)),
		Data:   map[string]string{"removed_rules": strings.Join(removed, ",")}}, nil
}

func (removeForwarding) verify(ctx context.Context, c *Connector, req connectors.Request) (connectors.Verification, error) {
	op := "verify " + string(req.Operation)
	uid, err := c.userID(ctx, op, req)
	if err != nil || uid == "" {
		return noAccount(), err
	}
	rules, err := c.inboxRules(ctx, op, uid)
	if isNotFound(err) {
		return noAccount(), nil
	}
	if err != nil {
		return connectors.Verification{}, err
	}
	if ourRule(rules) != nil {
		return connectors.Verification{Detail: fmt.Sprintf("inbox rule %q still exists", ForwardingRuleName)}, nil
	}
	return connectors.Verification{OK: true, Detail: joinDetail(fmt.Sprintf("no inbox rule %q", ForwardingRuleName), otherForwards(rules))}, nil
}
