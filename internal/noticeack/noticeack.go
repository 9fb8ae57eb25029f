// Package noticeack signs and checks the acknowledgement links in notice
// emails: a token that names one notice (the action that sent it and the
// receiving team) and when it expires, MACed with HMAC-SHA256 under the
// service's key. A token says nothing secret and grants one thing: the
// confirmation page for that notice. It is single-use because the
// acknowledgement it leads to is recorded once (store.AcknowledgeNotice is
// a conditional update). It is a leaf: it imports only the standard
// library.
package noticeack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MinKeyBytes is the shortest key Signer accepts.
const MinKeyBytes = 32

// Errors Check returns. Both are refusals; neither says more than that.
var (
	ErrInvalid = errors.New("acknowledgement link is not valid")
	ErrExpired = errors.New("acknowledgement link has expired")
)

// Claims are what a token names.
type Claims struct {
	ActionID int64
	Team     string
	Expires  time.Time
}

// Signer makes and checks tokens.
type Signer struct {
	key []byte
	// BaseURL is the confirmation page, e.g.
	// https://kinetic.corp.example/notices/ack; Link adds ?t=TOKEN.
	BaseURL string
	// TTL is how long a link works; default 14 days.
	TTL time.Duration
}

// NewSigner returns a signer with key (at least MinKeyBytes bytes) and
// the confirmation page's URL.
func NewSigner(key []byte, baseURL string, ttl time.Duration) (*Signer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("the acknowledgement key needs at least %d bytes", MinKeyBytes)
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("the acknowledgement page %q is not an absolute http(s) URL without query", baseURL)
	}
	if ttl <= 0 {
		ttl = 14 * 24 * time.Hour
	}
	return &Signer{key: append([]byte(nil), key...), BaseURL: baseURL, TTL: ttl}, nil
}

// Token returns the token for a notice, expiring TTL after now.
func (s *Signer) Token(actionID int64, team string, now time.Time) string {
	payload := strconv.FormatInt(actionID, 10) + "." + base64.RawURLEncoding.EncodeToString([]byte(team)) + "." + strconv.FormatInt(now.Add(s.TTL).Unix(), 10)
	return payload + "." + s.mac(payload)
}

// Link returns the confirmation page's URL with the notice's token.
func (s *Signer) Link(actionID int64, team string, now time.Time) string {
	return s.BaseURL + "?t=" + url.QueryEscape(s.Token(actionID, team, now))
}

func (s *Signer) mac(payload string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("kinetic-notice-ack-v1\x00"))
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Check verifies a token's MAC (in constant time) and expiry at now.
func (s *Signer) Check(token string, now time.Time) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 4 || len(token) > 512 {
		return Claims{}, ErrInvalid
	}
	payload := strings.Join(parts[:3], ".")
	if !hmac.Equal([]byte(parts[3]), []byte(s.mac(payload))) {
		return Claims{}, ErrInvalid
	}
	id, err1 := strconv.ParseInt(parts[0], 10, 64)
	team, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	exp, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || id <= 0 || len(team) == 0 {
		return Claims{}, ErrInvalid
	}
	c := Claims{ActionID: id, Team: string(team), Expires: time.Unix(exp, 0).UTC()}
	if !now.Before(c.Expires) {
		return Claims{}, ErrExpired
	}
	return c, nil
}
