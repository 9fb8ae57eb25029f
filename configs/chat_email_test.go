package configs

import (
	"strings"
	"testing"
)

// routing.NAME.email reaches an HR partner with no chat account; it needs
// chat.email, whose keys are checked where they are written.
func TestEmailRoutesAndChatEmail(t *testing.T) {
	clearEnv(t)
	svc, err := parseServiceT("kinetic.yaml", []byte(`redis: {embedded: true}
policy: p.yaml
alerts: {security_channel: security-alerts}
chat:
  email:
    host: smtp.corp.example
    from: "Kinetic <kinetic@corp.example>"
routing:
  security-alerts: {slack: {channel: C0SEC}}
  hr-partners: {email: {to: [hrbp@corp.example]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if r := svc.Routing["hr-partners"]; r == nil || r.Email == nil || r.Email.To[0] != "hrbp@corp.example" || svc.Chat.Email.Host != "smtp.corp.example" {
		t.Fatalf("routing %+v chat %+v", svc.Routing, svc.Chat.Email)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"routing:\n  hr-partners: {email: {to: [hrbp@corp.example]}}\n", "kinetic.yaml:3: routing.hr-partners.email: an email route needs chat.email"},
		{"chat:\n  email: {host: smtp.corp.example, from: k@corp.example}\nrouting:\n  hr-partners: {email: {to: [not-an-address]}}\n", "kinetic.yaml:5: routing.hr-partners.email.to[0]: not an email address"},
		{"chat:\n  email: {host: smtp.corp.example, from: k@corp.example}\nrouting:\n  hr-partners: {email: {to: []}}\n", "routing.hr-partners.email.to: at least one address"},
		{"chat:\n  email: {host: \"smtp://x:25\", from: k@corp.example, tls: none}\n", "kinetic.yaml:3: chat.email.host: host is a name or address only"},
		{"chat:\n  email: {host: smtp.corp.example, from: k@corp.example, tls: none}\n", "chat.email.tls: unknown tls mode \"none\" (starttls or implicit; there is no plaintext mode)"},
		{"chat:\n  email: {host: smtp.corp.example}\n", "chat.email.from: from is required"},
	} {
		_, err := parseServiceT("kinetic.yaml", []byte("redis: {embedded: true}\n"+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\nerr = %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}
