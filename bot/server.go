package bot

import (
	"context"
	"crypto/subtle"
	"errors"
	stdlog "log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
)

// ServerLimits protect a listener from slow and greedy clients. Zero values
// take the defaults below (configs applies the same ones to the service
// file's http: section).
type ServerLimits struct {
	// ReadHeaderTimeout bounds reading a request's headers; default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body: a
	// body trickled in byte by byte is cut off when it runs out; default
	// 15s.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request's headers
	// to the end of the response; default 60s.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no next
	// request; default 60s.
	IdleTimeout time.Duration
	// MaxConnections caps open connections on the listener; a connection
	// over the cap waits in the kernel's backlog until one closes.
	// Default 1000.
	MaxConnections int
	// MaxConnectionsPerClient caps the open connections from one client
	// address; one over it is closed at once. Behind a proxy every
	// connection has the proxy's address: raise it to MaxConnections
	// there. Default 100.
	MaxConnectionsPerClient int
}

// Server limit defaults.
const (
	DefaultReadHeaderTimeout       = 10 * time.Second
	DefaultReadTimeout             = 15 * time.Second
	DefaultWriteTimeout            = 60 * time.Second
	DefaultIdleTimeout             = 60 * time.Second
	DefaultMaxConnections          = 1000
	DefaultMaxConnectionsPerClient = 100
)

// maxHeaderBytes bounds a request's headers (net/http's default is 1 MiB;
// no front end needs more than a few KiB).
const maxHeaderBytes = 64 << 10

func (l ServerLimits) withDefaults() ServerLimits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&l.ReadTimeout, DefaultReadTimeout)
	def(&l.WriteTimeout, DefaultWriteTimeout)
	def(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.MaxConnectionsPerClient <= 0 {
		l.MaxConnectionsPerClient = DefaultMaxConnectionsPerClient
	}
	return l
}

// Serve serves h on ln under limits until ctx ends, then shuts down,
// giving requests in flight up to 10 s. It returns nil after a shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, limits ServerLimits, log *logrus.Entry) error {
	l := limits.withDefaults()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	if log != nil {
		// net/http's own complaints (accept errors, panics in handlers)
		// go to the service log.
		w := log.WriterLevel(logrus.WarnLevel)
		defer w.Close()
		srv.ErrorLog = stdlog.New(w, "", 0)
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(LimitListener(ln, l.MaxConnections, l.MaxConnectionsPerClient))
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped
		return nil
	}
	return err
}

// LimitListener returns ln with at most total connections open at once
// (Accept waits for one to close) and at most perClient from one remote
// IP address (a further one is closed as soon as it is accepted). Zero or
// less means no cap.
func LimitListener(ln net.Listener, total, perClient int) net.Listener {
	l := &limitListener{Listener: ln, perClient: perClient, byClient: map[string]int{}, done: make(chan struct{})}
	if total > 0 {
		l.slots = make(chan struct{}, total)
	}
	return l
}

type limitListener struct {
	net.Listener
	slots     chan struct{} // nil: no overall cap
	perClient int

	mu       sync.Mutex
	byClient map[string]int

	closeOnce sync.Once
	done      chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			case <-l.done:
				return nil, net.ErrClosed
			}
		}
		c, err := l.Listener.Accept()
		if err != nil {
			l.freeSlot()
			return nil, err
		}
		client := remoteIP(c.RemoteAddr())
		if !l.admit(client) {
			_ = c.Close()
			l.freeSlot()
			continue
		}
		return &limitConn{Conn: c, l: l, client: client}, nil
	}
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *limitListener) freeSlot() {
	if l.slots != nil {
		<-l.slots
	}
}

func (l *limitListener) admit(client string) bool {
	if l.perClient <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byClient[client] >= l.perClient {
		return false
	}
	l.byClient[client]++
	return true
}

func (l *limitListener) release(client string) {
	if l.perClient > 0 {
		l.mu.Lock()
		if l.byClient[client]--; l.byClient[client] <= 0 {
			delete(l.byClient, client)
		}
		l.mu.Unlock()
	}
	l.freeSlot()
}

type limitConn struct {
	net.Conn
	l      *limitListener
	client string
	once   sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.client) })
	return err
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// MetricsHandler serves reg in Prometheus' format. With a token, a request
// must carry "Authorization: Bearer <token>" (compared in constant time) or
// is answered 401.
func MetricsHandler(reg *prometheus.Registry, token string) http.Handler {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(tok), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kinetic-metrics"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token is required for /metrics")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// MetricsMux is the handler of a listener of its own for metrics
// (http.metrics_addr): GET /metrics only.
func MetricsMux(reg *prometheus.Registry, token string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", MetricsHandler(reg, token))
	return mux
}
