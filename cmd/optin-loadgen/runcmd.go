package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/optin-gateway/optin-gateway/internal/loadgen"
)

// webhookPath is the route of Twilio's inbound webhook.
const webhookPath = "/v1/webhooks/twilio/sms"

// runRun drives one route of a running gateway and prints what it
// measured; with --redis-url also the Redis round trips per message.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("optin-loadgen run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "the gateway's address")
	publicURL := fs.String("public-url", "", "the gateway's public URL, which signatures cover (default: --target)")
	path := fs.String("path", webhookPath, "the route: "+webhookPath+", /bench/baseline or /bench/hello")
	token := fs.String("token", os.Getenv("OPTIN_TWILIO_AUTH_TOKEN"), "Twilio auth token to sign with (default: $OPTIN_TWILIO_AUTH_TOKEN)")
	to := fs.String("to", "+12025550100", "the business number")
	rate := fs.Float64("rate", 0, "open-loop: requests per second (0: closed-loop)")
	conc := fs.Int("concurrency", 32, "closed-loop: requests in flight")
	procs := fs.Int("procs", openLoopProcs, "open-loop: GOMAXPROCS while sending (0: leave it)")
	dur := fs.Duration("duration", 10*time.Second, "how long to measure")
	warmup := fs.Duration("warmup", time.Second, "load before measuring, left out of the figures")
	senders := fs.Int("senders", 20000, "distinct sender numbers (+1 NPA 555 01XX)")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "seeds the message ids and detours; runs with one seed resend the same messages")
	redisURL := fs.String("redis-url", "", "the gateway's Redis, to count round trips per message from INFO")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := loadgen.Config{
		Target: strings.TrimRight(*target, "/"), PublicURL: strings.TrimRight(*publicURL, "/"),
		Path: *path, AuthToken: *token, To: *to, Flows: *path == webhookPath, Odds: loadgen.DefaultOdds,
		Rate: *rate, Concurrency: *conc, Duration: *dur, Warmup: *warmup, Senders: *senders, Seed: *seed, Procs: *procs,
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = cfg.Target
	}
	m, err := measure(ctx, cfg, *redisURL)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	fmt.Fprintln(stdout, m.Result)
	if m.Redis != nil {
		fmt.Fprintf(stdout, "redis: %.3f round trips per message (INFO total_reads_processed), commands per message %v\n",
			m.Redis.RoundTripsPerMessage, m.Redis.CommandsPerMessage)
	}
	return nil
}

// measurement is a run's result with the Redis figures around it.
type measurement struct {
	*loadgen.Result
	Redis *redisFigures `json:"redis,omitempty"`
	CPU   *cpuFigures   `json:"cpu_us_per_request,omitempty"`
	// AOFRewrites counts Redis's automatic AOF rewrites during the run
	// (bench only): each forks Redis and writes the whole data set.
	AOFRewrites int `json:"redis_aof_rewrites"`
	// Fsync is what Redis's latency monitor saw of its AOF fsyncs during
	// the run (bench only): a slow disk shows here, not in the CPU figures.
	Fsync *loadgen.FsyncStalls `json:"redis_fsync_stalls,omitempty"`
}

// cpuFigures are the CPU microseconds each process spent per request of a
// run (warm-up included): a figure the other tenants of a shared machine
// disturb far less than throughput and latency.
type cpuFigures struct {
	Gateway float64 `json:"gateway"`
	Redis   float64 `json:"redis"`
	Loadgen float64 `json:"loadgen"`
}

// redisFigures are the Redis work per message answered, from INFO before
// and after the run (warm-up included).
type redisFigures struct {
	Messages             int                `json:"messages"`
	NewConnections       int64              `json:"new_connections"` // their handshakes count as round trips too
	RoundTripsPerMessage float64            `json:"round_trips_per_message"`
	CommandsPerMessage   map[string]float64 `json:"commands_per_message"`
}

// measure runs cfg, reading Redis's INFO before and after when redisURL
// is set.
func measure(ctx context.Context, cfg loadgen.Config, redisURL string) (*measurement, error) {
	return measureRun(ctx, func(ctx context.Context) (*loadgen.Result, error) { return loadgen.Run(ctx, cfg) }, redisURL)
}

// measureRun is measure for any run of the load generator (webhooks,
// consent checks).
func measureRun(ctx context.Context, run func(context.Context) (*loadgen.Result, error), redisURL string) (*measurement, error) {
	var ri *loadgen.RedisInfo
	var before loadgen.RedisStats
	if redisURL != "" {
		var err error
		if ri, err = loadgen.DialRedis(redisURL); err != nil {
			return nil, err
		}
		defer ri.Close()
		if before, err = ri.Stats(); err != nil {
			return nil, err
		}
	}
	res, err := run(ctx)
	if err != nil {
		return nil, err
	}
	m := &measurement{Result: res}
	if ri == nil {
		return m, nil
	}
	after, err := ri.Stats()
	if err != nil {
		return nil, err
	}
	m.Redis = redisPerMessage(after.Sub(before), res.Total)
	return m, nil
}

// redisPerMessage divides the Redis work of d by n messages. The second
// INFO's own read and calls are left out; nothing else is: the handshakes
// of connections opened during the run count as round trips, which is why
// bench warms the gateway's connection pool first.
func redisPerMessage(d loadgen.RedisStats, n int) *redisFigures {
	f := &redisFigures{Messages: n, NewConnections: d.Connections, CommandsPerMessage: map[string]float64{}}
	if n == 0 {
		return f
	}
	d.Calls["info"]--
	f.RoundTripsPerMessage = round3(float64(d.Reads-1) / float64(n))
	for k, v := range d.Calls {
		if v > 0 {
			f.CommandsPerMessage[k] = round3(float64(v) / float64(n))
		}
	}
	return f
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
