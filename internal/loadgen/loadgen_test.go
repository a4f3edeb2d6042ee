package loadgen_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/internal/loadgen"
	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/storetest"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.99, 0},
		{"one", ms(7), 0.5, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p99.9 of 1..100 is the max", ms(hundred...), 0.999, 100 * time.Millisecond},
		{"p100", ms(1, 5, 9), 1, 9 * time.Millisecond},
		{"tiny p is the min", ms(1, 5, 9), 0.0001, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadgen.Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v; want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestNumbersAreDistinctValidAndFictional(t *testing.T) {
	nums := loadgen.Numbers(5000)
	if len(nums) != 5000 {
		t.Fatalf("len(Numbers(5000)) = %d; want 5000", len(nums))
	}
	seen := map[string]bool{}
	for _, n := range nums {
		if seen[n] {
			t.Fatalf("%s twice", n)
		}
		seen[n] = true
		if len(n) != 12 || n[5:10] != "55501" {
			t.Fatalf("%s is not of the form +1 NPA 555 01XX", n)
		}
		if _, err := phone.Parse(n); err != nil {
			t.Fatalf("phone.Parse(%s): %v", n, err)
		}
	}
}

// TestSignedFormsVerifyWithTwilioGo checks the load generator's messages
// against twilio-go's own validator.
func TestSignedFormsVerifyWithTwilioGo(t *testing.T) {
	const token, url = "loadgentoken0123456789", "https://optin.example.com/v1/webhooks/twilio/sms"
	p := loadgen.NewPerson("+12125550123", 1)
	rv := client.NewRequestValidator(token)
	for range 20 {
		m := p.Next("+12025550100", loadgen.Odds{Retry: 0.5})
		params := map[string]string{}
		for k, v := range m.Form {
			params[k] = v[0]
		}
		if sig := twilio.Sign(token, url, m.Form); !rv.Validate(url, params, sig) {
			t.Fatalf("signature of %s message %v does not validate", m.Kind, m.Form)
		}
		p.Observe(m, 200, []byte("<Response><Message>Reply 123456 to confirm.</Message></Response>"))
	}
}

func TestCodeIn(t *testing.T) {
	tests := []struct{ body, want string }{
		{`<Response><Message>Reply 483920 to confirm ACME Deals.</Message></Response>`, "483920"},
		{`<Response><Message>Reply HELP for help</Message></Response>`, ""},
		{`<Response/>`, ""},
		{`Reply 12 to`, ""},
	}
	for _, tt := range tests {
		if got := loadgen.CodeIn([]byte(tt.body)); got != tt.want {
			t.Errorf("CodeIn(%q) = %q; want %q", tt.body, got, tt.want)
		}
	}
}

func TestParseInfo(t *testing.T) {
	info := "# Stats\r\ntotal_connections_received:12\r\ntotal_reads_processed:345\r\n# Commandstats\r\n" +
		"cmdstat_evalsha:calls=10,usec=100,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setinfo:calls=4,usec=1,usec_per_call=0.25,rejected_calls=0,failed_calls=0\r\n"
	before := loadgen.ParseInfo(info)
	if before.Reads != 345 || before.Connections != 12 || before.Calls["evalsha"] != 10 || before.Calls["client|setinfo"] != 4 {
		t.Fatalf("ParseInfo = %+v; want reads 345, connections 12, evalsha 10, client|setinfo 4", before)
	}
	after := loadgen.ParseInfo(strings.ReplaceAll(strings.ReplaceAll(info, "345", "445"), "calls=10,", "calls=60,"))
	d := after.Sub(before)
	if d.Reads != 100 || d.Calls["evalsha"] != 50 || len(d.Calls) != 1 {
		t.Fatalf("Sub = %+v; want reads 100 and only evalsha 50", d)
	}
}

func TestSumMetric(t *testing.T) {
	text := `# HELP optin_redis_duration_seconds x
optin_redis_duration_seconds_bucket{op="evalsha",le="+Inf"} 7
optin_redis_duration_seconds_count{op="evalsha"} 7
optin_redis_duration_seconds_count{op="pipeline"} 9
optin_redis_duration_seconds_count_other 100
`
	got, err := loadgen.SumMetric(strings.NewReader(text), "optin_redis_duration_seconds_count")
	if err != nil || got != 16 {
		t.Fatalf("SumMetric = %v, %v; want 16", got, err)
	}
}

func TestWriteSVGIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	err := loadgen.WriteSVG(&b, "a <title> & more", []loadgen.PlotSeries{
		{Name: "/bench/hello", Points: []loadgen.Point{{At: 0, P50: 1, P99: 3}, {At: 0.25, P50: 1.2, P99: 4}}},
		{Name: "/v1/webhooks/twilio/sms", Points: nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(&b)
	for {
		_, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return
			}
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b.String())
		}
	}
}

// TestRunDrivesFlowsThroughTheGateway runs the load generator briefly, both
// loops, against a real gateway on a real Redis, and checks that every
// kind of message was sent and answered 200.
func TestRunDrivesFlowsThroughTheGateway(t *testing.T) {
	st, _ := storetest.Open(t, store.Options{Shards: 2})
	deals := optin.Campaign{ID: "deals", Name: "ACME Deals", Keywords: []string{"JOIN"}, Version: 1,
		Prompt: "Reply {code} to confirm ACME Deals. Reply HELP for help, STOP to cancel."}.WithDefaults()
	num := &optin.Number{Tenant: "demo", E164: "+12025550100", Campaigns: []optin.Campaign{deals}}
	const token, public = "loadgentoken0123456789", "https://optin.example.com"
	g, err := gateway.New(gateway.Options{PublicURL: public, TwilioAuthToken: token, AdminToken: "loadgen-admin-token-0123",
		Numbers: map[string]*optin.Number{num.E164: num}, Store: st, HTTP: gateway.HTTPOptions{BenchRoutes: true}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(g.Handler())
	t.Cleanup(hs.Close)

	for _, tt := range []struct {
		name        string
		rate        float64
		concurrency int
	}{
		{"closed loop", 0, 4},
		{"open loop", 200, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := loadgen.Run(context.Background(), loadgen.Config{
				Target: hs.URL, PublicURL: public, Path: "/v1/webhooks/twilio/sms", AuthToken: token, To: num.E164,
				Flows: true, Odds: loadgen.Odds{WrongCode: 0.3, Help: 0.2, Retry: 0.3},
				Rate: tt.rate, Concurrency: tt.concurrency, Duration: 700 * time.Millisecond, Senders: 20, Seed: 42,
			})
			if err != nil {
				t.Fatal(err)
			}
			// The open loop drops (and counts) a request that is due when
			// every sender still waits on its last reply, as a slow
			// machine under the race detector can make it; every request
			// sent must be answered 200.
			sent := res.Requests - res.Statuses["dropped"]
			if sent <= res.Requests/2 || res.Statuses["200"] != sent {
				t.Fatalf("statuses %v of %d requests; want every one sent answered 200, and most sent", res.Statuses, res.Requests)
			}
			if d := res.Statuses["dropped"]; d > 0 {
				t.Logf("%d of %d requests dropped by the load generator (every sender busy)", d, res.Requests)
			}
			for _, k := range []string{"join", "code", "stop"} {
				if res.Kinds[k] == 0 {
					t.Errorf("no %s message among %v", k, res.Kinds)
				}
			}
			if res.P50 <= 0 || res.P99 < res.P50 || res.P999 < res.P99 || len(res.Series) == 0 {
				t.Errorf("latencies p50 %v p99 %v p99.9 %v, %d points; want 0 < p50 ≤ p99 ≤ p99.9 and a series", res.P50, res.P99, res.P999, len(res.Series))
			}
		})
	}
}

// TestOpenLoopProcs checks that Config.Procs holds GOMAXPROCS while the
// open loop sends, and that the run gives the old value back; without it
// the setting is left alone (it is process-wide: an in-process server
// shares it).
func TestOpenLoopProcs(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	for _, procs := range []int{0, 1} {
		var mu sync.Mutex
		seen := map[int]bool{} // the GOMAXPROCS values the requests saw
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[runtime.GOMAXPROCS(0)] = true
			mu.Unlock()
		}))
		res, err := loadgen.Run(context.Background(), loadgen.Config{
			Target: hs.URL, PublicURL: hs.URL, Path: "/bench/hello", To: "+12025550100",
			Rate: 200, Duration: 200 * time.Millisecond, Senders: 50, Seed: 1, Procs: procs,
		})
		hs.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := before
		if procs > 0 {
			want = procs
		}
		mu.Lock()
		if res.Statuses["200"] == 0 || len(seen) != 1 || !seen[want] {
			t.Errorf("Procs %d: requests saw GOMAXPROCS %v (statuses %v); want only %d", procs, seen, res.Statuses, want)
		}
		mu.Unlock()
		if got := runtime.GOMAXPROCS(0); got != before {
			t.Fatalf("Procs %d: GOMAXPROCS %d after the run; want %d back", procs, got, before)
		}
	}
}

func TestParseLatencyHistory(t *testing.T) {
	// LATENCY HISTORY as read joins it: time stamp and milliseconds, one a line.
	st := loadgen.ParseLatencyHistory("1796366776\n1\n1796366777\n90\n1796366778\n12\n1796366779\n3")
	if st.MaxMs != 90 || st.SecondsOver10 != 2 {
		t.Fatalf("got %+v; want max 90, 2 seconds over 10 ms", st)
	}
	if st := loadgen.ParseLatencyHistory(""); st.MaxMs != 0 || st.SecondsOver10 != 0 {
		t.Fatalf("empty history: got %+v", st)
	}
}
