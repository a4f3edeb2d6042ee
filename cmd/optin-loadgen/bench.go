package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/optin-gateway/optin-gateway/internal/loadgen"
)

// report is bench/report.json.
type report struct {
	GeneratedAt string `json:"generated_at"`
	Machine     struct {
		CPUs       int    `json:"cpus"`
		LoadBefore string `json:"loadavg_before"`
		LoadAfter  string `json:"loadavg_after"`
		GoVersion  string `json:"go_version"`
	} `json:"machine"`
	RedisAppendfsync string   `json:"redis_appendfsync"`
	RedisArgs        []string `json:"redis_args"`
	DurationS        float64  `json:"duration_s_per_route"`
	Concurrency      int      `json:"concurrency"`

	HelloRPS             float64            `json:"hello_rps"`
	BaselineRPS          float64            `json:"baseline_rps"`
	FullRPS              float64            `json:"full_rps"`
	FullPctOfHello       float64            `json:"full_rps_pct_of_hello"`
	BaselinePctOfHello   float64            `json:"baseline_rps_pct_of_hello"`
	FullP99AtHalfPeak    float64            `json:"full_p99_ms_at_half_peak"`
	FullP50AtHalfPeak    float64            `json:"full_p50_ms_at_half_peak"`
	HelloP99AtHalfPeak   float64            `json:"hello_p99_ms_at_same_rate"`
	RoundTripsPerMessage float64            `json:"redis_round_trips_per_message"`
	GatewayRoundTripsPer float64            `json:"redis_round_trips_per_message_gateway_metrics"`
	RedisCommandsPerMsg  map[string]float64 `json:"redis_commands_per_message"`
	ConsentRPS           float64            `json:"consent_rps"`
	ConsentPctOfHello    float64            `json:"consent_rps_pct_of_hello"`
	ConsentP99           float64            `json:"consent_p99_ms"`
	ConsentRoundTrips    float64            `json:"consent_redis_round_trips_per_check"`
	Plot                 string             `json:"plot"`
	Runs                 []*measurement     `json:"runs"`
}

// runBench starts a private redis-server with appendfsync always and the
// gateway binary on free ports, measures the three routes in one run and
// writes the report and the plot.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("optin-loadgen bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gatewayBin := fs.String("gateway-bin", "bin/optin-gateway", "the optin-gateway binary")
	cfgFile := fs.String("config", "config/example.yaml", "the gateway's configuration file (secrets, addresses and Redis are set by bench)")
	redisBin := fs.String("redis-server", "redis-server", "the redis-server binary")
	dur := fs.Duration("duration", envDuration("BENCH_DURATION", 20*time.Second), "measuring time per route (default $BENCH_DURATION or 20s)")
	warmup := fs.Duration("warmup", 2*time.Second, "load before each measurement, left out of the figures")
	conc := fs.Int("concurrency", 32, "closed-loop requests in flight for the peak runs")
	out := fs.String("out", "bench", "where report.json and latency.svg go")
	scratch := fs.String("scratch", "bench/out", "scratch directory: Redis data, logs, profiles")
	redisArgs := fs.String("redis-args", "", `extra redis-server arguments, space separated, e.g. "--auto-aof-rewrite-percentage 0" (the report records them)`)
	consentTenant := fs.String("consent-tenant", "demo", "the tenant whose consent checks the consent run asks (of the configuration file)")
	consentCampaign := fs.String("consent-campaign", "deals", `the campaign the consent run asks about ("" for every campaign of the tenant)`)
	cpuprofile := fs.Bool("cpuprofile", false, "save 4 s CPU profiles of the gateway during the full route's runs (peak and half peak) to the scratch directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(*scratch, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(*scratch, "run-")
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stdout, "bench: "+format+"\n", a...) }

	var rep report
	rep.GeneratedAt = time.Now().UTC().Format(time.RFC3339)
	rep.Machine.CPUs, rep.Machine.GoVersion, rep.Machine.LoadBefore = runtime.NumCPU(), runtime.Version(), loadavg()
	rep.DurationS, rep.Concurrency = dur.Seconds(), *conc

	redisPort, err := freePort()
	if err != nil {
		return err
	}
	redisURL := fmt.Sprintf("redis://127.0.0.1:%d", redisPort)
	rargs := append([]string{"--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1", "--dir", dir,
		// As docker-compose.yml runs it: AOF fsync'd on every write, and
		// rewritten only once it reaches 1gb.
		"--appendonly", "yes", "--appendfsync", "always", "--aof-load-truncated", "no", "--auto-aof-rewrite-min-size", "1gb", "--save", ""}, strings.Fields(*redisArgs)...)
	rep.RedisArgs = rargs[6:]
	stopRedis, redisPID, err := start(ctx, filepath.Join(dir, "redis.log"), *redisBin, rargs...)
	if err != nil {
		return fmt.Errorf("bench: redis-server: %w", err)
	}
	defer stopRedis()
	if err := waitRedis(redisURL, &rep); err != nil {
		return err
	}
	logf("redis-server on %s, appendfsync %s, data in %s", redisURL, rep.RedisAppendfsync, dir)

	gwPort, err := freePort()
	if err != nil {
		return err
	}
	gwURL := fmt.Sprintf("http://127.0.0.1:%d", gwPort)
	token, admin, master := randHex(16), randHex(16), make([]byte, 32)
	_, _ = rand.Read(master)
	env := append(os.Environ(),
		"OPTIN_ADDR=127.0.0.1:"+strconv.Itoa(gwPort), "OPTIN_PUBLIC_URL="+gwURL, "OPTIN_REDIS_URL="+redisURL,
		"OPTIN_TWILIO_AUTH_TOKEN="+token, "OPTIN_ADMIN_TOKEN="+admin,
		"OPTIN_MASTER_KEY="+base64.StdEncoding.EncodeToString(master),
		"OPTIN_LOG_FORMAT=json", "OPTIN_LOG_LEVEL=info", "OPTIN_BENCH_ROUTES=true", "OPTIN_DATA_DIR="+dir)
	stopGateway, gwPID, err := startEnv(ctx, filepath.Join(dir, "gateway.log"), env, *gatewayBin, "serve", "--config", *cfgFile)
	if err != nil {
		return fmt.Errorf("bench: gateway: %w", err)
	}
	defer stopGateway()
	if err := waitHTTP(gwURL + "/healthz"); err != nil {
		return fmt.Errorf("bench: gateway did not come up (log: %s): %w", filepath.Join(dir, "gateway.log"), err)
	}
	logf("gateway on %s (log %s)", gwURL, filepath.Join(dir, "gateway.log"))

	var phaseRun func(name string, redis bool, run func(context.Context) (*loadgen.Result, error)) (*measurement, error)
	base := loadgen.Config{
		Target: gwURL, PublicURL: gwURL, AuthToken: token, To: "+12025550100", Odds: loadgen.DefaultOdds,
		Concurrency: *conc, Duration: *dur, Warmup: *warmup, Senders: 30000, Procs: openLoopProcs,
	}
	phase := func(name, path string, rate float64, seed uint64, redis bool) (*measurement, error) {
		cfg := base
		cfg.Path, cfg.Flows, cfg.Rate, cfg.Seed = path, path == webhookPath, rate, seed
		return phaseRun(name, redis, func(ctx context.Context) (*loadgen.Result, error) { return loadgen.Run(ctx, cfg) })
	}
	phaseRun = func(name string, redis bool, run func(context.Context) (*loadgen.Result, error)) (*measurement, error) {
		r := ""
		if redis {
			r = redisURL
		}
		watch, err := loadgen.DialRedis(redisURL)
		if err == nil {
			if err = watch.WatchFsync(); err != nil {
				watch.Close()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("bench: %s: redis latency monitor: %w", name, err)
		}
		defer watch.Close()
		g0, r0, l0 := cpuTime(gwPID), cpuTime(redisPID), selfCPUTime()
		rw0 := aofRewrites(filepath.Join(dir, "redis.log"))
		m, err := measureRun(ctx, run, r)
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", name, err)
		}
		if m.Total > 0 {
			per := func(d time.Duration) float64 { return round1(float64(d.Microseconds()) / float64(m.Total)) }
			m.CPU = &cpuFigures{
				Gateway: per(cpuTime(gwPID) - g0), Redis: per(cpuTime(redisPID) - r0), Loadgen: per(selfCPUTime() - l0),
			}
		}
		m.AOFRewrites = aofRewrites(filepath.Join(dir, "redis.log")) - rw0
		if st, err := watch.Fsync(); err == nil {
			m.Fsync = &st
		}
		logf("%-10s %s", name, m.Result)
		if m.AOFRewrites > 0 {
			logf("%-10s Redis rewrote its AOF %d times during this run (fork and a full write of the data set)", "", m.AOFRewrites)
		}
		if m.CPU != nil {
			logf("%-10s cpu µs/request: gateway %.1f, redis %.1f, loadgen %.1f", "", m.CPU.Gateway, m.CPU.Redis, m.CPU.Loadgen)
		}
		if m.Fsync != nil {
			logf("%-10s redis fsync: longest %d ms, %d s with one of 10 ms or more", "", m.Fsync.MaxMs, m.Fsync.SecondsOver10)
		}
		rep.Runs = append(rep.Runs, m)
		return m, nil
	}

	// Fill the gateway's Redis connection pool (and the OS's caches) so
	// that no run pays for connection handshakes; not reported.
	warm := base
	warm.Path, warm.Flows, warm.Seed, warm.Duration, warm.Warmup = webhookPath, true, 5<<20, 2*time.Second, 0
	if _, err := loadgen.Run(ctx, warm); err != nil {
		return fmt.Errorf("bench: warm-up: %w", err)
	}

	hello, err := phase("hello", "/bench/hello", 0, 1, false)
	if err != nil {
		return err
	}
	baseline, err := phase("baseline", "/bench/baseline", 0, 1<<20, false)
	if err != nil {
		return err
	}
	rtBefore, err := gatewayRoundTrips(gwURL, admin)
	if err != nil {
		return err
	}
	profile := func(name string) func() {
		if !*cpuprofile {
			return func() {}
		}
		done := make(chan error, 1)
		path := filepath.Join(dir, "cpu-"+name+".pprof")
		go func() {
			time.Sleep(*warmup + *dur/4)
			done <- fetch(gwURL+"/debug/pprof/profile?seconds=4", path)
		}()
		return func() {
			if err := <-done; err != nil {
				logf("cpu profile: %v", err)
				return
			}
			logf("cpu profile: go tool pprof -top %s %s", *gatewayBin, path)
		}
	}
	profiled := profile("full")
	full, err := phase("full", webhookPath, 0, 2<<20, true)
	if err != nil {
		return err
	}
	profiled()
	rtAfter, err := gatewayRoundTrips(gwURL, admin)
	if err != nil {
		return err
	}
	profiled = profile("half")
	half, err := phase("full@half", webhookPath, full.RPS/2, 3<<20, true)
	if err != nil {
		return err
	}
	profiled()

	// The same rate on the route that does nothing shows what the machine
	// itself (load generator, scheduler, other tenants) adds to latency.
	helloHalf, err := phase("hello@half", "/bench/hello", full.RPS/2, 4<<20, false)
	if err != nil {
		return err
	}
	rep.HelloP99AtHalfPeak = helloHalf.P99

	// Consent checks of the numbers the webhook runs enrolled, as a
	// sending system asks before each send (issue 9): closed loop at the
	// same concurrency as the peak runs, with the operator's token.
	consent, err := phaseRun("consent", true, func(ctx context.Context) (*loadgen.Result, error) {
		return loadgen.RunConsent(ctx, loadgen.ConsentConfig{
			Target: gwURL, Token: admin, Tenant: *consentTenant, Campaign: *consentCampaign,
			Concurrency: *conc, Warmup: *warmup, Duration: *dur, Senders: base.Senders,
		})
	})
	if err != nil {
		return err
	}
	rep.ConsentRPS, rep.ConsentP99 = round1(consent.RPS), consent.P99
	if hello.RPS > 0 {
		rep.ConsentPctOfHello = round1(100 * consent.RPS / hello.RPS)
	}
	if consent.Redis != nil {
		rep.ConsentRoundTrips = consent.Redis.RoundTripsPerMessage
	}

	rep.HelloRPS, rep.BaselineRPS, rep.FullRPS = round1(hello.RPS), round1(baseline.RPS), round1(full.RPS)
	if hello.RPS > 0 {
		rep.FullPctOfHello = round1(100 * full.RPS / hello.RPS)
		rep.BaselinePctOfHello = round1(100 * baseline.RPS / hello.RPS)
	}
	rep.FullP99AtHalfPeak, rep.FullP50AtHalfPeak = half.P99, half.P50
	rep.RoundTripsPerMessage = full.Redis.RoundTripsPerMessage
	rep.RedisCommandsPerMsg = full.Redis.CommandsPerMessage
	if full.Total > 0 {
		rep.GatewayRoundTripsPer = round3((rtAfter - rtBefore) / float64(full.Total))
	}
	rep.Machine.LoadAfter = loadavg()

	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	rep.Plot = "latency.svg"
	svg, err := os.Create(filepath.Join(*out, rep.Plot))
	if err != nil {
		return err
	}
	var series []loadgen.PlotSeries
	for _, m := range rep.Runs {
		name := m.Route
		if m.Mode == "open" {
			name += fmt.Sprintf(" @%.0f/s", m.Rate)
		}
		series = append(series, loadgen.PlotSeries{Name: name, Points: m.Series})
	}
	title := fmt.Sprintf("optin-gateway latency over time, %d CPUs, appendfsync %s, %s", rep.Machine.CPUs, rep.RedisAppendfsync, rep.GeneratedAt)
	if err := loadgen.WriteSVG(svg, title, series); err != nil {
		svg.Close()
		return err
	}
	if err := svg.Close(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "report.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	logf("hello %.0f/s, baseline %.0f/s (%.1f%%), full %.0f/s (%.1f%% of hello), full p99 at half peak %.2f ms (hello at that rate %.2f ms), %.3f Redis round trips per message (gateway's own count %.3f)",
		rep.HelloRPS, rep.BaselineRPS, rep.BaselinePctOfHello, rep.FullRPS, rep.FullPctOfHello, rep.FullP99AtHalfPeak, rep.HelloP99AtHalfPeak, rep.RoundTripsPerMessage, rep.GatewayRoundTripsPer)
	logf("consent checks %.0f/s (%.1f%% of hello), p99 %.2f ms, %.3f Redis round trips per check",
		rep.ConsentRPS, rep.ConsentPctOfHello, rep.ConsentP99, rep.ConsentRoundTrips)
	logf("wrote %s and %s", filepath.Join(*out, "report.json"), filepath.Join(*out, rep.Plot))
	return nil
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(ctx context.Context, logPath, bin string, args ...string) (func(), int, error) {
	return startEnv(ctx, logPath, nil, bin, args...)
}

// startEnv starts bin with its output in logPath and returns a function
// that stops it (SIGTERM, then SIGKILL after five seconds) and waits, and
// its process id.
func startEnv(ctx context.Context, logPath string, env []string, bin string, args ...string) (func(), int, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, 0, err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		lf.Close()
		close(done)
	}()
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}, cmd.Process.Pid, nil
}

// cpuTime returns the CPU time (user and system) process pid has used, or
// 0 where /proc is not there.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// selfCPUTime is cpuTime of this process.
func selfCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitRedis waits until Redis answers INFO and records its appendfsync.
func waitRedis(url string, rep *report) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ri, err := loadgen.DialRedis(url)
		if err == nil {
			fsync, err := ri.ConfigGet("appendfsync")
			ri.Close()
			if err == nil {
				rep.RedisAppendfsync = fsync
				if fsync != "always" {
					return fmt.Errorf("bench: redis appendfsync is %q; want always", fsync)
				}
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: redis at %s did not answer: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fetch(url, path string) error {
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// gatewayRoundTrips sums the gateway's optin_redis_duration_seconds_count:
// the round trips its store made to Redis. /metrics takes the operator's
// token, admin.
func gatewayRoundTrips(base, admin string) (float64, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s/metrics: status %d", base, resp.StatusCode)
	}
	return loadgen.SumMetric(bufio.NewReader(resp.Body), "optin_redis_duration_seconds_count")
}

// aofRewrites counts the AOF rewrites Redis has started, from its log.
func aofRewrites(logPath string) int {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "Starting automatic rewriting of AOF")
}
