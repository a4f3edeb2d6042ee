// Package twiliofake is a local fake of Twilio's Messages API for tests:
// an httptest server speaking the documented wire format of
// POST and GET /2010-04-01/Accounts/{AccountSid}/Messages.json (form
// fields To, From, Body, StatusCallback; a 201 message resource; errors as
// {"code","message","more_info","status"}), with failures injected on
// demand, recording every message it accepted.
package twiliofake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fake credentials: alphanumeric, as twilio-go requires, and generated
// for tests only.
const (
	AccountSid = "AC0123456789abcdef0123456789abcdef"
	AuthToken  = "fakeauthtoken0123456789abcdef012"
)

// Message is a message the fake accepted.
type Message struct {
	Sid, To, From, Body, StatusCallback string
	At                                  time.Time
}

// Failure is what the fake answers instead of accepting a message.
type Failure struct {
	Status int // HTTP status: 429, 500, 400 …
	Code   int // Twilio error code: 20429, 20500, 21610 …
	// Accept makes the fake accept the message and still answer the
	// failure: a send whose outcome the client cannot know.
	Accept bool
}

// Common failures.
var (
	TooManyRequests = Failure{Status: 429, Code: 20429}
	ServerError     = Failure{Status: 500, Code: 20500}
	OptedOut        = Failure{Status: 400, Code: 21610}
	InvalidTo       = Failure{Status: 400, Code: 21211}
)

var messages = map[int]string{
	20429: "Too Many Requests",
	20500: "Internal Server Error",
	21610: "Attempt to send to unsubscribed recipient",
	21211: "Invalid 'To' Phone Number",
	21614: "'To' number is not a valid mobile number",
	20003: "Authenticate",
}

// Fake is the fake API. It is safe for concurrent use.
type Fake struct {
	srv *httptest.Server

	mu       sync.Mutex
	accepted []Message
	attempts int
	fail     func(to, body string, attempt int) *Failure
	onCreate func(Message)
	lists    int
}

// Start starts a fake, closed when the test ends.
func Start(tb testing.TB) *Fake {
	tb.Helper()
	f := &Fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.srv.Close)
	return f
}

// URL returns the fake's base URL.
func (f *Fake) URL() string { return f.srv.URL }

// HTTPClient returns a client whose requests to Twilio's API go to the
// fake.
func (f *Fake) HTTPClient() *http.Client { return Client(f.srv.URL) }

// Client returns an HTTP client that sends every request to base
// instead of the host it names (api.twilio.com).
func Client(base string) *http.Client {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: rewrite{u}}
}

type rewrite struct{ base *url.URL }

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = r.base.Scheme, r.base.Host
	req.Host = r.base.Host
	return http.DefaultTransport.RoundTrip(req)
}

// FailWith sets the failure injection: fn sees each create request's To,
// Body and the 1-based count of create requests so far, and returns the
// failure to answer, or nil to accept. fn is called under the fake's
// lock, one request at a time, so it may keep state without its own.
func (f *Fake) FailWith(fn func(to, body string, attempt int) *Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fn
}

// OnCreate sets a hook called with each accepted message before the
// answer is written.
func (f *Fake) OnCreate(fn func(Message)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onCreate = fn
}

// Accepted returns the accepted messages in the order accepted.
func (f *Fake) Accepted() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.accepted...)
}

// Attempts returns the number of create requests received.
func (f *Fake) Attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

// Lists returns the number of list requests received.
func (f *Fake) Lists() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	want := "/2010-04-01/Accounts/" + AccountSid + "/Messages.json"
	if r.URL.Path != want {
		writeError(w, Failure{Status: 404, Code: 20404})
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != AccountSid || p != AuthToken {
		writeError(w, Failure{Status: 401, Code: 20003})
		return
	}
	switch r.Method {
	case http.MethodPost:
		f.create(w, r)
	case http.MethodGet:
		f.list(w, r)
	default:
		writeError(w, Failure{Status: 405, Code: 20004})
	}
}

func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, Failure{Status: 400, Code: 21601})
		return
	}
	m := Message{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), Body: r.PostForm.Get("Body"), StatusCallback: r.PostForm.Get("StatusCallback"), At: time.Now()}
	if m.To == "" || m.From == "" || m.Body == "" {
		writeError(w, Failure{Status: 400, Code: 21604})
		return
	}
	f.mu.Lock()
	f.attempts++
	var fail *Failure
	if f.fail != nil {
		fail = f.fail(m.To, m.Body, f.attempts)
	}
	if fail == nil || fail.Accept {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		m.Sid = "SM" + hex.EncodeToString(b)
		f.accepted = append(f.accepted, m)
	}
	hook := f.onCreate
	f.mu.Unlock()
	if m.Sid != "" && hook != nil {
		hook(m)
	}
	if fail != nil {
		writeError(w, *fail)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(resource(m))
}

// list answers GET Messages.json filtered by To and From, newest first,
// one page of PageSize (default 50).
func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := 50
	if n, err := fmt.Sscan(q.Get("PageSize"), &size); n != 1 || err != nil || size <= 0 {
		size = 50
	}
	f.mu.Lock()
	f.lists++
	var out []map[string]any
	for i := len(f.accepted) - 1; i >= 0 && len(out) < size; i-- {
		m := f.accepted[i]
		if (q.Get("To") == "" || q.Get("To") == m.To) && (q.Get("From") == "" || q.Get("From") == m.From) {
			out = append(out, resource(m))
		}
	}
	f.mu.Unlock()
	uri := "/2010-04-01/Accounts/" + AccountSid + "/Messages.json?" + q.Encode()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"messages": out, "end": max(len(out)-1, 0), "first_page_uri": uri, "next_page_uri": nil,
		"page": 0, "page_size": size, "previous_page_uri": nil, "start": 0, "uri": uri,
	})
}

// resource renders m as Twilio's message resource.
func resource(m Message) map[string]any {
	date := m.At.UTC().Format(time.RFC1123Z)
	uri := "/2010-04-01/Accounts/" + AccountSid + "/Messages/" + m.Sid
	return map[string]any{
		"account_sid": AccountSid, "api_version": "2010-04-01", "body": m.Body,
		"date_created": date, "date_sent": nil, "date_updated": date, "direction": "outbound-api",
		"error_code": nil, "error_message": nil, "from": m.From, "messaging_service_sid": nil,
		"num_media": "0", "num_segments": "1", "price": nil, "price_unit": "USD",
		"sid": m.Sid, "status": "queued", "to": m.To, "uri": uri + ".json",
		"subresource_uris": map[string]string{"media": uri + "/Media.json"},
	}
}

func writeError(w http.ResponseWriter, f Failure) {
	msg := messages[f.Code]
	if msg == "" {
		msg = strings.ToLower(http.StatusText(f.Status))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": f.Code, "message": msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", f.Code), "status": f.Status,
	})
}
