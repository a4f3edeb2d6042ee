package events

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/optin-gateway/optin-gateway/internal/egress"
)

// TestDefaultClientEgress: a worker given no client delivers through the
// egress policy's: an endpoint on loopback is refused at dial time, its
// redirects are not followed, no proxy comes from the environment.
func TestDefaultClientEgress(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	t.Setenv("HTTP_PROXY", "http://proxy.example.com:3128")
	w, err := New(Options{Queue: nopQueue{}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := w.o.Client.Post(srv.URL, "application/json", nil)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("POST %s with the default client = %d; want refused", srv.URL, resp.StatusCode)
	}
	if !errors.Is(err, egress.ErrRefused) || hits.Load() != 0 {
		t.Errorf("POST %s with the default client: %v, %d requests; want ErrRefused, none", srv.URL, err, hits.Load())
	}
	if w.o.Client.CheckRedirect == nil {
		t.Error("default client follows redirects; want none followed")
	}
	if tr, ok := w.o.Client.Transport.(*http.Transport); !ok || tr.Proxy != nil {
		t.Errorf("default client's transport %T takes a proxy; want none", w.o.Client.Transport)
	}
}

// nopQueue is a Queue that New accepts; TestDefaultClientEgress never
// runs the worker.
type nopQueue struct{ Queue }
