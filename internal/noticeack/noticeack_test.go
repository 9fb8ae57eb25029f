package noticeack

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func TestTokenRoundTripAndRefusals(t *testing.T) {
	s, err := NewSigner(key, "https://kinetic.corp.example/notices/ack", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 18, 9, 0, 0, 0, time.UTC)
	link := s.Link(42, "payroll", now)
	u, _ := url.Parse(link)
	tok := u.Query().Get("t")
	if !strings.HasPrefix(link, "https://kinetic.corp.example/notices/ack?t=") {
		t.Fatalf("link %s", link)
	}
	c, err := s.Check(tok, now.Add(47*time.Hour))
	if err != nil || c.ActionID != 42 || c.Team != "payroll" {
		t.Fatalf("claims %+v, %v", c, err)
	}
	if _, err := s.Check(tok, now.Add(48*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	other, _ := NewSigner([]byte("another key of thirty-two bytes!!"), s.BaseURL, 0)
	if _, err := other.Check(tok, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("another key: %v", err)
	}
	// The team or action cannot be changed without the key.
	benefits := s.Token(42, "benefits", now)
	forged := strings.Join(append(strings.Split(benefits, ".")[:3], strings.Split(tok, ".")[3]), ".")
	for _, bad := range []string{"", "x", forged, tok + "x", strings.Replace(tok, "42.", "43.", 1), tok + ".extra"} {
		if _, err := s.Check(bad, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := NewSigner(key[:31], s.BaseURL, 0); err == nil {
		t.Error("short key accepted")
	}
	if _, err := NewSigner(key, "kinetic/notices", 0); err == nil {
		t.Error("relative page accepted")
	}
}

// FuzzCheck: Check takes a token from anyone's browser; it never panics,
// and accepts only what Token made.
func FuzzCheck(f *testing.F) {
	s, _ := NewSigner(key, "https://kinetic.corp.example/notices/ack", time.Hour)
	now := time.Date(2026, 3, 18, 9, 0, 0, 0, time.UTC)
	f.Add(s.Token(42, "payroll", now))
	f.Add("1.cGF5cm9sbA.9999999999.AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Check(tok, now)
		if err == nil && s.Token(c.ActionID, c.Team, c.Expires.Add(-s.TTL)) != tok {
			t.Fatalf("accepted %q, which Token does not make", tok)
		}
	})
}
