package slacktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// PingInterval is how often the fake pings each Socket Mode connection, as
// Slack does; slack-go reconnects when pings stop for 30 s.
const PingInterval = time.Second

// Ack is an acknowledgement a Socket Mode client sent.
type Ack struct {
	EnvelopeID string
	// Payload is the ack's payload (nil when it had none).
	Payload json.RawMessage
	// Conn is the connection it arrived on (1 for the first).
	Conn int
	At   time.Time
}

type wsConn struct {
	n       int
	conn    *websocket.Conn
	writeMu sync.Mutex
	closed  bool // under Server.mu
}

func (c *wsConn) writeJSON(v any) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.conn.WriteJSON(v)
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serveSocket is the WebSocket endpoint apps.connections.open points at.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	t, err := strconv.Atoi(r.URL.Query().Get("ticket"))
	s.mu.Lock()
	issued := s.ticket
	s.mu.Unlock()
	if err != nil || t < 1 || t > issued {
		http.Error(w, "unknown ticket: call apps.connections.open first", http.StatusUnauthorized)
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	wc := &wsConn{n: len(s.conns) + 1, conn: conn}
	s.conns = append(s.conns, wc)
	s.mu.Unlock()

	// Slack opens every connection with a hello.
	hello := map[string]any{
		"type":            "hello",
		"num_connections": 1,
		"debug_info":      map[string]any{"host": "slacktest", "approximate_connection_time": 3600},
		"connection_info": map[string]any{"app_id": AppID},
	}
	if err := wc.writeJSON(hello); err != nil {
		s.dropConn(wc)
		return
	}
	s.mu.Lock()
	s.hellos++
	s.notifyLocked()
	s.mu.Unlock()

	done := make(chan struct{})
	defer close(done)
	go func() {
		tick := time.NewTicker(PingInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if conn.WriteControl(websocket.PingMessage, []byte("slacktest"), time.Now().Add(time.Second)) != nil {
					return
				}
			}
		}
	}()

	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			s.dropConn(wc)
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(data, &ack) != nil || ack.EnvelopeID == "" {
			continue
		}
		if string(ack.Payload) == "null" {
			ack.Payload = nil
		}
		s.mu.Lock()
		s.acks = append(s.acks, Ack{EnvelopeID: ack.EnvelopeID, Payload: ack.Payload, Conn: wc.n, At: time.Now()})
		s.notifyLocked()
		s.mu.Unlock()
	}
}

func (s *Server) dropConn(wc *wsConn) {
	s.mu.Lock()
	wc.closed = true
	s.notifyLocked()
	s.mu.Unlock()
	_ = wc.conn.Close()
}

func (s *Server) closeSockets() {
	s.mu.Lock()
	conns := append([]*wsConn(nil), s.conns...)
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.conn.Close()
	}
}

// WaitConnections waits until n Socket Mode connections have been greeted
// with hello (counting ones since closed), failing the test after timeout.
func (s *Server) WaitConnections(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := s.hellos, s.changed
		s.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("slacktest: %d Socket Mode connection(s) within %s, want %d", got, timeout, n)
			return
		}
	}
}

// WaitConnected waits for the first Socket Mode connection.
func (s *Server) WaitConnected(t testing.TB, timeout time.Duration) {
	t.Helper()
	s.WaitConnections(t, 1, timeout)
}

// current returns the newest open connection.
func (s *Server) current() *wsConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.conns) - 1; i >= 0; i-- {
		if !s.conns[i].closed {
			return s.conns[i]
		}
	}
	return nil
}

// SendEnvelope sends a Socket Mode envelope of type typ ("slash_commands",
// "interactive", "events_api") with payload on the newest open connection
// and returns its envelope_id. accepts_response_payload is true except for
// events_api, as Slack sets it.
func (s *Server) SendEnvelope(t testing.TB, typ string, payload any) string {
	t.Helper()
	s.mu.Lock()
	s.envSeq++
	id := fmt.Sprintf("slacktest-envelope-%04d", s.envSeq)
	s.mu.Unlock()
	s.SendRaw(t, map[string]any{
		"envelope_id":              id,
		"type":                     typ,
		"payload":                  payload,
		"accepts_response_payload": typ != "events_api",
		"retry_attempt":            0,
		"retry_reason":             "",
	})
	return id
}

// SendRaw sends v (marshalled to JSON; a json.RawMessage is sent as is) on
// the newest open connection.
func (s *Server) SendRaw(t testing.TB, v any) {
	t.Helper()
	c := s.current()
	if c == nil {
		t.Fatal("slacktest: no open Socket Mode connection")
	}
	if err := c.writeJSON(v); err != nil {
		t.Fatalf("slacktest: writing to the Socket Mode connection: %v", err)
	}
}

// Disconnect sends Slack's "disconnect" message (refresh_requested) on the
// newest connection; a well-behaved client reconnects.
func (s *Server) Disconnect(t testing.TB) {
	t.Helper()
	s.SendRaw(t, map[string]any{"type": "disconnect", "reason": "refresh_requested", "debug_info": map[string]any{"host": "slacktest"}})
}

// Acks returns every acknowledgement received, in order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// WaitForAck waits for the acknowledgement of envelopeID, failing the test
// after timeout.
func (s *Server) WaitForAck(t testing.TB, envelopeID string, timeout time.Duration) Ack {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for _, a := range s.acks {
			if a.EnvelopeID == envelopeID {
				s.mu.Unlock()
				return a
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("slacktest: no ack for %s within %s (acks so far: %d)", envelopeID, timeout, len(s.Acks()))
			return Ack{}
		}
	}
}
