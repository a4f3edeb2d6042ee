package outbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/outbound"
	"github.com/optin-gateway/optin-gateway/provider/telnyx"
)

const telnyxTestKey = "KEYtelnyxtest0123456789"

// telnyxFake is a local fake of Telnyx's POST /v2/messages: a JSON
// request {"from","to","text"} with a bearer key; 200 with {"data":{"id"}}
// or an error status with {"errors":[{"code","title","detail"}]}.
type telnyxFake struct {
	mu       sync.Mutex
	accepted []struct{ To, Text string }
	attempts int
	fail     func(text string, attempt int) (status int, code string)
}

func (f *telnyxFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/v2/messages" || r.Header.Get("Authorization") != "Bearer "+telnyxTestKey {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"errors":[{"code":"10009","title":"Authentication failed","detail":"The required authentication headers were either invalid or not included in the request."}]}`)
		return
	}
	var m struct{ From, To, Text string }
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.From == "" || m.To == "" || m.Text == "" {
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"errors":[{"code":"10004","title":"Missing required parameter"}]}`)
		return
	}
	f.mu.Lock()
	f.attempts++
	status, code := 0, ""
	if f.fail != nil {
		status, code = f.fail(m.Text, f.attempts)
	}
	if status == 0 {
		f.accepted = append(f.accepted, struct{ To, Text string }{m.To, m.Text})
	}
	n := len(f.accepted)
	f.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"errors":[{"code":%q,"title":"injected","detail":"injected by the test"}]}`, code)
		return
	}
	fmt.Fprintf(w, `{"data":{"record_type":"message","direction":"outbound","id":"40385f64-5717-4562-b3fc-2c963f66%04d","type":"SMS","from":{"phone_number":%q},"to":[{"phone_number":%q,"status":"queued"}],"text":%q}}`, n, m.From, m.To, m.Text)
}

// sendVia queues texts as replies to in for the person'th subscriber and
// runs a worker with sender s until every one is sent or dead-lettered;
// it returns the subscriber's number.
func sendVia(t *testing.T, e *env, s outbound.Sender, person int, in optin.Inbound, texts ...string) optin.Phone {
	t.Helper()
	p := subscriberPhone(person)
	sub := optin.Subscriber{Tenant: tenant, ID: e.pseud.Pseudonym(tenant, p)}
	in.From, in.To = p, fastNumber
	replies := optin.RepliesFor(testNumbers(t)[fastNumber], sub, in, texts, time.Now())
	if _, _, err := e.st.ApplyQueued(context.Background(), sub, optin.Decision{}, in, []byte{}, replies); err != nil {
		t.Fatal(err)
	}
	o := fastOptions(t, e.st, e.fake.URL(), "worker-a")
	o.Senders[s.Name()] = s
	run(t, o)
	e.waitDrained(t, 30*time.Second)
	return p
}

func TestTelnyxSender(t *testing.T) {
	e := newEnv(t)
	fake := &telnyxFake{fail: func(text string, attempt int) (int, string) {
		switch {
		case text == "blocked":
			return http.StatusConflict, "40300"
		case attempt == 1:
			return http.StatusInternalServerError, "10007"
		case attempt == 2:
			return http.StatusTooManyRequests, "10011"
		}
		return 0, ""
	}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	tx, err := telnyx.NewSender(telnyxTestKey, srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	in := optin.Inbound{Provider: "telnyx", MessageID: "7ee4241c-f127-47e5-9c34-3aac291f8058"}
	p := sendVia(t, e, tx, 5, in, "t1", "t2", "blocked")

	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.accepted) != 2 || fake.accepted[0].Text != "t1" || fake.accepted[1].Text != "t2" || fake.accepted[0].To != p.E164() {
		t.Errorf("accepted = %+v; want t1 then t2 to %v", fake.accepted, p)
	}
	if fake.attempts != 5 {
		t.Errorf("requests = %d; want 5 (500, 429, t1, t2, blocked)", fake.attempts)
	}
	got, events, err := e.st.Lookup(context.Background(), tenant, p)
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Enrollment("deals").State; s != optin.StateUnsubscribed || len(events) != 1 || events[0].Cause.Signal != "40300" || events[0].Cause.Provider != "telnyx" {
		t.Errorf("after a 40300: %v, events %+v; want unsubscribed by telnyx 40300", s, events)
	}
}
