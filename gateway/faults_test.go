package gateway_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// latencies summarises request latencies.
type latencies []time.Duration

func (l latencies) quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func (l latencies) String() string {
	return fmt.Sprintf("p50 %v p99 %v max %v", l.quantile(0.5).Round(time.Millisecond),
		l.quantile(0.99).Round(time.Millisecond), l.quantile(1).Round(time.Millisecond))
}

// burst posts JOIN from n numbers of area code npa (+1 npa 555 01XX),
// concurrency at a time, and returns each answer's status and latency.
func (h *harness) burst(npa, n, concurrency int) ([]int, latencies) {
	statuses := make([]int, n)
	lat := make(latencies, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				start := time.Now()
				statuses[i] = h.post(inboundForm(newSid(), fmt.Sprintf("+1%03d55501%02d", npa, i%100), bizNumber, "JOIN")).status
				lat[i] = time.Since(start)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return statuses, lat
}

// TestSlowRedis puts a proxy that delays every chunk of bytes between the
// gateway and Redis: with some latency requests slow down by about that
// much; with Redis slower than the request timeout every request answers
// 503 with Retry-After near the timeout, never later (no queue builds up
// behind the slow Redis), /healthz stays fast, and once the latency is
// gone requests succeed again.
func TestSlowRedis(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	const timeout = 500 * time.Millisecond
	h := newHarnessOn(t, proxy.URL(), func(o *gateway.Options) { o.RequestTimeout = timeout })
	h.redis, h.rdb = srv, srv.Client(t)
	n, concurrency := 60, 12
	if testing.Short() {
		n = 30
	}
	phases := []struct {
		name   string
		npa    int
		delay  time.Duration
		status int
		// bound is what every request's latency must stay under: far
		// above the expected figure, so only an unbounded wait fails.
		bound time.Duration
	}{
		{"no added latency", 202, 0, http.StatusOK, timeout},
		{"10 ms per chunk", 212, 10 * time.Millisecond, http.StatusOK, timeout},
		{"2 s per chunk, slower than the 500 ms request timeout", 303, 2 * time.Second, http.StatusServiceUnavailable, timeout + time.Second},
		{"latency removed", 415, 0, http.StatusOK, timeout},
	}
	for _, ph := range phases {
		proxy.SetDelay(ph.delay)
		var health latencies
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				start := time.Now()
				if r := h.get("/healthz", ""); r.status != http.StatusOK {
					t.Errorf("%s: /healthz = %d; want 200", ph.name, r.status)
				}
				health = append(health, time.Since(start))
			}
		})
		statuses, lat := h.burst(ph.npa, n, concurrency)
		close(stop)
		wg.Wait()
		counts := map[int]int{}
		for _, s := range statuses {
			counts[s]++
		}
		t.Logf("injected %v per chunk (%s): %d requests, %d at a time: statuses %v; webhook %v; /healthz %v",
			ph.delay, ph.name, n, concurrency, counts, lat, health)
		if counts[ph.status] != n {
			t.Errorf("%s: statuses %v; want all %d", ph.name, counts, ph.status)
		}
		if got := lat.quantile(1); got > ph.bound {
			t.Errorf("%s: slowest request took %v; want under %v", ph.name, got, ph.bound)
		}
		if got := health.quantile(1); got > time.Second {
			t.Errorf("%s: slowest /healthz took %v; want under 1s", ph.name, got)
		}
	}
}
