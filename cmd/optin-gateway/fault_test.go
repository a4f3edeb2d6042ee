package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// childEnv, when set in a re-executed test binary, makes it run the
// optin-gateway command line given in childArgsEnv (separated by the unit separator, 0x1f)
// instead of the tests: the archiver of the fault test runs as a separate
// process that can be SIGKILLed.
const (
	childEnv     = "OPTIN_TEST_CHILD"
	childArgsEnv = "OPTIN_TEST_CHILD_ARGS"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, strings.Split(os.Getenv(childArgsEnv), "\x1f"), os.Getenv, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "optin-gateway:", err)
			os.Exit(exitCode(err))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Fictional numbers (+1 NPA 555 01XX) and generated secrets only.
const (
	faultBizNumber = "+12025550100"
	faultPublicURL = "https://optin.example.com"
	faultTwilio    = "faulttwiliotoken0123456789abcdef"
	faultAdmin     = "fault-admin-token-0123456789"
)

// writeFaultConfig writes the configuration file that the gateway, the
// archiver process and the operator subcommands all read. An empty redisURL
// leaves Redis out (serve's embedded Redis), an empty dataDir leaves the
// data directory to OPTIN_DATA_DIR; archiveInServe sets
// audit.archive_in_serve.
func writeFaultConfig(tb testing.TB, redisURL, dataDir string, archiveInServe bool) string {
	tb.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	var opt strings.Builder
	if redisURL != "" {
		fmt.Fprintf(&opt, "redis_url: %q\n", redisURL)
	}
	if dataDir != "" {
		fmt.Fprintf(&opt, "data_dir: %q\n", dataDir)
	}
	yaml := fmt.Sprintf(`public_url: %q
%smaster_key: %q
shards: 4
log: {format: json, level: info}
twilio: {auth_token: %q}
admin_token: %q
audit:
  lease_ttl: 500ms
  segment_bytes: 1048576
  archive_in_serve: %t
tenants:
  - id: demo
    name: ACME
    campaigns:
      - id: deals
        name: ACME Deals
        keywords: [JOIN]
        prompt: "Reply {code} to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
        confirmation: "You're subscribed to ACME Deals. Reply STOP to cancel."
        help: "ACME Deals: help at example.com/help. Reply STOP to cancel."
        max_prompts: 1000
        version: 4
    numbers:
      - number: %q
        campaigns: [deals]
        stop_reply: "You're unsubscribed from ACME and will get no more messages."
`, faultPublicURL, opt.String(), base64.StdEncoding.EncodeToString(key), faultTwilio, faultAdmin, archiveInServe, faultBizNumber)
	path := filepath.Join(tb.TempDir(), "optin.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// child is an optin-gateway subcommand running in its own process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// logged reports whether the child's log holds s.
func (c *child) logged(s string) bool {
	b, _ := os.ReadFile(c.log)
	return bytes.Contains(b, []byte(s))
}

// startChild runs optin-gateway args in a new process (the test binary,
// re-executed), its output appended to logPath.
func startChild(tb testing.TB, logPath string, args ...string) *child {
	tb.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1", childArgsEnv+"="+strings.Join(args, "\x1f"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); close(c.done) }()
	tb.Cleanup(func() { c.kill() })
	return c
}

// kill SIGKILLs the process and waits for it to exit.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// faultPhones returns n valid test numbers, +1 NPA 555 01XX.
func faultPhones(tb testing.TB, n int) []string {
	tb.Helper()
	var out []string
	for _, npa := range []string{"202", "212", "213", "312", "415", "617", "718", "305", "404", "503"} {
		for i := 0; i < 100 && len(out) < n; i++ {
			p := fmt.Sprintf("+1%s55501%02d", npa, i)
			if _, err := phone.Parse(p); err != nil {
				tb.Fatalf("%s: %v", p, err)
			}
			out = append(out, p)
		}
	}
	if len(out) < n {
		tb.Fatalf("only %d test numbers; want %d", len(out), n)
	}
	return out
}

// webhookClient posts signed Twilio webhooks and keeps the sids answered 2xx.
type webhookClient struct {
	url    string
	client *http.Client
	seq    atomic.Uint64
	mu     sync.Mutex
	ok     map[string]bool // sids answered 2xx
	non2xx atomic.Int64
}

// send posts body from phone until the gateway answers 2xx, retrying the
// same MessageSid (as a provider's retry would) after a 503. It returns the
// reply's messages.
func (w *webhookClient) send(ctx context.Context, from, body string) ([]string, error) {
	sid := fmt.Sprintf("SM%032x", w.seq.Add(1))
	form := url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {"AC" + strings.Repeat("0", 32)},
		"From": {from}, "To": {faultBizNumber}, "Body": {body}, "NumMedia": {"0"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
	}
	sig := twilio.Sign(faultTwilio, faultPublicURL+"/v1/webhooks/twilio/sms", form)
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil || attempt > 2000 {
			return nil, fmt.Errorf("message %s never answered 2xx", sid)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url+"/v1/webhooks/twilio/sms", strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, sig)
		resp, err := w.client.Do(req)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode/100 != 2 {
			w.non2xx.Add(1)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		w.mu.Lock()
		w.ok[sid] = true
		w.mu.Unlock()
		var doc struct {
			Messages []string `xml:"Message"`
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("message %s: reply %q: %v", sid, b, err)
		}
		return doc.Messages, nil
	}
}

// newTestGateway writes the configuration for srv, and serves the gateway
// it configures over real HTTP.
func newTestGateway(tb testing.TB, srv *redistest.Server) (string, *config.Config, *store.Store, *webhookClient) {
	tb.Helper()
	cfgPath := writeFaultConfig(tb, srv.URL(), tb.TempDir(), false)
	cfg, err := config.Load(cfgPath, func(string) string { return "" })
	if err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Options{URL: cfg.RedisURL, MasterKey: cfg.MasterKey, Shards: cfg.Shards})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	gw, err := gateway.New(gateway.Options{
		PublicURL: cfg.PublicURL, TwilioAuthToken: cfg.Provider(twilio.Name).(*twilio.Settings).AuthToken, AdminToken: cfg.AdminToken,
		Numbers: cfg.Numbers(), Store: st, HTTP: gateway.HTTPOptions{RequestTimeout: 3 * time.Second},
	})
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(gw.Handler())
	tb.Cleanup(hs.Close)
	return cfgPath, cfg, st, &webhookClient{url: hs.URL, client: hs.Client(), ok: map[string]bool{}}
}

// TestAuditSurvivesFaults drives 10,000 transitions through the Twilio
// webhook while the archiver, a separate process running `optin-gateway
// archive`, is SIGKILLed again and again (a standby process takes over
// each time) and Redis is killed and restarted.
// Every message answered 2xx must end up in the audit log exactly once, and
// `optin-gateway audit verify` must pass.
func TestAuditSurvivesFaults(t *testing.T) {
	const (
		workers        = 8
		subscribers    = 200
		perSubscriber  = 50 // JOIN, code, STOP, … : one transition each
		archiverKills  = 6
		redisRestarts  = 2
		totalWebhooks  = subscribers * perSubscriber
		faultsInterval = totalWebhooks / (archiverKills + redisRestarts + 1)
	)
	srv := redistest.Start(t)
	cfgPath, cfg, st, wc := newTestGateway(t, srv)
	ctx := context.Background()

	// Two archiver processes at all times: the one holding the lease and a
	// standby waiting for it.
	logDir := t.TempDir()
	var children []*child
	startArchiver := func() *child {
		c := startChild(t, filepath.Join(logDir, fmt.Sprintf("archiver-%d.log", len(children)+1)), "archive", "--config", cfgPath)
		children = append(children, c)
		return c
	}
	defer func() {
		if t.Failed() {
			for _, c := range children {
				b, _ := os.ReadFile(c.log)
				t.Logf("%s:\n%s", filepath.Base(c.log), b)
			}
		}
	}()
	// holder waits until one of the live children holds the lease and
	// returns it (each child logs the fencing token it takes).
	holder := func(not *child) *child {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			token, err := st.ArchiverLease(ctx)
			if err != nil || token == 0 {
				continue
			}
			for _, c := range children {
				if c != not && c.logged(fmt.Sprintf(`"fencing_token":%d}`, token)) {
					return c
				}
			}
		}
		t.Fatal("no archiver took the lease within a minute")
		return nil
	}
	startArchiver()
	holder(nil)
	startArchiver() // the standby: waits for the lock and the lease

	// The workers: each runs its subscribers through JOIN, code, STOP.
	phones := faultPhones(t, subscribers)
	// allowed lets the webhooks through tranche by tranche, so that every
	// fault lands in the middle of traffic, after the archiver came back.
	var sent, allowed atomic.Int64
	allowed.Store(faultsInterval)
	errc := make(chan error, workers)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start := time.Now()
	for w := range workers {
		go func() {
			errc <- func() error {
				for i := w; i < subscribers; i += workers {
					code := ""
					for m := range perSubscriber {
						for sent.Load() >= allowed.Load() && wctx.Err() == nil {
							time.Sleep(time.Millisecond)
						}
						body := [...]string{"JOIN", code, "STOP"}[m%3]
						replies, err := wc.send(wctx, phones[i], body)
						if err != nil {
							return err
						}
						if m%3 == 0 {
							if len(replies) != 1 || !strings.HasPrefix(replies[0], "Reply ") {
								return fmt.Errorf("JOIN from subscriber %d: replies %q; want a prompt", i, replies)
							}
							code = strings.Fields(replies[0])[1]
						}
						sent.Add(1)
					}
				}
				return nil
			}()
		}()
	}

	// The faults, spread over the run by progress, not by time: each in
	// the middle of a tranche of webhooks. An archiver kill SIGKILLs the
	// process holding the lease, waits for the standby to take over, and
	// starts a new standby.
	kills, restarts := 0, 0
	for f := 1; kills < archiverKills || restarts < redisRestarts; f++ {
		for sent.Load() < int64(f*faultsInterval-faultsInterval/2) && wctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		if f%4 == 2 && restarts < redisRestarts {
			if restarts == 0 {
				srv.Kill(t) // a crash: only what AOF fsync'd comes back
			}
			srv.Restart(t)
			restarts++
		} else {
			dead := holder(nil)
			dead.kill()
			kills++
			holder(dead) // the standby took over
			startArchiver()
		}
		allowed.Store(int64((f + 1) * faultsInterval))
	}
	allowed.Store(totalWebhooks)
	for range workers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	webhookTime := time.Since(start)

	// Let the archiver drain the outbox, then stop them all the hard way.
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := st.OutboxLen(ctx)
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d entries (%v) a minute after the last webhook", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range children {
		c.kill()
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"audit", "verify", "--config", cfgPath}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatalf("audit verify = %v; want the log to verify", err)
	}
	if !strings.HasPrefix(out.String(), fmt.Sprintf("ok: %d records", totalWebhooks)) {
		t.Errorf("audit verify printed %q; want ok: %d records", out.String(), totalWebhooks)
	}
	perSid := map[string]int{}
	sum, err := store.WalkLog(cfg.Audit.Dir, func(rec optin.AuditRecord) error {
		perSid[rec.Event.Cause.MessageID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	missing, doubled := 0, 0
	for sid := range wc.ok {
		switch perSid[sid] {
		case 0:
			missing++
		case 1:
		default:
			doubled++
		}
	}
	if missing > 0 || doubled > 0 || len(wc.ok) != totalWebhooks || sum.Records != totalWebhooks {
		t.Errorf("of %d webhooks answered 2xx, %d have no record and %d more than one; the log holds %d records; want %d, each once",
			len(wc.ok), missing, doubled, sum.Records, totalWebhooks)
	}
	segs, _ := filepath.Glob(filepath.Join(cfg.Audit.Dir, "seg-*.log"))
	torn, leases := 0, 0
	for _, c := range children {
		b, _ := os.ReadFile(c.log)
		torn += bytes.Count(b, []byte("torn last record"))
		leases += bytes.Count(b, []byte("archiver lease taken"))
	}
	report := fmt.Sprintf("fault test: %d webhooks answered 2xx in %v (%d non-2xx answers retried), %d SIGKILLs of the archiver holding the lease (%d torn records repaired), %d lease takeovers, %d Redis restarts; "+
		"log: %d records in %d segments, %d missing, %d duplicated; %s",
		len(wc.ok), webhookTime.Round(time.Millisecond), wc.non2xx.Load(), kills, torn, leases-1, restarts, sum.Records, len(segs), missing, doubled, strings.TrimSpace(out.String()))
	t.Log(report)
	fmt.Println(report)
}
