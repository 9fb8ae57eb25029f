package teamsapp_test

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkAck50Concurrent posts 50 signed message activities at once
// ("status @Erin": token check, people mapping, a database read) and
// reports the p99 of the time to Teams' acknowledgement (the HTTP answer;
// the reply goes out through the connector afterwards).
func BenchmarkAck50Concurrent(b *testing.B) {
	e := newEnv(b)
	tok := e.token()
	var all []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lat := make([]time.Duration, 50)
		var wg sync.WaitGroup
		for j := range lat {
			msg := e.message(mia, "status <at>Erin</at>", map[string]string{"Erin": erin})
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				if w := e.post(msg, tok); w.Code != http.StatusOK {
					b.Errorf("answered %d", w.Code)
				}
				lat[j] = time.Since(start)
			}()
		}
		wg.Wait()
		all = append(all, lat...)
	}
	b.StopTimer()
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "ack-p99-ms")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "ack-p50-ms")
}
