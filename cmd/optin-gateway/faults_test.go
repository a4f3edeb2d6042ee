//go:build linux

package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// Values of config/example.yaml, which the fault tests serve.
const (
	exampleNumber = "+12025550100"
	exampleToken  = "devtwiliotoken0000000000000000000"
	exampleAdmin  = "dev-admin-token-change-me"
	webhookPath   = "/v1/webhooks/twilio/sms"
)

// buildGateway builds the real binary with go build into a temporary
// directory and returns its path.
func buildGateway(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "optin-gateway")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// gatewayProc is one run of the binary's serve.
type gatewayProc struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
	err  error // Wait's result, set before done closes
}

// deployment is what stays the same across restarts of the gateway: its
// binary, address, data directory and environment.
type deployment struct {
	tb   testing.TB
	bin  string
	addr string
	env  []string
}

func newDeployment(tb testing.TB, redisURL string) *deployment {
	tb.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	addr := freeAddr(tb)
	return &deployment{
		tb:   tb,
		bin:  buildGateway(tb),
		addr: addr,
		env: []string{
			"OPTIN_ADDR=" + addr,
			"OPTIN_PUBLIC_URL=http://" + addr,
			"OPTIN_REDIS_URL=" + redisURL,
			"OPTIN_DATA_DIR=" + tb.TempDir(),
			"OPTIN_MASTER_KEY=" + base64.StdEncoding.EncodeToString(key),
			"OPTIN_LOG_FORMAT=json",
			"PATH=" + os.Getenv("PATH"),
		},
	}
}

func (d *deployment) base() string { return "http://" + d.addr }

// start runs serve and waits until /readyz answers 200. The process is
// killed at the end of the test if it still runs.
func (d *deployment) start(extraEnv ...string) *gatewayProc {
	d.tb.Helper()
	cmd := exec.Command(d.bin, "serve", "--config", exampleConfig)
	cmd.Env = append(append([]string(nil), d.env...), extraEnv...)
	p := &gatewayProc{cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		d.tb.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	d.tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-p.done:
			d.tb.Fatalf("serve exited before it was ready: %v\n%s", p.err, p.logs)
		default:
		}
		resp, err := http.Get(d.base() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			d.tb.Fatalf("serve not ready after 20 s:\n%s", p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig and waits up to 30 s for the process to exit.
func (p *gatewayProc) signal(tb testing.TB, sig syscall.Signal) error {
	tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(30 * time.Second):
		tb.Fatalf("serve still running 30 s after %v", sig)
		return nil
	}
}

// sms is one webhook as Twilio posts it, with its answer.
type sms struct {
	form   url.Values
	status int // 0: no answer (connection refused or cut)
	body   string
	err    error
}

func newSMS(from, text string) *sms {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	sid := "SM" + hex.EncodeToString(b)
	return &sms{form: url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {"AC" + strings.Repeat("0", 32)},
		"From": {from}, "To": {exampleNumber}, "Body": {text}, "NumMedia": {"0"}, "ApiVersion": {"2010-04-01"},
	}}
}

// post sends m, signed, and records the answer (a retry overwrites it).
func (d *deployment) post(m *sms) {
	req, err := http.NewRequest(http.MethodPost, d.base()+webhookPath, strings.NewReader(m.form.Encode()))
	if err != nil {
		d.tb.Error(err)
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(exampleToken, d.base()+webhookPath, m.form))
	m.status, m.body, m.err = 0, "", nil
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.err = err
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		m.err = err
		return
	}
	m.status, m.body = resp.StatusCode, string(b)
}

// state returns the deals state of phone through the admin API.
func (d *deployment) state(phone string) string {
	d.tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, d.base()+"/v1/tenants/demo/subscribers/"+url.PathEscape(phone), nil)
	req.Header.Set("Authorization", "Bearer "+exampleAdmin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.tb.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Campaigns []struct{ State string } `json:"campaigns"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || len(v.Campaigns) == 0 {
		d.tb.Fatalf("subscriber %s: %d %v", phone, resp.StatusCode, err)
	}
	return v.Campaigns[0].State
}

// testPhone is the i-th of 600 test numbers, +1 NPA 555 01XX.
func testPhone(i int) string {
	npas := []int{202, 212, 303, 415, 312, 617}
	return fmt.Sprintf("+1%03d55501%02d", npas[i/100%len(npas)], i%100)
}

// load posts JOIN from successive numbers with workers at a time until
// stop is closed, and returns every message sent.
func (d *deployment) load(workers int, stop <-chan struct{}, sent *atomic.Int64) []*sms {
	var (
		mu   sync.Mutex
		all  []*sms
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(next.Add(1) - 1)
				if i >= 600 {
					return
				}
				m := newSMS(testPhone(i), "JOIN")
				d.post(m)
				mu.Lock()
				all = append(all, m)
				mu.Unlock()
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	return all
}

// TestGatewayKilledUnderLoad runs the real binary on a real Redis, kills
// it with SIGKILL while webhooks are in flight and starts it again:
// every webhook answered 200 before the crash is on record, a retry of it
// gets the same answer byte for byte, and a retry of every one left
// unanswered goes through. Then a STOP that arrives while Redis is down
// is spooled and answered, the gateway is killed again, and the restarted
// gateway applies the spooled STOP once Redis is back.
func TestGatewayKilledUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	d := newDeployment(t, srv.URL())
	gw := d.start()

	stop := make(chan struct{})
	var sent atomic.Int64
	done := make(chan []*sms)
	go func() { done <- d.load(8, stop, &sent) }()
	for sent.Load() < 150 {
		time.Sleep(5 * time.Millisecond)
	}
	killedAfter := sent.Load()
	_ = gw.signal(t, syscall.SIGKILL)
	close(stop)
	msgs := <-done

	gw = d.start()
	acked, lost, unanswered := 0, 0, 0
	for _, m := range msgs {
		from := m.form.Get("From")
		if m.status == http.StatusOK {
			acked++
			first := m.body
			if s := d.state(from); s != "pending" {
				lost++
				t.Errorf("acknowledged JOIN from %s: state %q after the crash; want pending", from, s)
			}
			d.post(m)
			if m.status != http.StatusOK || m.body != first {
				t.Errorf("retry of an acknowledged JOIN: %d %q; want 200 and the first answer %q", m.status, m.body, first)
			}
			continue
		}
		if m.status != 0 {
			t.Errorf("JOIN from %s: status %d before the crash; want 200 or no answer", from, m.status)
		}
		unanswered++
		d.post(m) // Twilio's retry
		if m.status != http.StatusOK || d.state(from) != "pending" {
			t.Errorf("retry after the restart of an unanswered JOIN from %s: %d; want 200 and pending", from, m.status)
		}
	}
	t.Logf("injected: SIGKILL of the gateway once %d webhooks had been answered, 8 workers in flight; %d acknowledged before the crash, %d lost, all retries answered the same; %d unanswered, all went through on retry after the restart",
		killedAfter, acked, lost, unanswered)

	// A STOP while Redis is down is spooled; the gateway crashes before
	// Redis is back; the next gateway applies it.
	srv.Stop(t)
	stops := make([]*sms, 5)
	for i := range stops {
		stops[i] = newSMS(testPhone(i), "STOP")
		d.post(stops[i])
		if stops[i].status != http.StatusOK || !strings.Contains(stops[i].body, "unsubscribed") {
			t.Fatalf("STOP with Redis down: %d %q; want 200 with the stop confirmation", stops[i].status, stops[i].body)
		}
	}
	join := newSMS(testPhone(9), "JOIN")
	if d.post(join); join.status != http.StatusServiceUnavailable {
		t.Errorf("JOIN with Redis down: %d; want 503", join.status)
	}
	_ = gw.signal(t, syscall.SIGKILL)
	srv.Restart(t)
	start := time.Now()
	d.start()
	for i := range stops {
		for d.state(testPhone(i)) != "unsubscribed" {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("spooled STOP from %s not applied 10 s after the restart", testPhone(i))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("injected: Redis stopped, %d STOPs answered 200 and spooled, gateway SIGKILLed, Redis and gateway restarted: all %d applied %v after the gateway started",
		len(stops), len(stops), time.Since(start).Round(time.Millisecond))
}

// TestGatewaySIGTERMUnderLoad sends SIGTERM to the real binary while
// webhooks are in flight (Redis made slow by a proxy, so that they are):
// every one of them finishes with 200, serve exits 0, and every
// acknowledged message is on record.
func TestGatewaySIGTERMUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	d := newDeployment(t, proxy.URL())
	gw := d.start()
	proxy.SetDelay(100 * time.Millisecond)

	const inFlight = 20
	msgs := make([]*sms, inFlight)
	before := proxy.Chunks()
	var wg sync.WaitGroup
	for i := range msgs {
		msgs[i] = newSMS(testPhone(i), "JOIN")
		wg.Go(func() { d.post(msgs[i]) })
	}
	// Each webhook's first Redis command has reached the proxy: all are
	// inside the gateway, waiting on Redis.
	for proxy.Chunks()-before < inFlight {
		time.Sleep(5 * time.Millisecond)
	}
	signalled := time.Now()
	if err := gw.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("serve after SIGTERM exited with %v; want status 0\n%s", err, gw.logs)
	}
	exited := time.Since(signalled)
	wg.Wait()
	late := newSMS(testPhone(99), "JOIN")
	d.post(late)
	if late.err == nil || !errors.Is(late.err, syscall.ECONNREFUSED) {
		t.Errorf("webhook after shutdown: %d %v; want connection refused", late.status, late.err)
	}

	proxy.SetDelay(0)
	d.start()
	ok := 0
	for _, m := range msgs {
		if m.status != http.StatusOK {
			t.Errorf("in-flight JOIN from %s during SIGTERM: %d %v; want 200", m.form.Get("From"), m.status, m.err)
			continue
		}
		ok++
		if s := d.state(m.form.Get("From")); s != "pending" {
			t.Errorf("JOIN from %s answered 200 during shutdown: state %q; want pending", m.form.Get("From"), s)
		}
	}
	if !strings.Contains(gw.logs.String(), "shutting down") {
		t.Errorf("serve's log does not say it shut down:\n%s", gw.logs)
	}
	t.Logf("injected: SIGTERM with %d webhooks in flight (Redis 100 ms per chunk behind a proxy); %d finished 200 and are on record; serve exited 0 after %v",
		inFlight, ok, exited.Round(time.Millisecond))
}
