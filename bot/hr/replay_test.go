package hr

import (
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sirupsen/logrus"

	"github.com/kineticsec/kinetic/internal/replay"
)

// When the replay check cannot be made (Redis down), a correctly signed
// webhook is answered 503 — the sender retries — and nothing is recorded.
func TestWebhookWithRedisDownIsRetriedLater(t *testing.T) {
	e := newEnv(t, testConfig(), nil)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer func() { _ = dead.Close() }()
	mux := http.NewServeMux()
	l := logrus.New()
	l.Out = e.log
	NewHandler(e.cfg, e.kit.Engine, Options{Log: logrus.NewEntry(l), Replay: replay.NewRedis(dead, replay.HRPrefix)}).Mount(mux)
	e.mux = mux
	body := []byte(`{"eventType":"EmployeeTermination","userId":"E1","email":"erin@example.test","endDate":"` +
		localDate(time.Now(), 5) + `T00:00:00Z","reason":"resigned","involuntary":false}`)
	rec := e.postSF(body, "sf-down")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("answered %d %s, want 503", rec.Code, rec.Body)
	}
	e.nothingRecorded()
}
