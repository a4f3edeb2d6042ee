package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// ConsentConfig is a closed-loop run of consent checks
// (GET /v1/tenants/{Tenant}/consent?phone=…&campaign=…) over Senders
// distinct numbers, with a bearer token (a sender token, or the
// operator's).
type ConsentConfig struct {
	Target      string // scheme://host:port
	Token       string
	Tenant      string
	Campaign    string // "" checks every campaign of the tenant
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
	Senders     int // default 20000
	Bucket      time.Duration
}

// ConsentPath is the route RunConsent drives, as its Result names it.
const ConsentPath = "/v1/tenants/{tenant}/consent"

// RunConsent drives consent checks as cfg says until its duration is over
// or ctx is done, and measures them like Run.
func RunConsent(ctx context.Context, cfg ConsentConfig) (*Result, error) {
	if cfg.Duration <= 0 || cfg.Concurrency <= 0 {
		return nil, errors.New("loadgen: consent: a duration and a concurrency are required")
	}
	if cfg.Senders <= 0 {
		cfg.Senders = 20000
	}
	if cfg.Bucket <= 0 {
		cfg.Bucket = 250 * time.Millisecond
	}
	tr := &http.Transport{MaxIdleConns: cfg.Concurrency, MaxIdleConnsPerHost: cfg.Concurrency, MaxConnsPerHost: cfg.Concurrency}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	base := cfg.Target + "/v1/tenants/" + url.PathEscape(cfg.Tenant) + "/consent?"
	numbers := Numbers(cfg.Senders)
	urls := make([]string, len(numbers))
	for i, n := range numbers {
		q := url.Values{"phone": {n}}
		if cfg.Campaign != "" {
			q.Set("campaign", cfg.Campaign)
		}
		urls[i] = base + q.Encode()
	}
	r := &runner{cfg: Config{Path: ConsentPath, Concurrency: cfg.Concurrency, Warmup: cfg.Warmup, Duration: cfg.Duration, Bucket: cfg.Bucket}}
	ctx, cancel := context.WithTimeout(ctx, cfg.Warmup+cfg.Duration)
	defer cancel()
	r.start = time.Now()
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				next.Lock()
				u := urls[i%len(urls)]
				i++
				next.Unlock()
				due := time.Now()
				status := "transport"
				req, err := http.NewRequest(http.MethodGet, u, nil)
				if err == nil {
					req.Header.Set("Authorization", "Bearer "+cfg.Token)
					var resp *http.Response
					if resp, err = hc.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						status = strconv.Itoa(resp.StatusCode)
					}
				}
				r.record(sample{at: due.Sub(r.start), lat: time.Since(due), status: status, kind: "consent"})
			}
		})
	}
	wg.Wait()
	return r.result(), nil
}
