package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/internal/egress"
	"github.com/optin-gateway/optin-gateway/internal/egress/egresstest"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
)

// TestWebhookEgressAllowList: the operator's allow-list opens its ranges
// at configuration time, and only those.
func TestWebhookEgressAllowList(t *testing.T) {
	h := newAdminHarness(t, func(o *gateway.Options) {
		o.Services.Egress = &egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	})
	h.putWebhook("crm", "https://10.1.2.3/hook")
	r := h.call(http.MethodPut, "/v1/tenants/demo/webhooks/other", adminToken, `{"url":"https://192.168.1.1/hook"}`)
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, `"field":"url"`) || !strings.Contains(r.body, "192.168.1.1 is a private address") {
		t.Errorf("PUT webhook to 192.168.1.1 with 10.0.0.0/8 allowed = %d %s; want 400, field url, the reason", r.status, r.body)
	}
}

// tlsOn starts an HTTPS test server on addr (a loopback address; its
// certificate names example.com and *.example.com) that counts requests.
func tlsOn(t *testing.T, addr string, h http.Handler) (*httptest.Server, *atomic.Int32, string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return srv, &hits, port
}

// reboundClient is the delivery client of TestEventDeliveryRebound: the
// egress policy's (127.0.0.2 allowed, for the redirecting endpoint), on
// the test's resolver, trusting the test servers' certificate.
func reboundClient(res *net.Resolver, roots *x509.CertPool) *http.Client {
	c := (&egress.Policy{Resolver: res, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}).Client()
	c.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: roots}
	return c
}

// TestEventDeliveryRebound: an endpoint configured with a public-looking
// name that resolves to loopback (DNS rebinding, through Go's resolver)
// is refused at dial time: its event never reaches the loopback server;
// the worker retries and dead-letters it, the reason naming the refused
// address. An allowed endpoint's redirect to the internal server is not
// followed (a 3xx is a failure).
func TestEventDeliveryRebound(t *testing.T) {
	h, dir := newEventsHarness(t)
	internal, internalHits, internalPort := tlsOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	_, redirHits, redirPort := tlsOn(t, "127.0.0.2", http.RedirectHandler("https://127.0.0.1:"+internalPort+"/internal", http.StatusTemporaryRedirect))
	res := egresstest.Resolver(map[string][]netip.Addr{
		"hooks.example.com":    {netip.MustParseAddr("127.0.0.1")},
		"redirect.example.com": {netip.MustParseAddr("127.0.0.2")},
	})
	h.putWebhook("crm", "https://hooks.example.com:"+internalPort+"/hook", optin.EventSubscribed)
	h.putWebhook("redir", "https://redirect.example.com:"+redirPort+"/hook", optin.EventSubscribed)

	startArchiver(t, h, store.ArchiverOptions{Dir: dir, LeaseTTL: 500 * time.Millisecond, PollInterval: 5 * time.Millisecond})
	startEventWorkerWith(t, h, 2, reboundClient(res, internal.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs))
	runFlows(t, h, 0, 1, 1) // one person subscribes: one event per endpoint

	deadline := time.Now().Add(30 * time.Second)
	reasons := map[string]string{}
	for len(reasons) < 2 {
		for _, id := range []string{"crm", "redir"} {
			r := h.call(http.MethodGet, "/v1/tenants/demo/webhooks/"+id+"/dead-letters", adminToken, "")
			var dead struct{ Items []optin.WebhookDeadLetter }
			if err := json.Unmarshal([]byte(r.body), &dead); err != nil {
				t.Fatalf("dead letters of %s: %d %s", id, r.status, r.body)
			}
			if len(dead.Items) > 0 {
				reasons[id] = dead.Items[0].Reason
			}
		}
		if n := internalHits.Load(); n != 0 {
			t.Fatalf("the loopback server behind hooks.example.com got %d requests; want none (dead letters so far: %v)", n, reasons)
		}
		if len(reasons) < 2 && time.Now().After(deadline) {
			t.Fatalf("30 s on: dead letters %v, %d requests to the internal server; want one dead letter per endpoint, none", reasons, internalHits.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("dead letters: %q", reasons)
	if want := "127.0.0.1 is a loopback address"; !strings.Contains(reasons["crm"], want) {
		t.Errorf("dead letter of crm: reason %q; want it to contain %q", reasons["crm"], want)
	}
	if reasons["redir"] != "status 307" || redirHits.Load() != 2 {
		t.Errorf("dead letter of redir: reason %q after %d requests; want status 307 after 2 (the redirect not followed)", reasons["redir"], redirHits.Load())
	}
}
