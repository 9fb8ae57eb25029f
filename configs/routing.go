package configs

import (
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"

	"github.com/kineticsec/kinetic/internal/slackcheck"
)

// Route is one routing.NAME block: where the notifications the engine
// addresses to channel:NAME reach people, per chat platform. NAME is a
// connector's owner (its owning team, told at escalation level "owner")
// or alerts.security_channel (escalation level "security_alerts",
// breaches, officer notices). A Microsoft Teams front end takes its block
// at routing.NAME.teams, beside slack; the resolution of a target into
// channels, user groups and people (internal/routing) is shared.
type Route struct {
	// Slack is where NAME reaches people in Slack.
	Slack *SlackRoute `yaml:"slack"`
	// Teams is where NAME reaches people in Microsoft Teams.
	Teams *TeamsRoute `yaml:"teams"`
	// Email is where NAME reaches people by email (chat.email sends it):
	// the same texts as the chat cards, for people with no chat account.
	Email *EmailRoute `yaml:"email"`
}

// EmailRoute is a routing.NAME.email block.
type EmailRoute struct {
	// To are the addresses sent each notification (at least one).
	To []string `yaml:"to"`
}

// TeamsRoute is a routing.NAME.teams block. At least one key is set.
type TeamsRoute struct {
	// Conversation is a Teams channel's conversation id
	// (19:…@thread.tacv2) to post in. The security channel's route is the
	// alerts conversation (the same setting as
	// chat.teams.alerts_conversation, which may give it instead).
	Conversation string `yaml:"conversation"`
	// People are HR ids sent a direct message each (a 1:1 conversation).
	People []string `yaml:"people"`
}

// validTeamsConversation reports whether s has the form of a Teams
// channel conversation id: "19:" then no spaces or URL delimiters, at
// most MaxTeamsConversationID characters.
func validTeamsConversation(s string) bool {
	return strings.HasPrefix(s, "19:") && len(s) > 3 && len(s) <= MaxTeamsConversationID && !strings.ContainsAny(s, " \t\n/?#")
}

func validHRIDs(d *doc, key string, people []string) {
	for i, p := range people {
		if strings.TrimSpace(p) == "" || strings.ContainsAny(p, ": \t") {
			d.add(fmt.Sprintf("%s[%d]", key, i), "%q is not an HR employee id", p)
		}
	}
}

// SlackRoute is a routing.NAME.slack block. At least one key is set.
type SlackRoute struct {
	// Channel is a Slack channel ID (C…, G…) to post in. The security
	// channel's route is the alerts channel (the same setting as
	// chat.slack.alerts_channel, which may give it instead).
	Channel string `yaml:"channel"`
	// UserGroup is a Slack user group ID (S…): mentioned in Channel's post
	// (Slack notifies its members), or, without a channel, each member is
	// sent a direct message.
	UserGroup string `yaml:"user_group"`
	// People are HR ids sent a direct message each.
	People []string `yaml:"people"`
}

// RouteName is the routing name a connector's owner refers to: the owner
// as written, without a "channel:" prefix.
func RouteName(owner string) string { return strings.TrimPrefix(owner, "channel:") }

// validateRouting checks the routing block: each route has a known name
// form and valid Slack ids; and, when the block is written at all, every
// connector owner has a route (an owning team that no message reaches is
// a configuration mistake, not something to find out when an action is
// stuck). Without a routing block, owners' and the security channel's
// notifications go to the Slack alerts channel, as they always did, and
// the message says that the team has no route. The security channel's
// route and chat.slack.alerts_channel must agree when both are set.
func (s *Service) validateRouting(d *doc) {
	for _, name := range slices.Sorted(maps.Keys(s.Routing)) {
		key := joinKey("routing", name)
		r := s.Routing[name]
		if !nameRE.MatchString(name) {
			d.add(key, "%q is not a team or channel name (letters, digits, '-', '_', '.')", name)
		}
		if r == nil || (r.Slack == nil && r.Teams == nil && r.Email == nil) {
			d.add(key, "a route needs a slack block (channel, user_group or people), a teams block (conversation or people) or an email block (to)")
			continue
		}
		if er := r.Email; er != nil {
			if len(er.To) == 0 {
				d.add(key+".email.to", "at least one address")
			}
			for i, a := range er.To {
				if _, err := mail.ParseAddress(a); err != nil {
					d.add(fmt.Sprintf("%s.email.to[%d]", key, i), "not an email address: %v", err)
				}
			}
			if s.Chat.Email == nil {
				d.add(key+".email", "an email route needs chat.email (the SMTP server it is sent through)")
			}
		}
		if tr := r.Teams; tr != nil {
			if tr.Conversation == "" && len(tr.People) == 0 {
				d.add(key+".teams", "set conversation or people")
			}
			if tr.Conversation != "" && !validTeamsConversation(tr.Conversation) {
				d.add(key+".teams.conversation", "%q is not a Teams channel conversation id (19:…@thread.tacv2, at most %d characters)", tr.Conversation, MaxTeamsConversationID)
			}
			validHRIDs(d, key+".teams.people", tr.People)
		}
		sr := r.Slack
		if sr == nil {
			continue
		}
		if sr.Channel == "" && sr.UserGroup == "" && len(sr.People) == 0 {
			d.add(key+".slack", "set channel, user_group or people")
		}
		if err := slackcheck.ChannelID(sr.Channel); err != nil {
			d.add(key+".slack.channel", "%v", err)
		}
		if sr.UserGroup != "" && !validSlackGroupID(sr.UserGroup) {
			d.add(key+".slack.user_group", "%q is not a Slack user group id (S followed by upper-case letters and digits, e.g. S0123ABCD)", sr.UserGroup)
		}
		validHRIDs(d, key+".slack.people", sr.People)
	}
	sec := s.Alerts.SecurityChannel
	if len(s.Routing) > 0 {
		for _, name := range slices.Sorted(maps.Keys(s.Connectors)) {
			ci := s.Connectors[name]
			if ci == nil || ci.Owner == "" {
				continue
			}
			if _, ok := s.Routing[RouteName(ci.Owner)]; !ok {
				d.add(joinKey("connectors", name)+".owner", "team %q has no route: add routing.%s (slack: its channel, user group or people; teams: its conversation or people)", RouteName(ci.Owner), RouteName(ci.Owner))
			}
		}
	}
	if c := s.Chat.Slack; c != nil && c.AlertsChannel != "" && sec != "" {
		if r := s.Routing[sec]; r != nil && r.Slack != nil && r.Slack.Channel != "" && r.Slack.Channel != c.AlertsChannel {
			d.add("chat.slack.alerts_channel", "%s disagrees with routing.%s.slack.channel (%s): both name the alerts channel; set one (or %s)",
				c.AlertsChannel, sec, r.Slack.Channel, EnvSlack["alerts_channel"])
		}
	}
	if c := s.Chat.Teams; c != nil && c.AlertsConversation != "" && sec != "" {
		if r := s.Routing[sec]; r != nil && r.Teams != nil && r.Teams.Conversation != "" && r.Teams.Conversation != c.AlertsConversation {
			d.add("chat.teams.alerts_conversation", "%s disagrees with routing.%s.teams.conversation (%s): both name the alerts conversation; set one",
				c.AlertsConversation, sec, r.Teams.Conversation)
		}
	}
}
