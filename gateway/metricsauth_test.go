package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
)

// TestMetricsNeedToken: /metrics on the public listener (the one the SMS
// providers reach) takes the operator's token or a metrics token; none
// gets 401, a tenant's admin token 403. Only the operator hands out
// metrics tokens, and a metrics token opens nothing else.
func TestMetricsNeedToken(t *testing.T) {
	h := newAdminHarness(t)
	_, tenantAdmin := h.token("demo", optin.RoleAdmin)
	_, metrics := h.token("demo", optin.RoleMetrics)
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a wrong token", "not-a-token-0123456789", http.StatusUnauthorized},
		{"a tenant's admin token", tenantAdmin, http.StatusForbidden},
		{"the operator's token", adminToken, http.StatusOK},
		{"a metrics token", metrics, http.StatusOK},
	} {
		r := h.get("/metrics", tc.token)
		if r.status != tc.want {
			t.Errorf("GET /metrics with %s: %d; want %d", tc.name, r.status, tc.want)
		}
		if got := strings.Contains(r.body, "optin_security_events_total"); got != (tc.want == http.StatusOK) {
			t.Errorf("GET /metrics with %s: metrics in the body %v; want %v", tc.name, got, tc.want == http.StatusOK)
		}
	}
	// A tenant's admin may not create a metrics token; the operator may.
	r := h.call(http.MethodPost, "/v1/tenants/demo/tokens", tenantAdmin, `{"role":"metrics","name":"scraper"}`)
	if r.status != http.StatusForbidden {
		t.Errorf("POST tokens role metrics as the tenant's admin: %d %s; want 403", r.status, r.body)
	}
	// A metrics token reads nothing of the admin API.
	if r := h.get("/v1/tenants/demo", metrics); r.status != http.StatusForbidden {
		t.Errorf("GET /v1/tenants/demo with a metrics token: %d; want 403", r.status)
	}
}

// TestMetricsOnAdminListener: with an admin listener, /metrics is served
// there without a token and not at all on the public listener (404, even
// with the operator's token); the health checks answer on both.
func TestMetricsOnAdminListener(t *testing.T) {
	h := newHarnessWith(t, func(o *gateway.Options) { o.HTTP.AdminAddr = "127.0.0.1:0" })
	if r := h.get("/metrics", adminToken); r.status != http.StatusNotFound {
		t.Errorf("public GET /metrics with the operator's token: %d; want 404", r.status)
	}
	admin := httptest.NewServer(h.srv.AdminHandler())
	t.Cleanup(admin.Close)
	for path, want := range map[string]string{"/metrics": "optin_security_events_total", "/healthz": "ok", "/readyz": "ready"} {
		resp, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Errorf("admin GET %s without a token: %d; want 200 with %q", path, resp.StatusCode, want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := h.get(path, ""); r.status != http.StatusOK {
			t.Errorf("public GET %s: %d; want 200", path, r.status)
		}
	}
}
