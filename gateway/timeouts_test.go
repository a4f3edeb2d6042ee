package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
)

// The timeouts' tests run over real TCP against ServeListener, with short
// timeouts. They assert on what the client sees (an answer, a closed
// connection), never on how fast: failSafe only keeps a broken server from
// hanging the test.
const failSafe = 10 * time.Second

// serveTCP serves h's server on a fresh loopback listener, as Serve does,
// and returns its address.
func serveTCP(tb testing.TB, h *harness) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.srv.ServeListener(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), failSafe)
		defer cancel()
		_ = h.srv.Shutdown(ctx)
		if err := <-done; err != nil {
			tb.Errorf("ServeListener: %v", err)
		}
	})
	return ln.Addr().String()
}

// dial opens a raw connection to addr with the fail-safe deadline.
func dial(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(failSafe))
	return conn
}

// closedByServer reads conn to its end and reports whether the server
// closed it (EOF or a reset) rather than the fail-safe expiring.
func closedByServer(tb testing.TB, r io.Reader) bool {
	tb.Helper()
	_, err := io.Copy(io.Discard, r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	return true // nil is EOF; a reset is closed too
}

func withTimeouts(t gateway.Timeouts) func(*gateway.Options) {
	return func(o *gateway.Options) { o.HTTP.Timeouts = t }
}

// TestBodyTimeout: a chunked POST whose body never ends is answered 408
// with a clear error, and its connection is closed, within the body
// timeout; the handler and the file descriptor are not held.
func TestBodyTimeout(t *testing.T) {
	h := newAdminHarness(t, withTimeouts(gateway.Timeouts{Body: 200 * time.Millisecond, Read: time.Minute}))
	addr := serveTCP(t, h)
	for _, path := range []string{webhookPath, "/v1/webhooks/twilio/status", "/v1/tenants/demo/campaigns/deals"} {
		t.Run(path, func(t *testing.T) {
			conn := dial(t, addr)
			method := "POST"
			if strings.HasPrefix(path, "/v1/tenants/") {
				method = "PUT"
			}
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: optin.example.com\r\nAuthorization: Bearer %s\r\n"+
				"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nFrom=%%\r\n", method, path, adminToken)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("POST %s with a body that never ends: no answer: %v", path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "request body not received in time") {
				t.Errorf("POST %s with a body that never ends: %d %s; want 408 with the body timeout's error", path, resp.StatusCode, body)
			}
			if !resp.Close {
				t.Errorf("POST %s: answer without Connection: close", path)
			}
			if !closedByServer(t, br) {
				t.Errorf("POST %s: the connection is still open after the answer", path)
			}
		})
	}
	// A body that arrives in time is served as ever.
	if r := h.sms(person, bizNumber, "HELP"); len(r) != 1 {
		t.Errorf("HELP after the timeouts: %q; want one reply", r)
	}
}

// TestIdleTimeout: a keep-alive connection that sends nothing after its
// answer is closed after the idle timeout.
func TestIdleTimeout(t *testing.T) {
	h := newHarnessWith(t, withTimeouts(gateway.Timeouts{Idle: 200 * time.Millisecond}))
	conn := dial(t, serveTCP(t, h))
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: optin.example.com\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET /healthz: %d close=%v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	if !closedByServer(t, br) {
		t.Error("an idle keep-alive connection was never closed")
	}
}

// TestSlowHeaders: a client that sends its headers a line at a time and
// never ends them (slowloris) has its connection closed after the header
// timeout.
func TestSlowHeaders(t *testing.T) {
	h := newHarnessWith(t, withTimeouts(gateway.Timeouts{ReadHeader: 200 * time.Millisecond}))
	conn := dial(t, serveTCP(t, h))
	// Half the fail-safe: the configured timeout, not a fixed 10 s one,
	// must close it.
	_ = conn.SetDeadline(time.Now().Add(failSafe / 2))
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: optin.example.com\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(conn, "X-Slow-%d: a\r\n", i); err != nil {
				return
			}
		}
	}()
	if !closedByServer(t, conn) {
		t.Error("a request whose headers never end kept its connection")
	}
}

// slowAudience is the store's audience export, pausing every few members
// as a large export on a busy Redis would.
type slowAudience struct {
	store gateway.Consent
	every int
	pause time.Duration
}

func (s slowAudience) Consent(ctx context.Context, tenant string, phones []optin.Phone) ([]optin.Standing, error) {
	return s.store.Consent(ctx, tenant, phones)
}

func (s slowAudience) Audience(ctx context.Context, tenant, campaign, after string, batch int, fn func(optin.AudienceMember) error) (optin.AudienceStats, error) {
	n := 0
	return s.store.Audience(ctx, tenant, campaign, after, batch, func(m optin.AudienceMember) error {
		if n++; n%s.every == 0 {
			time.Sleep(s.pause)
		}
		return fn(m)
	})
}

// TestExportOutlivesWriteTimeout: an audience export that streams for
// longer than the write timeout (and the read timeout) completes: each
// chunk has the write timeout anew.
func TestExportOutlivesWriteTimeout(t *testing.T) {
	const people, every, pause = 1200, 100, 60 * time.Millisecond // 12 pauses: ~0.7 s
	tiny := 150 * time.Millisecond
	h := newAdminHarness(t, withTimeouts(gateway.Timeouts{Write: tiny, Read: tiny}), func(o *gateway.Options) {
		o.Services.Consent = slowAudience{store: o.Services.Consent, every: every, pause: pause}
	})
	seedSubscribers(t, h, people)
	_, sender := h.token("demo", optin.RoleSender)
	addr := serveTCP(t, h)

	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/tenants/demo/campaigns/deals/subscribers", nil)
	req.Header.Set("Authorization", "Bearer "+sender)
	start := time.Now()
	resp, err := (&http.Client{Timeout: failSafe}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: status %d; want 200", resp.StatusCode)
	}
	members, ended := 0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l struct {
			End   bool
			Count int
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if l.End {
			ended = l.Count == people
			continue
		}
		members++
	}
	took := time.Since(start)
	if err := sc.Err(); err != nil || !ended || members != people {
		t.Fatalf("export of %d members over %v (write timeout %v): %d lines, end line %v, error %v; want all of them and the end",
			people, took.Round(time.Millisecond), tiny, members, ended, err)
	}
	if took < tiny {
		t.Logf("the export took %v, less than the write timeout %v: the test proves nothing on this machine", took, tiny)
	}
}

// seedSubscribers subscribes the first n fictional numbers to deals
// through the store (the webhook's Load, Decide and Apply).
func seedSubscribers(tb testing.TB, h *harness, n int) {
	tb.Helper()
	num := testNumbers(tb)[bizNumber]
	ctx := context.Background()
	for i, p := range fictionalNumbers(n) {
		for j, text := range []string{"JOIN", "123456"} {
			in := optin.Inbound{Provider: "twilio", MessageID: fmt.Sprintf("SM%030d%02d", i, j), Text: text}
			sub, _, err := h.store.Load(ctx, "demo", optin.Phone(p), []string{"deals", "news"}, in)
			if err == nil {
				_, _, err = h.store.Apply(ctx, sub, optin.Decide(sub, num, in, h.clock.Now(), "123456"), in, []byte("<Response/>"))
			}
			if err != nil {
				tb.Fatal(err)
			}
		}
	}
}
