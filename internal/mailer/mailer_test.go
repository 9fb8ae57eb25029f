package mailer_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/kineticsec/kinetic/internal/mailer"
	"github.com/kineticsec/kinetic/internal/outbound"
	"github.com/kineticsec/kinetic/internal/smtptest"
)

func policy(t *testing.T) *outbound.URLPolicy {
	p, err := outbound.NewURLPolicy([]string{"127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbeOverImplicitTLSAndReplies(t *testing.T) {
	s := smtptest.Start(t, true, false)
	m, err := mailer.New(mailer.Options{Host: "127.0.0.1", Port: s.Port, Implicit: true, CAFile: s.CAFile, Username: "kinetic", Password: smtptest.Password, Policy: policy(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Probe(context.Background()); err != nil {
		t.Fatalf("probe: %v", err)
	}
	s.FailNextAuth(535, smtp.EnhancedCode{5, 7, 8}, "no")
	err = m.Probe(context.Background())
	if code, enh := mailer.Reply(err); code != 535 || enh != "5.7.8" {
		t.Fatalf("reply of %v: %d %q", err, code, enh)
	}
	if code, _ := mailer.Reply(errors.New("connection reset")); code != 0 {
		t.Error("a transport error has no reply")
	}
	s.None()
}

// A server that accepts the connection and never greets: cancelling the
// context ends the call at once, wrapping the context's error.
func TestCancelledInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	m, err := mailer.New(mailer.Options{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Timeout: time.Minute, Policy: policy(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Probe(ctx) }()
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the mailer never connected")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end when its context was cancelled")
	}
}
