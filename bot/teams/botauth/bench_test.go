package botauth_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkVerify50Concurrent verifies 50 concurrent signed activities per
// iteration (keys cached after the first) and reports the p99 latency of
// one request through Verify.
func BenchmarkVerify50Concurrent(b *testing.B) {
	e := newEnv(b, "")
	body := activity(serviceURL, "msteams")
	toks := make([]string, 50)
	for i := range toks {
		c := good()
		c.Subject = fmt.Sprint("req-", i)
		toks[i] = "Bearer " + e.bf.Mint("key-1", c)
	}
	if w := e.post(toks[0], body); w.Code != http.StatusOK {
		b.Fatalf("warm-up: %d", w.Code)
	}
	var lat []time.Duration
	var mu sync.Mutex
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, tok := range toks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				t := time.Now()
				w := e.post(tok, body)
				d := time.Since(t)
				if w.Code != http.StatusOK {
					b.Errorf("status %d", w.Code)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
	}
	b.StopTimer()
	slices.Sort(lat)
	p99 := lat[(len(lat)*99)/100]
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}
