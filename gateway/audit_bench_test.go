package gateway_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/store"
)

// BenchmarkArchiverLag measures, for b.N STOP webhooks sent by 8 clients
// at once, the lag between the webhook's answer and the fsync of its audit
// record by an archiver running alongside (p50 and p99), and the
// end-to-end rate of records made durable.
func BenchmarkArchiverLag(b *testing.B) {
	h, dir := newAuditHarness(b)
	var mu sync.Mutex
	synced := map[string]time.Time{} // message sid → fsync'd at
	all := make(chan struct{})
	stop := startArchiver(b, h, store.ArchiverOptions{Dir: dir, LeaseTTL: time.Second,
		OnCommit: func(c store.Commit) {
			mu.Lock()
			defer mu.Unlock()
			for _, id := range c.EventIDs {
				sid := strings.Split(id, ":")[1] // twilio:SID:campaign:i
				synced[sid] = c.SyncedAt
			}
			if len(synced) >= b.N && all != nil {
				close(all)
				all = nil
			}
		}})
	done := all

	const clients = 8
	answered := make([]map[string]time.Time, clients)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		answered[c] = map[string]time.Time{}
		wg.Go(func() {
			for i := c; i < b.N; i += clients {
				sid := fmt.Sprintf("SM%032x", i)
				from := fmt.Sprintf("+1212555%04d", 100+i%100) // +1 212 555 01XX
				r := h.post(inboundForm(sid, from, quietNumber, "STOP"))
				if r.status != http.StatusOK {
					b.Errorf("STOP: status %d", r.status)
					return
				}
				answered[c][sid] = time.Now()
			}
		})
	}
	wg.Wait()
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	stop()

	var lags []time.Duration
	for _, m := range answered {
		for sid, at := range m {
			lags = append(lags, synced[sid].Sub(at))
		}
	}
	slices.Sort(lags)
	pct := func(p float64) float64 {
		return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "lag-p50-ms")
	b.ReportMetric(pct(0.99), "lag-p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "durable-events/s")
}
