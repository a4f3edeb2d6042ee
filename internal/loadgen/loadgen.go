// Package loadgen drives signed Twilio webhooks at a gateway and measures
// it: open-loop at a rate or closed-loop at a concurrency, over many
// distinct senders walking through realistic flows. cmd/optin-loadgen is
// its command line.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/optin-gateway/optin-gateway/provider/twilio"
)

// Config is one load run against one route.
type Config struct {
	// Target is where requests go (scheme://host:port); PublicURL is what
	// the signature covers (the gateway's configured public URL).
	Target, PublicURL string
	Path              string // the route, e.g. /v1/webhooks/twilio/sms
	AuthToken         string // Twilio auth token to sign with; "" sends no signature
	To                string // the business number
	// Flows walks every sender through keyword → code → STOP with detours
	// (Odds), reading the codes from the replies. Without it every request
	// is a fresh JOIN (for routes that do not answer with TwiML).
	Flows bool
	Odds  Odds
	// Rate > 0 runs open-loop at Rate requests per second (latency counts
	// from when a request was due, so a slow server cannot hide its queue);
	// otherwise closed-loop with Concurrency requests in flight.
	Rate        float64
	Concurrency int
	MaxInFlight int // open-loop: requests beyond it are dropped and counted; default 1024
	// Procs > 0 sets GOMAXPROCS while the open loop runs. The setting is
	// process-wide, so only a process that runs nothing else (the
	// optin-loadgen command) should set it; 0 leaves it.
	Procs    int
	Warmup   time.Duration // sent but left out of the figures
	Duration time.Duration
	Senders  int // distinct sender numbers; default 20000
	Seed     uint64
	// Bucket is the width of the latency-over-time series; default 250ms.
	Bucket time.Duration
}

// Result is what one run measured; durations are in milliseconds.
type Result struct {
	Route       string         `json:"route"`
	Mode        string         `json:"mode"` // open or closed
	Rate        float64        `json:"target_rps,omitempty"`
	Concurrency int            `json:"concurrency,omitempty"`
	Seconds     float64        `json:"seconds"`
	Requests    int            `json:"requests"`
	RPS         float64        `json:"rps"`
	P50         float64        `json:"p50_ms"`
	P99         float64        `json:"p99_ms"`
	P999        float64        `json:"p999_ms"`
	Max         float64        `json:"max_ms"`
	Statuses    map[string]int `json:"statuses"`        // "200", "403", "transport", "dropped"
	Kinds       map[string]int `json:"kinds,omitempty"` // messages sent by kind (join, code, …)
	Series      []Point        `json:"series"`
	// Total counts every request of the run, warm-up included.
	Total int `json:"total_requests"`
}

// Point is one bucket of the latency-over-time series.
type Point struct {
	At  float64 `json:"t_s"` // bucket start, seconds since the measured window began
	RPS float64 `json:"rps"`
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
}

// sample is one finished request.
type sample struct {
	at     time.Duration // when it was due or started, since the run began
	lat    time.Duration
	status string
	kind   string
}

// runner is the state of one run.
type runner struct {
	cfg     Config
	post    *poster
	signer  *twilio.Signer
	signURL string
	persons chan *Person
	start   time.Time

	mu      sync.Mutex
	samples []sample
}

// Run drives the load of cfg until its duration is over or ctx is done.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Duration <= 0 {
		return nil, errors.New("loadgen: duration must be positive")
	}
	if cfg.Rate <= 0 && cfg.Concurrency <= 0 {
		return nil, errors.New("loadgen: a rate or a concurrency is required")
	}
	if cfg.Senders <= 0 {
		cfg.Senders = 20000
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.Bucket <= 0 {
		cfg.Bucket = 250 * time.Millisecond
	}
	conns := cfg.Concurrency
	if cfg.Rate > 0 {
		conns = cfg.MaxInFlight
	}
	post, err := newPoster(cfg.Target+cfg.Path, conns, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer post.close()
	numbers := Numbers(cfg.Senders)
	r := &runner{
		cfg:     cfg,
		post:    post,
		signer:  twilio.NewSigner(cfg.AuthToken),
		signURL: cfg.PublicURL + cfg.Path,
		persons: make(chan *Person, len(numbers)),
	}
	for i, n := range numbers {
		r.persons <- NewPerson(n, cfg.Seed+uint64(i))
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Warmup+cfg.Duration)
	defer cancel()
	r.start = time.Now()
	if cfg.Rate > 0 {
		r.openLoop(ctx)
	} else {
		r.closedLoop(ctx)
	}
	return r.result(), nil
}

// closedLoop keeps Concurrency requests in flight until ctx is done.
func (r *runner) closedLoop(ctx context.Context) {
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				p := <-r.persons
				r.send(p, time.Now())
				r.persons <- p
			}
		})
	}
	wg.Wait()
}

// openLoop starts a request every 1/Rate seconds, on schedule whatever the
// server's pace, until ctx is done.
func (r *runner) openLoop(ctx context.Context) {
	if r.cfg.Procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(r.cfg.Procs))
	}
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	sem := make(chan struct{}, r.cfg.MaxInFlight)
	var wg sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		due := r.start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // at most one interval: ctx is checked each turn
			if ctx.Err() != nil {
				break
			}
		}
		var p *Person
		select {
		case sem <- struct{}{}:
			select {
			case p = <-r.persons:
			default:
			}
		default:
		}
		if p == nil {
			r.record(sample{at: due.Sub(r.start), status: "dropped"})
			continue
		}
		wg.Go(func() {
			r.send(p, due)
			r.persons <- p
			<-sem
		})
	}
	wg.Wait()
}

// send posts p's next message and records its latency from due.
func (r *runner) send(p *Person, due time.Time) {
	var m *Message
	if r.cfg.Flows {
		m = p.Next(r.cfg.To, r.cfg.Odds)
	} else {
		p.seq++
		sid := p.sid()
		m = &Message{Sid: sid, Text: "JOIN", Kind: "fixed", Form: InboundForm(sid, p.From, r.cfg.To, "JOIN")}
	}
	sig := ""
	if r.cfg.AuthToken != "" {
		sig = r.signer.Sign(r.signURL, m.Form)
	}
	code, reply, err := r.post.post([]byte(m.Form.Encode()), sig)
	status := "transport"
	if err == nil {
		status = strconv.Itoa(code)
		if r.cfg.Flows {
			p.Observe(m, code, reply)
		}
	}
	r.record(sample{at: due.Sub(r.start), lat: time.Since(due), status: status, kind: m.Kind})
}

func (r *runner) record(s sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

// result summarises the samples due after the warm-up.
func (r *runner) result() *Result {
	res := &Result{
		Route:       r.cfg.Path,
		Mode:        "closed",
		Concurrency: r.cfg.Concurrency,
		Seconds:     r.cfg.Duration.Seconds(),
		Statuses:    map[string]int{},
		Kinds:       map[string]int{},
		Total:       len(r.samples),
	}
	if r.cfg.Rate > 0 {
		res.Mode, res.Rate, res.Concurrency = "open", r.cfg.Rate, 0
	}
	var lats []time.Duration
	buckets := make([][]time.Duration, int(math.Ceil(float64(r.cfg.Duration)/float64(r.cfg.Bucket))))
	for _, s := range r.samples {
		if s.at < r.cfg.Warmup || s.at >= r.cfg.Warmup+r.cfg.Duration {
			continue
		}
		res.Requests++
		res.Statuses[s.status]++
		if s.kind != "" {
			res.Kinds[s.kind]++
		}
		if s.status == "dropped" {
			continue
		}
		lats = append(lats, s.lat)
		b := int((s.at - r.cfg.Warmup) / r.cfg.Bucket)
		buckets[b] = append(buckets[b], s.lat)
	}
	answered := res.Requests - res.Statuses["dropped"] - res.Statuses["transport"]
	res.RPS = float64(answered) / r.cfg.Duration.Seconds()
	slices.Sort(lats)
	res.P50, res.P99, res.P999 = ms(Percentile(lats, 0.50)), ms(Percentile(lats, 0.99)), ms(Percentile(lats, 0.999))
	if len(lats) > 0 {
		res.Max = ms(lats[len(lats)-1])
	}
	for i, b := range buckets {
		slices.Sort(b)
		res.Series = append(res.Series, Point{
			At:  (time.Duration(i) * r.cfg.Bucket).Seconds(),
			RPS: float64(len(b)) / r.cfg.Bucket.Seconds(),
			P50: ms(Percentile(b, 0.50)),
			P99: ms(Percentile(b, 0.99)),
		})
	}
	return res
}

// Percentile returns the p-quantile (0 < p ≤ 1) of sorted by the
// nearest-rank method: the smallest value with at least p of the values at
// or below it. It returns 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// ms is d in milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// String is a one-line summary of r.
func (r *Result) String() string {
	return fmt.Sprintf("%-26s %-6s %8.0f req/s  p50 %7.2f ms  p99 %7.2f ms  p99.9 %7.2f ms  statuses %v",
		r.Route, r.Mode, r.RPS, r.P50, r.P99, r.P999, r.Statuses)
}
