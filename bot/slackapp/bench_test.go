package slackapp_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/bot"
	slackapp "github.com/kineticsec/kinetic/bot/slackapp"
	slackbot "github.com/kineticsec/kinetic/bot/slackbot"
	"github.com/kineticsec/kinetic/bot/slackbot/slacktest"
	"github.com/kineticsec/kinetic/engine"
	"github.com/kineticsec/kinetic/internal/secret"
	"github.com/kineticsec/kinetic/internal/testkit"
)

// BenchmarkAckSlashCommands sends 50 concurrent signed /offboard commands
// per iteration to the same HTTP server `kinetic serve` runs (bot.NewHandler
// with the Slack routes, over loopback), backed by the test kit's database
// and Redis — PostgreSQL and Redis when KINETIC_TEST_POSTGRES_DSN and
// KINETIC_TEST_REDIS_ADDR are set — and reports the acknowledgement
// latency's p50 and p99. Half the commands ask for a status (a database
// read), half start an offboarding (which answers at once and plans in the
// background).
func BenchmarkAckSlashCommands(b *testing.B) {
	fake := slacktest.NewServer(b)
	for id, u := range slackUsers {
		fake.AddUser(id, u[0], u[1])
	}
	l := logrus.New()
	l.Level = logrus.ErrorLevel
	sa, err := slackapp.New(slackapp.Options{
		Config: &slackbot.Config{BotToken: secret.FromValue(slacktest.BotToken), SigningSecret: secret.FromValue(signingSecret),
			APIURL: fake.URL(), OffboardingChannel: offboarding, AlertsChannel: alerts},
		Log: logrus.NewEntry(l),
	})
	if err != nil {
		b.Fatal(err)
	}
	kit := testkit.New(b, testkit.Options{RedisDB: 13, Policy: testkit.ApprovalPolicy, Observers: []engine.Observer{sa}})
	sa.Bind(kit.Engine, kit.Directory)
	ctx, cancel := context.WithCancel(context.Background())
	stop := sa.Start(ctx)
	b.Cleanup(func() { cancel(); stop() })
	if _, err := kit.StartWorker(); err != nil {
		b.Fatal(err)
	}
	h := bot.NewHandler(bot.ServerOptions{Engine: kit.Engine, Ready: kit.Ready, Metrics: kit.Metrics,
		Routes: []func(*http.ServeMux){sa.Routes(slackbot.NewVerifier(signingSecret, time.Now))}})
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	const concurrent = 50
	var (
		mu  sync.Mutex
		lat []time.Duration
	)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for j := 0; j < concurrent; j++ {
			text := "status <@UERIN>"
			if j%2 == 1 {
				text = "<@UCARL> end of contract"
			}
			// Every real command has its own trigger_id; identical bodies
			// signed in the same second would be refused as replays.
			body := []byte(url.Values{"team_id": {slacktest.TeamID}, "channel_id": {offboarding}, "user_id": {"UMIA"},
				"command": {"/offboard"}, "text": {text}, "response_url": {"https://hooks.slack.invalid/x"},
				"trigger_id": {fmt.Sprintf("trig-%d-%d", i, j)}}.Encode())
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/slack/commands", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				slackbot.SignRequest(req, signingSecret, time.Now(), body)
				start := time.Now()
				resp, err := client.Do(req)
				d := time.Since(start)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "ms/p50")
	b.ReportMetric(pct(0.99), "ms/p99")
	b.ReportMetric(0, "ns/op")
}
