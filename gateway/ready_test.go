package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/optin-gateway/optin-gateway/gateway"
)

// TestReadyChecks: /readyz answers 503 with Retry-After, the check's name
// and its reason while a ReadyCheck fails, and 200 again once it passes.
func TestReadyChecks(t *testing.T) {
	var failing atomic.Bool
	h := newHarnessWith(t, func(o *gateway.Options) {
		o.Services.ReadyChecks = []gateway.ReadyCheck{{Name: "archive", Check: func(context.Context) error {
			if failing.Load() {
				return errors.New("cannot write: no space left on device")
			}
			return nil
		}}}
	})
	if r := h.get("/readyz", ""); r.status != http.StatusOK {
		t.Fatalf("readyz with the check passing = %d %s; want 200", r.status, r.body)
	}
	failing.Store(true)
	r := h.get("/readyz", "")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("readyz with the check failing = %d Retry-After=%q; want 503 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	for _, want := range []string{`"check":"archive"`, "no space left"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("readyz body %s; want it to hold %s", r.body, want)
		}
	}
	failing.Store(false)
	if r := h.get("/readyz", ""); r.status != http.StatusOK {
		t.Errorf("readyz after the check passes again = %d %s; want 200", r.status, r.body)
	}
}
