package slackbot

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// BenchmarkAckSignedCommand measures how fast the HTTP routes acknowledge
// signed slash commands: 50 clients send concurrently over loopback to a
// real HTTP server, each command distinctly signed (so the replay cache is
// exercised, not bypassed), with a trivial Handlers. It reports the 99th
// percentile round trip as ms/p99, to compare with Slack's 3 s.
func BenchmarkAckSignedCommand(b *testing.B) {
	const concurrency = 50
	h := &recorder{onCommand: func(context.Context, slack.SlashCommand) Response { return Ephemeral("Queued.") }}
	mux := http.NewServeMux()
	Routes(NewVerifier(testSecret, nil), h, WithLog(discardLog()))(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency}}
	defer client.CloseIdleConnections()

	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				body := commandBody(fmt.Sprintf("@user%d", i))
				req, err := http.NewRequest(http.MethodPost, srv.URL+"/slack/commands", strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				SignRequest(req, testSecret, time.Now(), []byte(body))
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				lat[i] = time.Since(start)
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	p99 := lat[(len(lat)-1)*99/100]
	b.ReportMetric(float64(p99.Microseconds())/1000, "ms/p99")
}
