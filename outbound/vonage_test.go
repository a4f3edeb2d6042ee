package outbound_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider/vonage"
)

// vonageFake is a local fake of Vonage's POST /sms/json: a form with
// api_key, api_secret, from, to, text; always 200 with a status per part.
type vonageFake struct {
	mu       sync.Mutex
	accepted []string
	attempts int
}

func (f *vonageFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := r.ParseForm(); err != nil || r.URL.Path != "/sms/json" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if r.PostForm.Get("api_key") != "abcd1234" || r.PostForm.Get("api_secret") != "testsecret0123" {
		fmt.Fprint(w, `{"message-count":"1","messages":[{"status":"4","error-text":"Bad Credentials"}]}`)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	switch {
	case f.attempts == 1:
		fmt.Fprint(w, `{"message-count":"1","messages":[{"status":"1","error-text":"Throughput Rate Exceeded"}]}`)
	case r.PostForm.Get("text") == "bad":
		fmt.Fprint(w, `{"message-count":"1","messages":[{"status":"3","error-text":"Invalid to param"}]}`)
	default:
		f.accepted = append(f.accepted, r.PostForm.Get("to")+"|"+r.PostForm.Get("text"))
		fmt.Fprintf(w, `{"message-count":"1","messages":[{"to":%q,"message-id":"0A00000001%06d","status":"0","remaining-balance":"3.14159265","message-price":"0.03330000","network":"12345"}]}`,
			r.PostForm.Get("to"), f.attempts)
	}
}

func TestVonageSender(t *testing.T) {
	e := newEnv(t)
	fake := &vonageFake{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	vg, err := vonage.NewSender("abcd1234", "testsecret0123", srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	sendVia(t, e, vg, 6, optin.Inbound{Provider: "vonage", MessageID: "0A0000000123ABCD1"}, "v1", "bad", "v2")
	fake.mu.Lock()
	defer fake.mu.Unlock()
	want := []string{"12125550106|v1", "12125550106|v2"}
	if fmt.Sprint(fake.accepted) != fmt.Sprint(want) {
		t.Errorf("accepted = %v; want %v (throttled once, bad refused)", fake.accepted, want)
	}
	if fake.attempts != 4 {
		t.Errorf("requests = %d; want 4", fake.attempts)
	}
	if n := e.deadLetters(t); n != 1 {
		t.Errorf("dead letters = %d; want 1 (the refused reply)", n)
	}
}
