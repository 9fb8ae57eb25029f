package configs

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChatSlackEnvOverrides: KINETIC_SLACK_* override the keys of a
// chat.slack block, and the mode is inferred after they apply (socket when
// only an app token is set).
func TestChatSlackEnvOverrides(t *testing.T) {
	data := []byte("chat:\n  slack:\n    bot_token: {env: SLACK_BOT}\n    app_token: {env: SLACK_APP}\n    offboarding_channel: C01\n")
	env := map[string]string{EnvSlack["offboarding_channel"]: "C02", EnvSlack["alerts_channel"]: "C03"}
	svc := &Service{}
	d := decodeStrictWith("kinetic.yaml", data, svc, nil)
	svc.applyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	svc.Chat.Slack.applyDefaults()
	c := svc.Chat.Slack
	if d.errs.err() != nil || c == nil {
		t.Fatalf("decode: %v", d.errs.err())
	}
	if c.OffboardingChannel != "C02" || c.AlertsChannel != "C03" || c.Mode != SlackModeSocket {
		t.Errorf("got channel %q, alerts %q, mode %q; want C02, C03, socket", c.OffboardingChannel, c.AlertsChannel, c.Mode)
	}
}

// TestChatSlackErrorsNameKeys: a bad chat.slack block reports each problem
// at its file, line and key.
func TestChatSlackErrorsNameKeys(t *testing.T) {
	_, err := parseServiceT("kinetic.yaml", []byte("chat:\n  slack:\n    mode: pigeon\n    offboarding_channel: \"#offboarding\"\n"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`kinetic.yaml:3: chat.slack.mode: "pigeon" is not one of http, socket`,
		"kinetic.yaml:2: chat.slack.bot_token: required",
		"kinetic.yaml:4: chat.slack.offboarding_channel: \"#offboarding\" is a channel name",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestChatTeams: a chat.teams block parses with its defaults, and a bad
// one reports each problem at its file, line and key.
func TestChatTeams(t *testing.T) {
	svc := &Service{}
	d := decodeStrictWith("kinetic.yaml", []byte("chat:\n  teams:\n    app_id: 11111111-2222-3333-4444-555555555555\n    app_password: {env: TEAMS_PW}\n    offboarding_conversation: \"19:abc@thread.tacv2\"\n"), svc, nil)
	svc.Chat.Teams.applyDefaults()
	svc.Chat.validate(d)
	if err := d.errs.err(); err != nil {
		t.Fatal(err)
	}
	if c := svc.Chat.Teams; c == nil || c.ServiceURL != DefaultTeamsServiceURL || c.OffboardingConversation != "19:abc@thread.tacv2" {
		t.Fatalf("chat.teams: %+v", svc.Chat.Teams)
	}
	_, err := parseServiceT("kinetic.yaml", []byte("chat:\n  teams:\n    app_id: kinetic-bot\n    tenant_id: contoso\n    service_url: http://smba.example/\n"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"kinetic.yaml:3: chat.teams.app_id: required: the bot's Microsoft app id (a GUID)",
		"kinetic.yaml:2: chat.teams.app_password: required",
		"kinetic.yaml:4: chat.teams.tenant_id: must be the tenant's id",
		"kinetic.yaml:5: chat.teams.service_url: must be an https:// URL",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestChatTeamsGraphAndEntraGroups: chat.teams.graph takes its defaults
// and needs tenant_id and https URLs; an approver group may name an Entra
// group (entra:GUID) only when Graph is configured, and a malformed id is
// refused naming the key.
func TestChatTeamsGraphAndEntraGroups(t *testing.T) {
	const teams = "chat:\n  teams:\n    app_id: 11111111-2222-3333-4444-555555555555\n    app_password: {env: TEAMS_PW}\n"
	svc := &Service{}
	d := decodeStrictWith("kinetic.yaml", []byte(teams+"    tenant_id: 99999999-8888-7777-6666-555555555555\n    graph: {}\n"), svc, nil)
	svc.Chat.Teams.applyDefaults()
	svc.Chat.validate(d)
	if err := d.errs.err(); err != nil {
		t.Fatal(err)
	}
	if g := svc.Chat.Teams.Graph; g == nil || g.URL != DefaultGraphURL || g.GroupRefresh.D() != DefaultGroupRefresh {
		t.Fatalf("chat.teams.graph defaults: %+v", g)
	}
	_, err := parseServiceT("kinetic.yaml", []byte(teams+"    graph: {url: http://graph.example/v1.0}\n"))
	for _, want := range []string{
		"chat.teams.graph: needs chat.teams.tenant_id",
		"chat.teams.graph.url: must be an https:// URL",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = parseServiceT("kinetic.yaml", []byte("approver_groups:\n  legal: [\"entra:7d1e5c2a-4b3f-4e6d-9a8b-1c2d3e4f5a6b\", \"entra:legal-team\"]\n"))
	for _, want := range []string{
		"approver_groups.legal[0]: \"entra:7d1e5c2a-4b3f-4e6d-9a8b-1c2d3e4f5a6b\" names an Entra group, whose members are read through Microsoft Graph: configure chat.teams.graph",
		"approver_groups.legal[1]: \"entra:legal-team\" is not an Entra group object id",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestChatTeamsCertificate: chat.teams authenticates with a certificate
// (certificate and private_key) instead of app_password; half of it, or
// both ways at once, is reported at its key.
func TestChatTeamsCertificate(t *testing.T) {
	const head = "chat:\n  teams:\n    app_id: 11111111-2222-3333-4444-555555555555\n"
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	der := []byte{0x30, 0x03, 0x02, 0x01, 0x01} // the validation looks for the PEM block only
	if err := os.WriteFile(filepath.Join(dir, "certs", "teams.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	svc := &Service{}
	d := decodeStrictWith("kinetic.yaml", []byte(head+"    certificate: certs/teams.pem\n    private_key: {file: /run/secrets/teams.key}\n"), svc, nil)
	svc.Chat.Teams.applyDefaults()
	svc.Chat.Teams.resolveFiles(dir)
	svc.Chat.validate(d)
	if err := d.errs.err(); err != nil {
		t.Fatal(err)
	}
	if c := svc.Chat.Teams; c.Certificate != filepath.Join(dir, "certs", "teams.pem") || c.PrivateKey.File != "/run/secrets/teams.key" {
		t.Fatalf("chat.teams: %+v", c)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"    certificate: certs/teams.pem\n", "kinetic.yaml:4: chat.teams.certificate: needs chat.teams.private_key"},
		{"    private_key: {env: TEAMS_KEY}\n", "kinetic.yaml:4: chat.teams.private_key: needs chat.teams.certificate"},
		{"    app_password: {env: TEAMS_PW}\n    certificate: certs/teams.pem\n    private_key: {env: TEAMS_KEY}\n", "kinetic.yaml:4: chat.teams.app_password: give the client secret or a certificate"},
		{"    certificate: missing.pem\n    private_key: {env: TEAMS_KEY}\n", "kinetic.yaml:4: chat.teams.certificate: cannot be read"},
		{"    certificate: key.pem\n    private_key: {env: TEAMS_KEY}\n", "kinetic.yaml:4: chat.teams.certificate: " + filepath.Join(dir, "key.pem") + " holds no PEM certificate"},
	} {
		svc := &Service{}
		d := decodeStrictWith("kinetic.yaml", []byte(head+tc.yaml), svc, nil)
		svc.Chat.Teams.resolveFiles(dir)
		svc.Chat.validate(d)
		if err := d.errs.err(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
