package anchor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func h(c byte) string { return strings.Repeat(string(c), 64) }

// head is an audit head the test moves.
type head struct {
	seq  int64
	hash string
}

func (hd *head) read(context.Context) (int64, string, error) { return hd.seq, hd.hash, nil }

// call is one expected HTTP request and the status to answer.
type call struct {
	status int
	body   string
}

// script serves the calls in order and fails the test on any other.
func script(t *testing.T, calls ...call) *httptest.Server {
	t.Helper()
	i := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i >= len(calls) {
			t.Errorf("unexpected call %s %s", r.Method, r.URL)
			w.WriteHeader(500)
			return
		}
		c := calls[i]
		i++
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/anchors" || r.Header.Get("Authorization") != "Bearer tok-SECRET" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("call %d: %s %s auth %q", i, r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		if string(b) != c.body {
			t.Errorf("call %d: body %s, want %s", i, b, c.body)
		}
		w.WriteHeader(c.status)
	}))
	t.Cleanup(func() {
		srv.Close()
		if i != len(calls) {
			t.Errorf("%d of %d calls made", i, len(calls))
		}
	})
	return srv
}

func body(seq int64, c byte) string {
	return fmt.Sprintf(`{"seq":%d,"hash":"%s","time":"2026-03-02T09:00:00Z"}`, seq, h(c))
}

// TestPublisher: each sink gets the head once per move; a failing sink
// does not hold back the others and gets the newest head next tick.
func TestPublisher(t *testing.T) {
	srv := script(t,
		call{503, body(3, 'a')},
		call{200, body(5, 'b')},
	)
	dir := t.TempDir()
	file := filepath.Join(dir, "anchors.jsonl")
	hd := &head{3, h('a')}
	p := &Publisher{Head: hd.read, Clock: func() time.Time { return t0 }, Sinks: []Sink{
		HTTP{URL: srv.URL + "/anchors", Token: "tok-SECRET", Client: srv.Client()},
		File{Path: file},
	}}
	ctx := context.Background()
	err := p.Tick(ctx)
	if err == nil || !strings.Contains(err.Error(), "status 503") || strings.Contains(err.Error(), "tok-SECRET") {
		t.Fatalf("first tick: %v", err)
	}
	if r, err := Latest(file); err != nil || r.Seq != 3 {
		t.Fatalf("file after a failing http sink: %+v, %v", r, err)
	}
	hd.seq, hd.hash = 5, h('b')
	if err := p.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Tick(ctx); err != nil { // unchanged head: nothing sent
		t.Fatal(err)
	}
	r, err := Latest(file)
	if err != nil || r.Seq != 5 || r.Hash != h('b') {
		t.Fatalf("latest = %+v, %v", r, err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("anchor file mode %v", fi.Mode())
	}
}

func TestHTTPStatuses(t *testing.T) {
	for _, st := range []int{401, 403, 404, 429, 500} {
		srv := script(t, call{st, body(1, 'c')})
		err := HTTP{URL: srv.URL + "/anchors", Token: "tok-SECRET", Client: srv.Client()}.Publish(context.Background(), Record{Seq: 1, Hash: h('c'), Time: t0})
		if err == nil || strings.Contains(err.Error(), "tok-SECRET") {
			t.Errorf("status %d: err = %v", st, err)
		}
	}
}

func TestLatest(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	torn := write("torn", `{"seq":4,"hash":"`+h('d')+`","time":"2026-03-02T09:00:00Z"}`+"\n"+`{"seq":5,"ha`)
	if r, err := Latest(torn); err != nil || r.Seq != 4 {
		t.Errorf("torn last line: %+v, %v", r, err)
	}
	// Two processes appended out of order: the highest seq wins.
	back := write("back", body(5, 'e')+"\n"+body(2, 'f')+"\n")
	if r, err := Latest(back); err != nil || r.Seq != 5 || r.Hash != h('e') {
		t.Errorf("out of order: %+v, %v", r, err)
	}
	if _, err := Latest(write("empty", "")); !errors.Is(err, ErrNoAnchor) {
		t.Errorf("empty: %v", err)
	}
}

func TestSyslog(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Skip("no UDP on loopback:", err)
	}
	defer pc.Close()
	s := &Syslog{Network: "udp", Addr: pc.LocalAddr().String()}
	if err := s.Publish(context.Background(), Record{Seq: 9, Hash: h('9'), Time: t0}); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	got := string(buf[:n])
	// <38> is facility auth (4) × 8 + severity info (6).
	if !strings.HasPrefix(got, "<38>") || !strings.Contains(got, "kinetic") || !strings.Contains(got, "audit anchor seq=9 hash="+h('9')) {
		t.Errorf("syslog line %q", got)
	}
}
