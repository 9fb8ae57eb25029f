package outbound

import (
	"context"
	"errors"
	"net"
	"testing"
)

func TestDialContextObeysThePolicy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var p *URLPolicy
	if _, err := p.DialContext(context.Background(), "tcp", ln.Addr().String()); !errors.Is(err, ErrURLRefused) {
		t.Fatalf("loopback dial without allowance: %v, want ErrURLRefused", err)
	}
	allow, err := NewURLPolicy([]string{"127.0.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := allow.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("allowed dial: %v", err)
	}
	c.Close()
}
