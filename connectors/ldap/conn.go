package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"github.com/kineticsec/kinetic/connectors"
	"github.com/kineticsec/kinetic/internal/outbound"
)

// Pool limits. Connections are bound as the service account and reused;
// one is never shared by two calls at once.
const (
	// maxIdle is how many bound connections are kept for reuse.
	maxIdle = 4
	// maxIdleTime is how long an unused connection is kept. Servers drop
	// idle connections (Active Directory's MaxConnIdleTime is 900 s);
	// staying well below avoids reusing one the server has just closed.
	maxIdleTime = 60 * time.Second
)

// conn is one connection: go-ldap's client over raw, the TCP connection
// (below TLS) that is closed to abort whatever is in flight.
type conn struct {
	l         *goldap.Conn
	raw       net.Conn
	tls       bool
	idleSince time.Time
}

func (cn *conn) close() {
	if cn == nil {
		return
	}
	if cn.raw != nil {
		_ = cn.raw.Close()
	}
	if cn.l != nil {
		_ = cn.l.Close()
	}
}

// pool keeps idle bound connections, most recently used first.
type pool struct {
	mu     sync.Mutex
	idle   []*conn
	closed bool
}

// get returns an idle connection that is still open, or nil.
func (p *pool) get(now time.Time) (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	for len(p.idle) > 0 {
		cn := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if cn.l.IsClosing() || now.Sub(cn.idleSince) > maxIdleTime {
			go cn.close()
			continue
		}
		return cn, nil
	}
	return nil, nil
}

// put keeps cn for reuse, or closes it when the pool is full or closed.
func (p *pool) put(cn *conn, now time.Time) {
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdle || cn.l.IsClosing() {
		p.mu.Unlock()
		cn.close()
		return
	}
	cn.idleSince = now
	p.idle = append(p.idle, cn)
	p.mu.Unlock()
}

func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, cn := range idle {
		cn.close()
	}
}

// session is one connector call's use of one connection. A cancelled or
// expired context closes the connection, which makes the request in flight
// return at once; such a connection is never reused.
type session struct {
	c      *Connector
	ctx    context.Context
	op     string
	cn     *conn
	stop   func() bool // stops the close-on-cancel watcher
	reused bool        // cn came from the pool
	broken bool        // cn saw a network error
}

// open starts a call: it takes an idle connection or dials, (Start)TLSes
// and binds a new one. Errors are classified.
func (c *Connector) open(ctx context.Context, op string) (*session, error) {
	if err := ctx.Err(); err != nil {
		return nil, c.classify(ctx, op, err)
	}
	if err := c.injected(); err != nil {
		return nil, c.classify(ctx, op, err)
	}
	s := &session{c: c, ctx: ctx, op: op}
	cn, err := c.pool.get(c.now())
	if err != nil {
		return nil, connectors.NewError(connectors.KindTransient, c.name, op, err)
	}
	if cn != nil {
		s.cn, s.reused = cn, true
		s.watch()
		return s, nil
	}
	if err := s.connect(); err != nil {
		s.discard()
		return nil, c.classify(ctx, op, err)
	}
	return s, nil
}

// watch closes the connection when the context is done.
func (s *session) watch() {
	raw := s.cn.raw
	s.stop = context.AfterFunc(s.ctx, func() { _ = raw.Close() })
}

// connect dials a new connection, secures it and binds.
func (s *session) connect() error {
	c := s.c
	raw, err := c.dialTCP(s.ctx)
	if err != nil {
		return err
	}
	s.cn = &conn{raw: raw}
	s.watch()

	var nc net.Conn = raw
	switch {
	case c.ldaps:
		tc := tls.Client(raw, c.tlsConfig)
		if err := tc.HandshakeContext(s.ctx); err != nil {
			return fmt.Errorf("TLS handshake with %s: %w", c.addr, err)
		}
		nc, s.cn.tls = tc, true
	case c.cfg.StartTLS:
		if err := startTLS(s.ctx, raw); err != nil {
			return err
		}
		tc := tls.Client(raw, c.tlsConfig)
		if err := tc.HandshakeContext(s.ctx); err != nil {
			return fmt.Errorf("TLS handshake after StartTLS with %s: %w", c.addr, err)
		}
		nc, s.cn.tls = tc, true
	}
	s.cn.l = goldap.NewConn(nc, s.cn.tls)
	s.cn.l.Start()

	// Defence in depth: Validate already refuses this configuration, but
	// never send a password over a connection that is not encrypted unless
	// explicitly allowed.
	if !s.cn.tls && !c.cfg.AllowInsecurePlainLDAP {
		return c.invalid(s.op, "refusing a simple bind over plain ldap:// (use ldaps://, start_tls, or allow_insecure_plain_ldap)")
	}
	s.setTimeout()
	if err := s.cn.l.Bind(c.cfg.BindDN, c.password); err != nil {
		s.broken = true
		return fmt.Errorf("bind as %s: %w", c.cfg.BindDN, err)
	}
	return nil
}

// setTimeout gives go-ldap the time left before the context's deadline as
// its per-request timeout.
func (s *session) setTimeout() {
	if dl, ok := s.ctx.Deadline(); ok {
		s.cn.l.SetTimeout(max(time.Until(dl), time.Millisecond))
	}
}

// release ends the call: the connection goes back to the pool unless it is
// broken or its context was cancelled while in use.
func (s *session) release() {
	if s == nil || s.cn == nil {
		return
	}
	if s.stop != nil && !s.stop() {
		s.broken = true // the watcher fired and closed the connection
	}
	if s.broken || s.ctx.Err() != nil || s.cn.l == nil {
		s.cn.close()
	} else {
		s.cn.l.SetTimeout(0)
		s.c.pool.put(s.cn, s.c.now())
	}
	s.cn = nil
}

func (s *session) discard() {
	s.broken = true
	s.release()
}

// run performs one request. A network error marks the connection broken.
// The raw error is returned so callers can look at result codes; they
// classify it with Connector.classify.
func (s *session) run(fn func(l *goldap.Conn) error) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	s.setTimeout()
	err := fn(s.cn.l)
	if err != nil && (resultCode(err) == 0 || s.cn.l.IsClosing()) {
		s.broken = true
	}
	return err
}

// search runs a search. When the first request on a reused connection
// fails in transport (the server dropped the idle connection), it is
// retried once on a new connection: a search changes nothing.
func (s *session) search(req *goldap.SearchRequest) (*goldap.SearchResult, error) {
	var res *goldap.SearchResult
	err := s.run(func(l *goldap.Conn) (err error) { res, err = l.Search(req); return err })
	if err != nil && s.reused && s.broken && s.ctx.Err() == nil {
		s.reused = false
		s.stop()
		s.cn.close()
		s.broken = false
		if cerr := s.connect(); cerr != nil {
			s.broken = true
			return nil, cerr
		}
		err = s.run(func(l *goldap.Conn) (err error) { res, err = l.Search(req); return err })
	}
	s.reused = false
	return res, err
}

func (s *session) modify(req *goldap.ModifyRequest) error {
	s.reused = false
	return s.run(func(l *goldap.Conn) error { return l.Modify(req) })
}

func (s *session) modifyDN(req *goldap.ModifyDNRequest) error {
	s.reused = false
	return s.run(func(l *goldap.Conn) error { return l.ModifyDN(req) })
}

// startTLS performs the StartTLS extended operation (RFC 4511 §4.14) on raw
// before go-ldap takes the connection over, so that the TLS handshake that
// follows is ours: it honours the context and keeps certificate errors
// distinguishable (go-ldap's own StartTLS flattens them into text).
func startTLS(ctx context.Context, raw net.Conn) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
		defer raw.SetDeadline(time.Time{})
	}
	const msgID = 1
	req := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	req.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(msgID), "MessageID"))
	ext := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationExtendedRequest, nil, "Start TLS")
	ext.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", "TLS Extended Command"))
	req.AppendChild(ext)
	if _, err := raw.Write(req.Bytes()); err != nil {
		return fmt.Errorf("StartTLS: %w", err)
	}
	resp, err := ber.ReadPacket(raw)
	if err != nil {
		return fmt.Errorf("StartTLS: reading the answer: %w", err)
	}
	if len(resp.Children) < 2 || resp.Children[1].Tag != goldap.ApplicationExtendedResponse {
		return goldap.NewError(goldap.ErrorUnexpectedResponse, errors.New("StartTLS: unexpected answer"))
	}
	if id, ok := resp.Children[0].Value.(int64); !ok || id != msgID {
		return goldap.NewError(goldap.ErrorUnexpectedResponse, errors.New("StartTLS: answer to another message"))
	}
	if err := goldap.GetLDAPError(resp); err != nil {
		return fmt.Errorf("StartTLS refused: %w", err)
	}
	return nil
}

// dialTCP connects to the server. With an outbound URL policy, the host is
// checked first, then every address it resolves to, and only a checked
// address is dialled (so a DNS answer that changes after the check is
// caught too).
func (c *Connector) dialTCP(ctx context.Context) (net.Conn, error) {
	if c.dialer != nil {
		return c.dialer(ctx, "tcp", c.addr)
	}
	d := &net.Dialer{KeepAlive: 30 * time.Second}
	if c.policy == nil {
		return d.DialContext(ctx, "tcp", c.addr)
	}
	if err := c.policy.CheckURL(ctx, c.cfg.BaseURL()); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(c.addr)
	if c.hostAllowedByName(host) {
		return d.DialContext(ctx, "tcp", c.addr)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		var res outbound.Resolver = net.DefaultResolver
		if c.policy.Resolver != nil {
			res = c.policy.Resolver
		}
		if addrs, err = res.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
	}
	var first error
	for _, a := range addrs {
		hp := net.JoinHostPort(a.WithZone("").String(), port)
		if err := c.policy.CheckURL(ctx, "https://"+hp+"/"); err != nil {
			return nil, err
		}
		nc, err := d.DialContext(ctx, "tcp", hp)
		if err == nil {
			return nc, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	if first == nil {
		first = fmt.Errorf("host %s resolves to no address", host)
	}
	return nil, first
}

// hostAllowedByName reports whether the policy lists host by name in
// outbound.allow_hosts, which allows it whatever it resolves to.
func (c *Connector) hostAllowedByName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, a := range c.policy.AllowHosts {
		if strings.TrimSuffix(strings.ToLower(strings.Trim(a, "[] ")), ".") == h {
			return true
		}
	}
	return false
}
