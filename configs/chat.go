package configs

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/slackcheck"
)

// Chat configures the chat front ends: Slack (chat.slack) and Microsoft
// Teams (chat.teams), either or both.
//
// configs parses, defaults and validates these blocks; it builds nothing:
// the composition (internal/app) maps chat.slack onto the Slack front end's
// own configuration (bot/slackbot.Config), so this package does not import
// the Slack code.
type Chat struct {
	// Slack configures the Slack front end (docs/slack.md). Absent: Slack
	// is configured by the KINETIC_SLACK_* variables alone, or not at all.
	Slack *SlackChat `yaml:"slack"`
	// Teams configures the Microsoft Teams front end (bot/teamsapp,
	// docs/teams.md). Absent: no Teams.
	Teams *TeamsChat `yaml:"teams"`
	// Email configures the email channel of the routing model
	// (chat_email.go): routing.NAME.email routes are sent through it.
	Email *EmailChat `yaml:"email"`
}

// TeamsChat is the chat.teams block: the bot's Entra app registration and
// the conversations Kinetic posts in.
type TeamsChat struct {
	// AppID is the bot's Microsoft app id (a GUID). Required.
	AppID string `yaml:"app_id"`
	// AppPassword is the app registration's client secret. Required
	// unless the app authenticates with a certificate (Certificate and
	// PrivateKey); one of the two ways, not both.
	AppPassword secret.Secret `yaml:"app_password"`
	// Certificate is the path of the PEM certificate uploaded to the app
	// registration (relative to the service file's directory), and
	// PrivateKey its PEM private key ({file: PATH} or {env: NAME}, RSA,
	// unencrypted): the bot then proves itself with a signed client
	// assertion instead of a secret (docs/teams.md), for the Bot
	// Connector's token and Graph's. The composition reads and pairs them.
	Certificate string        `yaml:"certificate"`
	PrivateKey  secret.Secret `yaml:"private_key"`
	// TenantID makes the bot single-tenant: its tokens come from this
	// tenant and Entra-issued tokens of the tenant are accepted.
	TenantID string `yaml:"tenant_id"`
	// ServiceURL is the Bot Connector service of proactive messages
	// (status cards, DMs); default DefaultTeamsServiceURL.
	ServiceURL string `yaml:"service_url"`
	// OffboardingConversation is the conversation id (19:…) of the status
	// cards' channel; AlertsConversation that of alerts.
	OffboardingConversation string `yaml:"offboarding_conversation"`
	AlertsConversation      string `yaml:"alerts_conversation"`
	// OpenIDMetadataURL and EntraMetadataURL override the Bot Framework's
	// and the tenant's OpenID metadata (sovereign clouds, tests);
	// TokenURL the client-credentials token endpoint.
	OpenIDMetadataURL string `yaml:"openid_metadata_url"`
	EntraMetadataURL  string `yaml:"entra_metadata_url"`
	TokenURL          string `yaml:"token_url"`
	// Graph lets the front end read Microsoft Graph with the same app
	// registration (application permissions User.Read.All and
	// GroupMember.Read.All, granted by an admin): Teams users whose HR
	// record has no chat_user_id are mapped by their email, and
	// approver_groups may name Entra groups (entra:OBJECT_ID). Absent: no
	// Graph calls; requires tenant_id.
	Graph *TeamsGraph `yaml:"graph"`
}

// TeamsGraph is the chat.teams.graph block.
type TeamsGraph struct {
	// URL is Graph's versioned root; default DefaultGraphURL (national
	// clouds have their own).
	URL string `yaml:"url"`
	// TokenURL defaults to the tenant's v2.0 token endpoint.
	TokenURL string `yaml:"token_url"`
	// GroupRefresh is how often the members of Entra approver groups are
	// read again; default 5m. Until a group's first read succeeds it has
	// no members (nobody decides through it); a failed read keeps the
	// last members.
	GroupRefresh Duration `yaml:"group_refresh"`
}

// DefaultGraphURL is chat.teams.graph.url's default.
const DefaultGraphURL = "https://graph.microsoft.com/v1.0"

// DefaultGroupRefresh is chat.teams.graph.group_refresh's default.
const DefaultGroupRefresh = 5 * time.Minute

// EntraGroupPrefix marks an approver_groups entry that names an Entra ID
// (Teams) group by object id ("entra:6f1c…"): its users, nested groups
// included, mapped to HR records, belong to the approver group. The
// Teams front end keeps them (chat.teams.graph, docs/teams.md).
const EntraGroupPrefix = "entra:"

// DefaultTeamsServiceURL is chat.teams.service_url's default: the Teams
// service of the public cloud (a region-specific one such as
// https://smba.trafficmanager.net/emea/ also works).
const DefaultTeamsServiceURL = "https://smba.trafficmanager.net/teams/"

// pemCertificate reports whether b holds a PEM CERTIFICATE block.
func pemCertificate(b []byte) bool {
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return false
		}
		if blk.Type == "CERTIFICATE" {
			return true
		}
	}
}

// resolveFiles makes a relative certificate path relative to baseDir,
// the service file's directory.
func (c *TeamsChat) resolveFiles(baseDir string) {
	if c == nil || c.Certificate == "" || baseDir == "" || filepath.IsAbs(c.Certificate) {
		return
	}
	c.Certificate = filepath.Join(baseDir, c.Certificate)
}

func (c *TeamsChat) applyDefaults() {
	if c == nil {
		return
	}
	if c.ServiceURL == "" {
		c.ServiceURL = DefaultTeamsServiceURL
	}
	if g := c.Graph; g != nil {
		if g.URL == "" {
			g.URL = DefaultGraphURL
		}
		if g.GroupRefresh.D() == 0 {
			g.GroupRefresh = Duration(DefaultGroupRefresh)
		}
	}
}

// guid reports whether s is a GUID (8-4-4-4-12 hex digits).
func guid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// MaxTeamsConversationID bounds a configured Teams conversation id: the
// width of store.ChatMessage.Channel, where posted cards are recorded.
const MaxTeamsConversationID = 512

func (c *TeamsChat) validate(d *doc) {
	if c == nil {
		return
	}
	const p = "chat.teams."
	if !guid(strings.TrimSpace(c.AppID)) {
		d.add(p+"app_id", "required: the bot's Microsoft app id (a GUID)")
	}
	cert := c.Certificate != "" || c.PrivateKey.IsSet()
	switch {
	case !c.AppPassword.IsSet() && !cert:
		d.add(p+"app_password", "required: the app registration's client secret ({env: NAME} or {file: PATH}), or certificate and private_key")
	case c.AppPassword.IsSet() && cert:
		d.add(p+"app_password", "give the client secret or a certificate (certificate and private_key), not both")
	case cert && c.Certificate == "":
		d.add(p+"private_key", "needs chat.teams.certificate: the PEM certificate uploaded to the app registration")
	case cert && !c.PrivateKey.IsSet():
		d.add(p+"certificate", "needs chat.teams.private_key: the certificate's PEM private key ({file: PATH} or {env: NAME})")
	}
	if c.Certificate != "" {
		// Read here so `kinetic config validate` names a missing or wrong
		// file; the composition pairs it with its key (bot/teams/appcred).
		if b, err := os.ReadFile(c.Certificate); err != nil {
			d.add(p+"certificate", "cannot be read: %v", err)
		} else if !pemCertificate(b) {
			d.add(p+"certificate", "%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", c.Certificate)
		}
	}
	if c.TenantID != "" && !guid(c.TenantID) {
		d.add(p+"tenant_id", "must be the tenant's id (a GUID)")
	}
	for _, u := range []struct{ key, url string }{
		{"service_url", c.ServiceURL}, {"openid_metadata_url", c.OpenIDMetadataURL},
		{"entra_metadata_url", c.EntraMetadataURL}, {"token_url", c.TokenURL},
	} {
		if u.url != "" && !strings.HasPrefix(u.url, "https://") {
			d.add(p+u.key, "must be an https:// URL")
		}
	}
	if g := c.Graph; g != nil {
		if c.TenantID == "" {
			d.add(p+"graph", "needs chat.teams.tenant_id: an app's Graph token is issued by its tenant")
		}
		for _, u := range []struct{ key, url string }{{"url", g.URL}, {"token_url", g.TokenURL}} {
			if u.url != "" && !strings.HasPrefix(u.url, "https://") {
				d.add(p+"graph."+u.key, "must be an https:// URL")
			}
		}
		if g.GroupRefresh.D() < 0 {
			d.add(p+"graph.group_refresh", "must not be negative")
		}
	}
	for _, conv := range []struct{ key, id string }{
		{"offboarding_conversation", c.OffboardingConversation}, {"alerts_conversation", c.AlertsConversation},
	} {
		if conv.id != "" && (strings.ContainsAny(conv.id, " \t\n/?#") || len(conv.id) > MaxTeamsConversationID) {
			d.add(p+conv.key, "must be a Teams conversation id (19:…@thread.tacv2), at most %d characters", MaxTeamsConversationID)
		}
	}
}

// SlackChat is the chat.slack block. Its keys are those of
// bot/slackbot.Config; each KINETIC_SLACK_* variable, when set, overrides
// its key (EnvSlack).
type SlackChat struct {
	// BotToken (xoxb-…) authenticates Web API calls. Required.
	BotToken secret.Secret `yaml:"bot_token"`
	// SigningSecret verifies HTTP requests from Slack (http mode).
	SigningSecret secret.Secret `yaml:"signing_secret"`
	// AppToken (xapp-…) opens Socket Mode connections (socket mode).
	AppToken secret.Secret `yaml:"app_token"`
	// APIURL is the Web API base URL; default https://slack.com/api/.
	APIURL string `yaml:"api_url"`
	// Mode is "http" or "socket"; default socket when only app_token is
	// set, else http.
	Mode string `yaml:"mode"`
	// OffboardingChannel is the status cards' channel ID (C…).
	OffboardingChannel string `yaml:"offboarding_channel"`
	// AlertsChannel is the alerts channel's ID (C…): an older way to give
	// the route of alerts.security_channel (routing.NAME.slack.channel,
	// routing.go), which is the alerts channel. When both are set they
	// must agree.
	AlertsChannel string `yaml:"alerts_channel"`
}

// Slack modes (chat.slack.mode), as bot/slackbot's (internal/slackcheck).
const (
	SlackModeHTTP   = slackcheck.ModeHTTP
	SlackModeSocket = slackcheck.ModeSocket
)

// DefaultSlackAPIURL is chat.slack.api_url's default.
const DefaultSlackAPIURL = slackcheck.DefaultAPIURL

// EnvSlack maps each chat.slack key to the variable that overrides it (the
// names bot/slackbot reads for an environment-only configuration:
// slackcheck.EnvNames).
var EnvSlack = slackcheck.EnvNames

// applyEnv overrides the block's keys with the KINETIC_SLACK_* variables
// that are set. Without a chat.slack block nothing happens: the Slack front
// end then reads the variables itself, as it always has.
func (c *SlackChat) applyEnv(env func(string) (string, bool)) {
	if c == nil {
		return
	}
	get := func(key string) (string, bool) {
		v, ok := env(EnvSlack[key])
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}
	for key, p := range map[string]*secret.Secret{"bot_token": &c.BotToken, "signing_secret": &c.SigningSecret, "app_token": &c.AppToken} {
		if v, ok := get(key); ok {
			*p = secret.FromValue(v)
		}
	}
	for key, p := range map[string]*string{"api_url": &c.APIURL, "mode": &c.Mode, "offboarding_channel": &c.OffboardingChannel, "alerts_channel": &c.AlertsChannel} {
		if v, ok := get(key); ok {
			*p = v
		}
	}
}

// applyDefaults infers the mode as the environment-only configuration does.
// It runs after the environment overrides.
func (c *SlackChat) applyDefaults() {
	if c == nil || c.Mode != "" {
		return
	}
	c.Mode = slackcheck.InferMode(c.AppToken.IsSet(), c.SigningSecret.IsSet())
}

// validate checks the chat block; the Web API URL's destination is checked
// against the outbound policy by checkChatURLs.
func (ch *Chat) validate(d *doc) {
	ch.Teams.validate(d)
	ch.Email.validate(d)
	c := ch.Slack
	if c == nil {
		return
	}
	const p = "chat.slack."
	if err := slackcheck.Mode(c.Mode); err != nil {
		d.add(p+"mode", "%v", err)
	}
	if !c.BotToken.IsSet() {
		d.add(p+"bot_token", "required ({env: NAME} or {file: PATH}, or set %s)", EnvSlack["bot_token"])
	}
	if c.Mode == SlackModeHTTP && !c.SigningSecret.IsSet() {
		d.add(p+"signing_secret", "required in http mode ({env: NAME} or {file: PATH}, or set %s)", EnvSlack["signing_secret"])
	}
	if c.Mode == SlackModeSocket && !c.AppToken.IsSet() {
		d.add(p+"app_token", "required in socket mode: an app-level token with connections:write ({env: NAME} or {file: PATH}, or set %s)", EnvSlack["app_token"])
	}
	if c.APIURL != "" {
		// Messages never repeat the URL: its user info may hold a token.
		if err := slackcheck.APIURL("api_url", c.APIURL); err != nil {
			d.add(p+"api_url", "%v", err)
		}
	}
	for _, ch := range []struct{ key, id string }{
		{"offboarding_channel", c.OffboardingChannel},
		{"alerts_channel", c.AlertsChannel},
	} {
		if err := slackcheck.ChannelID(ch.id); err != nil {
			d.add(p+ch.key, "%v", err)
		}
	}
}
