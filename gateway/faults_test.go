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
// gone requests succeed again. It asserts bounds, not speed: the figures
// it logs are the measurement.
func TestSlowRedis(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	const timeout = time.Second
	h := newHarnessOn(t, proxy.URL(), func(o *gateway.Options) { o.HTTP.RequestTimeout = timeout })
	h.redis, h.rdb = srv, srv.Client(t)
	n, concurrency := 60, 12
	if testing.Short() {
		n = 30
	}
	// Every request's latency must stay under bound: far above the
	// expected figure, so that only an unbounded wait fails, not a busy
	// machine. With added latency a request may still time out (503) when
	// the machine is loaded; most must succeed.
	phases := []struct {
		name     string
		npa      int
		delay    time.Duration
		status   int
		atLeast  int // how many of n must answer status
		bound    time.Duration
		okStatus []int
	}{
		{"no added latency", 202, 0, http.StatusOK, n, timeout, nil},
		{"10 ms per chunk", 212, 10 * time.Millisecond, http.StatusOK, n / 2, timeout + 3*time.Second, []int{http.StatusServiceUnavailable}},
		// Under 3 s, the wait of one chunk: a request the timeout did not
		// end would take longer.
		{"3 s per chunk, slower than the 1 s request timeout", 303, 3 * time.Second, http.StatusServiceUnavailable, n, 2500 * time.Millisecond, nil},
		{"latency removed", 415, 0, http.StatusOK, n, timeout, nil},
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
		for s, k := range counts {
			if s != ph.status && !slices.Contains(ph.okStatus, s) {
				t.Errorf("%s: %d answers %d; want %d", ph.name, k, s, ph.status)
			}
		}
		if counts[ph.status] < ph.atLeast {
			t.Errorf("%s: statuses %v; want at least %d of %d to be %d", ph.name, counts, ph.atLeast, n, ph.status)
		}
		if got := lat.quantile(1); got > ph.bound {
			t.Errorf("%s: slowest request took %v; want under %v", ph.name, got, ph.bound)
		}
		if got := health.quantile(1); got > time.Second {
			t.Errorf("%s: slowest /healthz took %v; want under 1s", ph.name, got)
		}
	}
}
