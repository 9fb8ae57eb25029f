// Package reqid carries an HTTP request's id in a context, so the access
// log, the engine's logs and the audit trail name the same request. It is
// a leaf: front ends set the id, the engine and store read it.
package reqid

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/sirupsen/logrus"
)

// Header is the request and response header that carries the id.
const Header = "X-Request-Id"

// MaxLen bounds an incoming id; a longer one is replaced.
const MaxLen = 128

type key struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// From returns the id ctx carries, or "".
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// New returns a fresh id: 16 random bytes in hex.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Sane reports whether an incoming id may be kept as given: 1 to MaxLen
// bytes of letters, digits and "-_.:" — nothing that could forge a log
// line or a header (no spaces, quotes, control characters).
func Sane(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// Accept returns the incoming id if it is sane, else a fresh one.
func Accept(incoming string) string {
	if Sane(incoming) {
		return incoming
	}
	return New()
}

// LogHook adds request_id to every log entry whose context carries one
// (logrus's Entry.WithContext), so an engine line names the HTTP request
// that caused it. Install it with Logger.AddHook.
type LogHook struct{}

// Levels implements logrus.Hook: every level.
func (LogHook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire implements logrus.Hook.
func (LogHook) Fire(e *logrus.Entry) error {
	if e.Context == nil {
		return nil
	}
	if id := From(e.Context); id != "" {
		if _, set := e.Data["request_id"]; !set {
			e.Data["request_id"] = id
		}
	}
	return nil
}
