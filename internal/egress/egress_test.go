package egress_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/optin-gateway/optin-gateway/internal/egress"
	"github.com/optin-gateway/optin-gateway/internal/egress/egresstest"
)

// hostile are URLs that reach inside the network, in every spelling
// issue 19 lists and a few more; with no allow-list all are refused at
// configuration time.
var hostile = []string{
	"https://127.0.0.1/hook",
	"https://127.0.0.1:8443/hook",
	"https://127.255.255.254/",
	"https://169.254.169.254/latest/meta-data/",
	"https://10.0.0.1/",
	"https://10.255.255.255/",
	"https://172.16.0.1/",
	"https://172.31.255.255/",
	"https://192.168.1.1/",
	"https://100.64.0.1/",
	"https://100.127.255.255/",
	"https://0.0.0.0/",
	"https://0.1.2.3/",
	"https://255.255.255.255/",
	"https://224.0.0.1/",
	"https://240.0.0.1/",
	"https://192.0.0.1/",
	"https://198.18.0.1/",
	"https://192.0.2.1/",
	"https://[::1]/",
	"https://[::]/",
	"https://[fd00:ec2::254]/",
	"https://[fc00::1]/",
	"https://[fe80::1]/",
	"https://[fe80::1%25eth0]/",
	"https://[::1%25lo]/",
	"https://[fec0::1]/",
	"https://[ff02::1]/",
	"https://[::ffff:127.0.0.1]/",
	"https://[::ffff:7f00:1]/",
	"https://[::ffff:169.254.169.254]/",
	"https://[::ffff:10.0.0.1]/",
	"https://[::127.0.0.1]/",
	"https://[64:ff9b::127.0.0.1]/",
	"https://[64:ff9b::a9fe:a9fe]/",
	"https://[64:ff9b:1::a00:1]/",
	"https://[2002:7f00:1::]/",
	"https://[2002:a00:1::1]/",
	"https://[2001:db8::1]/",
	"https://[2001::1]/",
	"https://2130706433/",
	"https://0x7f000001/",
	"https://0X7F000001/",
	"https://0177.0.0.1/",
	"https://0177.0.0.01/",
	"https://127.1/",
	"https://127.0.1/",
	"https://10.1/",
	"https://0x7f.1/",
	"https://0/",
	"https://127.0.0.1./",
	"https://3232235777/", // 192.168.1.1
	"https://localhost/",
	"https://\u24dbocalhost/",           // ⓛocalhost: localhost after IDNA mapping
	"https://127\u30020\u30020\u30021/", // ideographic full stops
	"https://\uff11\uff12\uff17.0.0.1/", // fullwidth digits
	"https://LOCALHOST/",
	"https://localhost./",
	"https://api.localhost/",
	"https://localhost.localdomain/",
	"https://ip6-localhost/",
	"http://localhost:8080/",
	"http://127.0.0.1:8080/",
	"http://[::1]:8080/",
	"http://hooks.example.com/",
	"ftp://hooks.example.com/",
	"https:///nohost",
	"/relative",
}

func TestCheckURLRefused(t *testing.T) {
	var p *egress.Policy // nil: public only
	for _, u := range hostile {
		if err := p.CheckURL(u); !errors.Is(err, egress.ErrRefused) {
			t.Errorf("CheckURL(%q) = %v; want ErrRefused", u, err)
		}
	}
	if err := (&egress.Policy{}).CheckURL("https://[::ffff:127.0.0.1]/"); err == nil ||
		!strings.Contains(err.Error(), "127.0.0.1 is a loopback address") {
		t.Errorf("CheckURL(mapped loopback) = %v; want it to name 127.0.0.1 as loopback", err)
	}
}

func TestCheckURLAccepted(t *testing.T) {
	var p *egress.Policy
	for _, u := range []string{
		"https://hooks.example.com/optin",
		"https://hooks.example.com:8443/optin?x=1",
		"https://example.com./x",
		"https://1.2.3.example.com/",
		"https://crm.internal.example/", // a name: checked at dial time
		"https://8.8.8.8/",
		"https://93.184.215.14/",
		"https://172.32.0.1/",  // just past 172.16/12
		"https://100.128.0.1/", // just past 100.64/10
		"https://[2606:4700::1111]/",
		"https://[::ffff:8.8.8.8]/",
		"https://[64:ff9b::808:808]/", // NAT64 of 8.8.8.8
		"https://[2002:808:808::1]/",  // 6to4 of 8.8.8.8
	} {
		if err := p.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) = %v; want nil", u, err)
		}
	}
}

// TestCheckURLAllowList: the operator's ranges open exactly themselves;
// the localhost names and http to loopback need loopback allowed.
func TestCheckURLAllowList(t *testing.T) {
	p := &egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("fd00:ec2::/32")}}
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://10.1.2.3/hook", true},
		{"https://[::ffff:10.1.2.3]/hook", true},
		{"https://[fd00:ec2::254]/", true},
		{"http://127.0.0.1:8080/hook", true},
		{"http://localhost:8080/hook", true},
		{"https://api.localhost/", true},
		{"https://192.168.1.1/", false},
		{"https://169.254.169.254/", false},
		{"https://10.1/", false},          // a non-standard spelling, whatever it means
		{"http://10.1.2.3/hook", false},   // http only to loopback
		{"https://[fd00:ec3::1]/", false}, // outside fd00:ec2::/32
	} {
		err := p.CheckURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q) with the allow-list = %v; want ok %v", tc.url, err, tc.ok)
		}
	}
}

// TestCheckAddr: the boundaries of each range.
func TestCheckAddr(t *testing.T) {
	var p *egress.Policy
	for _, tc := range []struct {
		addr, kind string // kind "": public
	}{
		{"9.255.255.255", ""},
		{"10.0.0.0", "private"},
		{"11.0.0.0", ""},
		{"100.63.255.255", ""},
		{"100.64.0.0", "shared (CGNAT)"},
		{"169.254.169.254", "link-local"},
		{"172.15.255.255", ""},
		{"172.16.0.0", "private"},
		{"172.31.255.255", "private"},
		{"192.167.255.255", ""},
		{"192.168.0.0", "private"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"223.255.255.255", ""},
		{"224.0.0.0", "multicast"},
		{"255.255.255.255", "reserved (or broadcast)"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1%eth0", "link-local"},
		{"fd00:ec2::254", "unique-local (ULA)"},
		{"ff05::2", "multicast"},
		{"::ffff:192.168.0.1", "private"},
		{"64:ff9b::c0a8:1", "NAT64-embedded private"},
		{"2002:c0a8:1::", "6to4-embedded private"},
		{"2001:4860:4860::8888", ""},
		{"1::", "reserved"},
	} {
		err := p.CheckAddr(netip.MustParseAddr(tc.addr))
		var r *egress.Refusal
		got := ""
		if errors.As(err, &r) {
			got = r.Kind
		} else if err != nil {
			t.Errorf("CheckAddr(%s) = %v; want a *Refusal or nil", tc.addr, err)
		}
		if got != tc.kind {
			t.Errorf("CheckAddr(%s).Kind = %q; want %q", tc.addr, got, tc.kind)
		}
	}
}

// loopbackServer serves 200 "ok" on 127.0.0.1 and counts its requests.
func loopbackServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestDialRebound: a public-looking name that resolves to 127.0.0.1 (a
// rebound DNS name, through Go's own resolver) is refused when dialed,
// before any connection is made; with 127.0.0.0/8 allowed it is
// delivered. No real DNS.
func TestDialRebound(t *testing.T) {
	srv, hits := loopbackServer(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	res := egresstest.Resolver(map[string][]netip.Addr{"hooks.example.com": {netip.MustParseAddr("127.0.0.1")}})
	target := "http://hooks.example.com:" + port + "/hook"

	refused := (&egress.Policy{Resolver: res}).Client()
	resp, err := refused.Post(target, "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("POST %s without an allow-list = %d; want a refused dial", target, resp.StatusCode)
	}
	var r *egress.Refusal
	if !errors.As(err, &r) || r.Addr != netip.MustParseAddr("127.0.0.1") || r.Kind != "loopback" {
		t.Errorf("POST %s without an allow-list: %v; want a *Refusal of 127.0.0.1, loopback", target, err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests; want none", n)
	}

	allowed := (&egress.Policy{Resolver: res, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}).Client()
	resp, err = allowed.Post(target, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("POST %s with 127.0.0.0/8 allowed: %v; want delivered", target, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || hits.Load() != 1 {
		t.Errorf("POST with 127.0.0.0/8 allowed = %d, %d requests; want 200, 1", resp.StatusCode, hits.Load())
	}
}

// TestDialIPLiteral: the Control hook also holds for a URL that never
// went through CheckURL, IPv4 and IPv6.
func TestDialIPLiteral(t *testing.T) {
	srv, hits := loopbackServer(t)
	c := (*egress.Policy)(nil).Client()
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "[::ffff:127.0.0.1]", 1)} {
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s = %d; want refused", u, resp.StatusCode)
		} else if !errors.Is(err, egress.ErrRefused) {
			t.Errorf("GET %s: %v; want ErrRefused", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests; want none", n)
	}
}

// TestNoRedirect: a 3xx is the answer; its target, an internal address,
// is never asked, even when the first hop is allowed.
func TestNoRedirect(t *testing.T) {
	internal, hits := loopbackServer(t)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.2: %v", err)
	}
	first := httptest.NewUnstartedServer(http.RedirectHandler(internal.URL+"/admin", http.StatusTemporaryRedirect))
	first.Listener.Close()
	first.Listener = ln
	first.Start()
	t.Cleanup(first.Close)

	c := (&egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}).Client()
	resp, err := c.Post(first.URL+"/hook", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("POST to the allowed first hop: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || hits.Load() != 0 {
		t.Errorf("POST = %d, %d requests to the redirect's target; want 307, none", resp.StatusCode, hits.Load())
	}
}

// TestNoProxy: HTTPS_PROXY and HTTP_PROXY from the environment are not
// used (a proxy would dial the target unchecked).
func TestNoProxy(t *testing.T) {
	tr := (&egress.Policy{}).Transport()
	if tr.Proxy != nil {
		u, _ := tr.Proxy(&http.Request{URL: &url.URL{Scheme: "https", Host: "hooks.example.com"}})
		t.Errorf("Transport().Proxy is set (%v); want none", u)
	}
}

func ExamplePolicy_CheckURL() {
	p := &egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	for _, u := range []string{"https://hooks.example.com/optin", "https://10.1.2.3/hook", "https://0x7f000001/", "https://[::ffff:169.254.169.254]/"} {
		fmt.Println(u, p.CheckURL(u))
	}
	// Output:
	// https://hooks.example.com/optin <nil>
	// https://10.1.2.3/hook <nil>
	// https://0x7f000001/ must write an IP address in dotted decimal (IPv4) or in brackets (IPv6): "0x7f000001" reads as an address in another form
	// https://[::ffff:169.254.169.254]/ must reach a public address (or one the operator allows): 169.254.169.254 is a link-local address, not a public one
}
