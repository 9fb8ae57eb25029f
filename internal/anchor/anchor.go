// Package anchor publishes the audit head outside the database: every
// interval, when the head has moved, serve and worker send its seq and hash
// to the configured sinks — a JSON-lines file on another volume, an HTTP
// endpoint (through the outbound URL policy), syslog. `kinetic audit
// verify` then checks the chain against the latest anchor it can read back
// (the file), so a rewrite of the whole chain including its head is caught.
package anchor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Record is one published anchor.
type Record struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// Sink receives anchors. Publish must be safe to repeat: the same record
// may be published again after a failure.
type Sink interface {
	Name() string
	Publish(ctx context.Context, r Record) error
}

// File appends each anchor as one JSON line to Path (created 0600). The
// file is opened per write with O_APPEND and synced before Publish returns.
type File struct{ Path string }

// Name is "file".
func (f File) Name() string { return "file" }

// Publish appends r.
func (f File) Publish(_ context.Context, r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fh, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("anchor file: %w", err)
	}
	if _, err := fh.Write(append(b, '\n')); err != nil {
		fh.Close()
		return fmt.Errorf("anchor file: %w", err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return fmt.Errorf("anchor file: %w", err)
	}
	return fh.Close()
}

var hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ErrNoAnchor means the anchor file holds no anchor.
var ErrNoAnchor = errors.New("no anchor recorded")

// Latest returns the anchor file's newest anchor: the valid line with the
// highest seq (lines that do not parse, such as a torn last line from a
// crash mid-write, are skipped). Several processes (serve and workers)
// append to one file, so lines may arrive slightly out of order; the
// highest seq is the one the chain must still hold.
func Latest(path string) (*Record, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("anchor file: %w", err)
	}
	defer fh.Close()
	var last *Record
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Seq <= 0 || !hashRE.MatchString(r.Hash) {
			continue
		}
		if last == nil || r.Seq > last.Seq {
			last = &r
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("anchor file: %w", err)
	}
	if last == nil {
		return nil, fmt.Errorf("anchor file %s: %w", path, ErrNoAnchor)
	}
	return last, nil
}

// HTTP POSTs each anchor as JSON to URL with Client (build it from the
// outbound URL policy). Any 2xx is success; the token, if any, is sent as a
// bearer token and never appears in errors.
type HTTP struct {
	URL    string
	Token  string
	Client *http.Client
}

// Name is "http".
func (h HTTP) Name() string { return "http" }

// Publish posts r.
func (h HTTP) Publish(ctx context.Context, r Record) error {
	b, _ := json.Marshal(r)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("anchor http: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kinetic-audit-anchor")
	if h.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.Token)
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("anchor http: post: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("anchor http: status %d", resp.StatusCode)
	}
	return nil
}

// Syslog writes each anchor as one line at facility auth, severity info,
// tag kinetic: "audit anchor seq=N hash=H time=T". Network "" means the
// local daemon.
type Syslog struct {
	Network, Addr string

	mu sync.Mutex
	w  *syslog.Writer
}

// Name is "syslog".
func (s *Syslog) Name() string { return "syslog" }

// Publish writes r, dialling on first use and again after a failure.
func (s *Syslog) Publish(_ context.Context, r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		w, err := syslog.Dial(s.Network, s.Addr, syslog.LOG_AUTH|syslog.LOG_INFO, "kinetic")
		if err != nil {
			return fmt.Errorf("anchor syslog: %w", err)
		}
		s.w = w
	}
	if err := s.w.Info(fmt.Sprintf("audit anchor seq=%d hash=%s time=%s", r.Seq, r.Hash, r.Time.UTC().Format(time.RFC3339))); err != nil {
		_ = s.w.Close()
		s.w = nil
		return fmt.Errorf("anchor syslog: %w", err)
	}
	return nil
}

// Head reads the audit head.
type Head func(ctx context.Context) (seq int64, hash string, err error)

// Publisher sends the head to every sink when it has moved. A sink that
// fails is tried again at the next tick with the newest head; the others
// are not held back.
type Publisher struct {
	Head     Head
	Sinks    []Sink
	Interval time.Duration
	Clock    func() time.Time
	Log      *logrus.Entry

	last map[string]int64 // sink name → seq last published
}

// Tick publishes the head to each sink that has not had it yet and returns
// the sinks' errors joined.
func (p *Publisher) Tick(ctx context.Context) error {
	seq, hash, err := p.Head(ctx)
	if err != nil {
		return fmt.Errorf("anchor: read head: %w", err)
	}
	if seq == 0 {
		return nil
	}
	if p.last == nil {
		p.last = map[string]int64{}
	}
	now := time.Now
	if p.Clock != nil {
		now = p.Clock
	}
	r := Record{Seq: seq, Hash: hash, Time: now().UTC().Truncate(time.Second)}
	var errs []error
	for _, s := range p.Sinks {
		if last, ok := p.last[s.Name()]; ok && last == seq {
			continue
		}
		if err := s.Publish(ctx, r); err != nil {
			errs = append(errs, err)
			continue
		}
		p.last[s.Name()] = seq
	}
	return errors.Join(errs...)
}

// Run ticks every Interval until ctx ends, logging failures (they name the
// sink, never a token).
func (p *Publisher) Run(ctx context.Context) {
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		if err := p.Tick(ctx); err != nil && ctx.Err() == nil && p.Log != nil {
			p.Log.WithError(err).Warn("audit anchor not published; retrying at the next interval")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
