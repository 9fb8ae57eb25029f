package outbound

import (
	"context"
	"net"
	"time"
)

// DialContext connects to address (host:port) for a protocol other than
// HTTP (SMTP, for one) under the same rules as HTTPClient's connections:
// the host is resolved here, every address is checked against the policy
// (so DNS rebinding between a load-time CheckURL and the dial is caught),
// and exactly a checked address is dialled. A refusal wraps ErrURLRefused.
// A nil policy refuses every internal address.
func (p *URLPolicy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if p == nil {
		p = &URLPolicy{}
	}
	return p.dial(ctx, &net.Dialer{Timeout: 30 * time.Second}, network, address)
}
